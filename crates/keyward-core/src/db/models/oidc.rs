//! Single sign-on rows (see `services::oidc`): sign-ins in progress, linked identities,
//! links waiting for a password, and addresses Keyward verified.

use crate::db::schema::{
    memberships, oidc_flows, oidc_identities, oidc_link_removals, oidc_pending_links,
    tenant_sso_requirements, tenants, verified_emails,
};
use crate::db::DbConnection;
use diesel::prelude::*;
use time::PrimitiveDateTime;

/// A sign-in in progress. Its `state`, `nonce` and verifier are one-use values that are
/// worthless without the browser's cookie, whose digest is the key.
#[derive(Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = oidc_flows)]
pub struct OidcFlow {
    pub cookie_digest: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub next_path: String,
    pub created_at: PrimitiveDateTime,
    pub expires_at: PrimitiveDateTime,
    /// The address group that started it (`domain::address_group`).
    pub client_group: String,
}

impl std::fmt::Debug for OidcFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcFlow")
            .field("next_path", &self.next_path)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl OidcFlow {
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(oidc_flows::table)
            .values(self)
            .execute(conn)
            .map(drop)
    }

    /// Reads and deletes the flow: `Some` for the one request that wins it.
    pub fn take(conn: &mut DbConnection, cookie_digest: &str) -> QueryResult<Option<Self>> {
        let found = oidc_flows::table
            .find(cookie_digest)
            .select(Self::as_select())
            .first(conn)
            .optional()?;
        let Some(flow) = found else { return Ok(None) };
        let taken = diesel::delete(oidc_flows::table.find(cookie_digest)).execute(conn)?;
        Ok((taken == 1).then_some(flow))
    }

    pub fn sweep(conn: &mut DbConnection, now: PrimitiveDateTime) -> QueryResult<usize> {
        diesel::delete(oidc_flows::table.filter(oidc_flows::expires_at.le(now))).execute(conn)
    }

    pub fn count(conn: &mut DbConnection) -> QueryResult<i64> {
        oidc_flows::table.count().get_result(conn)
    }

    /// Deletes the `n` oldest flows of the address group with the most flows (of equal
    /// groups, the one whose oldest flow is oldest): who started the most sign-ins gives
    /// up the oldest of them. The number deleted.
    pub fn evict_from_largest_group(conn: &mut DbConnection, n: i64) -> QueryResult<usize> {
        use diesel::dsl::{count_star, min};
        let largest: Option<(String, i64)> = oidc_flows::table
            .group_by(oidc_flows::client_group)
            .select((oidc_flows::client_group, count_star()))
            .order((count_star().desc(), min(oidc_flows::created_at).asc()))
            .first(conn)
            .optional()?;
        let Some((group, _)) = largest else {
            return Ok(0);
        };
        let oldest: Vec<String> = oidc_flows::table
            .filter(oidc_flows::client_group.eq(&group))
            .order((
                oidc_flows::created_at.asc(),
                oidc_flows::cookie_digest.asc(),
            ))
            .select(oidc_flows::cookie_digest)
            .limit(n)
            .load(conn)?;
        diesel::delete(oidc_flows::table.filter(oidc_flows::cookie_digest.eq_any(&oldest)))
            .execute(conn)
    }

    /// Sign-ins in progress started from one address group.
    pub fn count_from(
        conn: &mut DbConnection,
        client_group: &str,
        now: PrimitiveDateTime,
    ) -> QueryResult<i64> {
        oidc_flows::table
            .filter(oidc_flows::client_group.eq(client_group))
            .filter(oidc_flows::expires_at.gt(now))
            .count()
            .get_result(conn)
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = oidc_identities)]
pub struct OidcIdentity {
    pub issuer: String,
    pub subject: String,
    pub account_id: String,
    pub created_at: PrimitiveDateTime,
    pub last_sign_in_at: PrimitiveDateTime,
}

impl OidcIdentity {
    pub fn find(conn: &mut DbConnection, issuer: &str, subject: &str) -> QueryResult<Option<Self>> {
        oidc_identities::table
            .find((issuer, subject))
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(oidc_identities::table)
            .values(self)
            .execute(conn)
            .map(drop)
    }

    pub fn touch(
        conn: &mut DbConnection,
        issuer: &str,
        subject: &str,
        now: PrimitiveDateTime,
    ) -> QueryResult<usize> {
        diesel::update(oidc_identities::table.find((issuer, subject)))
            .set(oidc_identities::last_sign_in_at.eq(now))
            .execute(conn)
    }

    /// Unlinks every identity of the account (its password was reset through a mailed link:
    /// whoever linked with a leaked password loses the link).
    /// The latest sign-in through any link of the account.
    pub fn last_sign_in_of_account(
        conn: &mut DbConnection,
        account_id: &str,
    ) -> QueryResult<Option<PrimitiveDateTime>> {
        oidc_identities::table
            .filter(oidc_identities::account_id.eq(account_id))
            .select(diesel::dsl::max(oidc_identities::last_sign_in_at))
            .first(conn)
    }

    pub fn delete_of_account(conn: &mut DbConnection, account_id: &str) -> QueryResult<usize> {
        diesel::delete(oidc_identities::table.filter(oidc_identities::account_id.eq(account_id)))
            .execute(conn)
    }

    /// The account's linked identities, oldest first (one per provider: a handful).
    pub fn of_account(conn: &mut DbConnection, account_id: &str) -> QueryResult<Vec<Self>> {
        oidc_identities::table
            .filter(oidc_identities::account_id.eq(account_id))
            .order((
                oidc_identities::created_at.asc(),
                oidc_identities::issuer.asc(),
            ))
            .select(Self::as_select())
            .limit(100)
            .load(conn)
    }

    /// Unlinks one identity of the account: `true` when it was there.
    pub fn delete_one(
        conn: &mut DbConnection,
        account_id: &str,
        issuer: &str,
        subject: &str,
    ) -> QueryResult<bool> {
        diesel::delete(
            oidc_identities::table
                .find((issuer, subject))
                .filter(oidc_identities::account_id.eq(account_id)),
        )
        .execute(conn)
        .map(|n| n == 1)
    }

    /// Whether the account is linked to an identity at `issuer`.
    pub fn linked(conn: &mut DbConnection, issuer: &str, account_id: &str) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(
            oidc_identities::table
                .filter(oidc_identities::issuer.eq(issuer))
                .filter(oidc_identities::account_id.eq(account_id)),
        ))
        .get_result(conn)
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = oidc_pending_links)]
pub struct OidcPendingLink {
    pub cookie_digest: String,
    pub issuer: String,
    pub subject: String,
    pub account_id: String,
    pub next_path: String,
    pub expires_at: PrimitiveDateTime,
}

impl OidcPendingLink {
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(oidc_pending_links::table)
            .values(self)
            .execute(conn)
            .map(drop)
    }

    pub fn find(conn: &mut DbConnection, cookie_digest: &str) -> QueryResult<Option<Self>> {
        oidc_pending_links::table
            .find(cookie_digest)
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// 1 for the one request that uses the link up.
    pub fn take(conn: &mut DbConnection, cookie_digest: &str) -> QueryResult<usize> {
        diesel::delete(oidc_pending_links::table.find(cookie_digest)).execute(conn)
    }

    pub fn sweep(conn: &mut DbConnection, now: PrimitiveDateTime) -> QueryResult<usize> {
        diesel::delete(oidc_pending_links::table.filter(oidc_pending_links::expires_at.le(now)))
            .execute(conn)
    }
}

/// The address Keyward verified for an account (`None`: none, or not the current one).
pub fn verified_email(conn: &mut DbConnection, account_id: &str) -> QueryResult<Option<String>> {
    verified_emails::table
        .find(account_id)
        .select(verified_emails::email)
        .first(conn)
        .optional()
}

/// Records that the account's owner received mail at `email`.
pub fn set_verified_email(
    conn: &mut DbConnection,
    account_id: &str,
    email: &str,
    now: PrimitiveDateTime,
) -> QueryResult<()> {
    diesel::delete(verified_emails::table.find(account_id)).execute(conn)?;
    diesel::insert_into(verified_emails::table)
        .values((
            verified_emails::account_id.eq(account_id),
            verified_emails::email.eq(email),
            verified_emails::verified_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

/// Records that a link of the account was removed (the latest time only): from then on an
/// identity links to it only with its password, never by a verified email alone. One
/// upsert, so two removals at once cannot both insert (a delete then an insert let the
/// second fail on the primary key; the MultiConnection has no upsert, so per backend).
///
/// The time kept is the latest of `now`, the removal already recorded and the last sign-in
/// of any link the account had when the removal began (`links_last_used`, read before the
/// links are deleted): a sign-in through a link whose callback committed while this
/// removal waited for its lock has a later time than the removal's `now`, and its
/// session must still count as signed in before the removal (`services::oidc`).
pub fn record_link_removal(
    conn: &mut DbConnection,
    account_id: &str,
    now: PrimitiveDateTime,
    links_last_used: Option<PrimitiveDateTime>,
) -> QueryResult<()> {
    let recorded = link_removed_at(conn, account_id)?;
    let at = [Some(now), recorded, links_last_used]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(now);
    let row = (
        oidc_link_removals::account_id.eq(account_id),
        oidc_link_removals::removed_at.eq(at),
    );
    let query = diesel::insert_into(oidc_link_removals::table)
        .values(row)
        .on_conflict(oidc_link_removals::account_id)
        .do_update()
        .set(oidc_link_removals::removed_at.eq(at));
    match conn {
        DbConnection::Postgres(c) => query.execute(c),
        DbConnection::Sqlite(c) => query.execute(c),
    }
    .map(drop)
}

/// When a link of the account was last removed, if ever.
pub fn link_removed_at(
    conn: &mut DbConnection,
    account_id: &str,
) -> QueryResult<Option<PrimitiveDateTime>> {
    oidc_link_removals::table
        .find(account_id)
        .select(oidc_link_removals::removed_at)
        .first(conn)
        .optional()
}

/// Whether a link of the account was ever removed.
pub fn link_was_removed(conn: &mut DbConnection, account_id: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        oidc_link_removals::table.find(account_id),
    ))
    .get_result(conn)
}

/// Tenants that require single sign-on of their members (a row: required).
pub struct TenantSsoRequirement;

impl TenantSsoRequirement {
    pub fn is_required(conn: &mut DbConnection, tenant_id: &str) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(
            tenant_sso_requirements::table.find(tenant_id),
        ))
        .get_result(conn)
    }

    /// The ids of the tenants the account is a member of that require single sign-on
    /// (a person's memberships: a bounded handful).
    pub fn required_of_member(
        conn: &mut DbConnection,
        account_id: &str,
    ) -> QueryResult<Vec<String>> {
        memberships::table
            .filter(memberships::account_id.eq(account_id))
            .filter(
                memberships::tenant_id.eq_any(
                    tenant_sso_requirements::table.select(tenant_sso_requirements::tenant_id),
                ),
            )
            .select(memberships::tenant_id)
            .limit(1000)
            .load(conn)
    }

    /// The name of the first tenant (by name) the account is a member of that requires
    /// single sign-on, when every tenant it is a member of does (and it has one).
    pub fn every_of_member(
        conn: &mut DbConnection,
        account_id: &str,
    ) -> QueryResult<Option<String>> {
        let requiring = Self::required_of_member(conn, account_id)?.len() as i64;
        if requiring == 0 {
            return Ok(None);
        }
        let all: i64 = memberships::table
            .filter(memberships::account_id.eq(account_id))
            .count()
            .get_result(conn)?;
        match requiring == all {
            true => Self::first_of_member(conn, account_id),
            false => Ok(None),
        }
    }

    /// The name of the first tenant (by name) the account is a member of that requires
    /// single sign-on, if any.
    pub fn first_of_member(
        conn: &mut DbConnection,
        account_id: &str,
    ) -> QueryResult<Option<String>> {
        memberships::table
            .inner_join(tenants::table)
            .filter(memberships::account_id.eq(account_id))
            .filter(
                memberships::tenant_id.eq_any(
                    tenant_sso_requirements::table.select(tenant_sso_requirements::tenant_id),
                ),
            )
            .order((tenants::name.asc(), tenants::slug.asc()))
            .select(tenants::name)
            .first(conn)
            .optional()
    }

    pub fn set(
        conn: &mut DbConnection,
        tenant_id: &str,
        required: bool,
        now: PrimitiveDateTime,
    ) -> QueryResult<()> {
        diesel::delete(tenant_sso_requirements::table.find(tenant_id)).execute(conn)?;
        if required {
            diesel::insert_into(tenant_sso_requirements::table)
                .values((
                    tenant_sso_requirements::tenant_id.eq(tenant_id),
                    tenant_sso_requirements::required_since.eq(now),
                ))
                .execute(conn)?;
        }
        Ok(())
    }
}
