//! Two-factor sign-in's rows: an account's sealed authenticator secret, its recovery
//! codes' digests, pending sign-ins (a password accepted, a code still to come), and the
//! tenants that require two-factor of their members. No row holds a secret in clear.

use crate::db::schema::{
    pending_sign_ins, tenant_two_factor_requirements, two_factor, two_factor_recovery_codes,
};
use crate::db::DbConnection;
use diesel::prelude::*;
use time::PrimitiveDateTime;

/// An account's authenticator secret, sealed; `enabled_at` is `None` while the enrolment
/// waits for its first code. `Debug` leaves out the sealed secret.
#[derive(Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = two_factor)]
pub struct TwoFactorRow {
    pub account_id: String,
    pub secret_sealed: String,
    pub key_version: String,
    pub last_step: i64,
    pub created_at: PrimitiveDateTime,
    pub enabled_at: Option<PrimitiveDateTime>,
    pub last_used_at: Option<PrimitiveDateTime>,
}

impl std::fmt::Debug for TwoFactorRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwoFactorRow")
            .field("account_id", &self.account_id)
            .field("key_version", &self.key_version)
            .field("enabled_at", &self.enabled_at)
            .finish_non_exhaustive()
    }
}

impl TwoFactorRow {
    /// How many accounts have two-factor on under a key version other than `versions`.
    pub fn count_enabled_not_under(conn: &mut DbConnection, versions: &[&str]) -> QueryResult<i64> {
        two_factor::table
            .filter(two_factor::enabled_at.is_not_null())
            .filter(two_factor::key_version.ne_all(versions.iter().map(|v| v.to_string())))
            .count()
            .get_result(conn)
    }

    pub fn find(conn: &mut DbConnection, account_id: &str) -> QueryResult<Option<TwoFactorRow>> {
        two_factor::table
            .find(account_id)
            .select(TwoFactorRow::as_select())
            .first(conn)
            .optional()
    }

    /// Whether the account has two-factor on (an enrolment waiting for its code is not).
    pub fn is_enabled(conn: &mut DbConnection, account_id: &str) -> QueryResult<bool> {
        Ok(Self::find(conn, account_id)?.is_some_and(|r| r.enabled_at.is_some()))
    }

    /// Replaces the account's row (an enrolment started again).
    pub fn replace(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::delete(two_factor::table.find(&self.account_id)).execute(conn)?;
        diesel::insert_into(two_factor::table)
            .values(self)
            .execute(conn)
            .map(drop)
    }

    /// Turns a pending enrolment on, accepting `step`; false when it is not pending.
    pub fn enable(
        conn: &mut DbConnection,
        account_id: &str,
        step: i64,
        now: PrimitiveDateTime,
    ) -> QueryResult<bool> {
        diesel::update(
            two_factor::table
                .find(account_id)
                .filter(two_factor::enabled_at.is_null()),
        )
        .set((
            two_factor::enabled_at.eq(now),
            two_factor::last_step.eq(step),
            two_factor::last_used_at.eq(now),
        ))
        .execute(conn)
        .map(|n| n == 1)
    }

    /// Locks an enabled account's row for the rest of the transaction (PostgreSQL takes a
    /// row lock for an UPDATE, even to the same value; SQLite's write lock covers all):
    /// racing changes of its recovery codes then go one after the other. False when
    /// two-factor is off.
    pub fn lock_enabled(conn: &mut DbConnection, account_id: &str) -> QueryResult<bool> {
        diesel::update(
            two_factor::table
                .find(account_id)
                .filter(two_factor::enabled_at.is_not_null()),
        )
        .set(two_factor::last_step.eq(two_factor::last_step))
        .execute(conn)
        .map(|n| n == 1)
    }

    /// Accepts `step` for an enabled account only if it is later than the last accepted
    /// one, in one statement (RFC 6238 §5.2): false for a replayed or older code.
    pub fn accept_step(
        conn: &mut DbConnection,
        account_id: &str,
        step: i64,
        now: PrimitiveDateTime,
    ) -> QueryResult<bool> {
        diesel::update(
            two_factor::table
                .find(account_id)
                .filter(two_factor::enabled_at.is_not_null())
                .filter(two_factor::last_step.lt(step)),
        )
        .set((
            two_factor::last_step.eq(step),
            two_factor::last_used_at.eq(now),
        ))
        .execute(conn)
        .map(|n| n == 1)
    }

    pub fn delete(conn: &mut DbConnection, account_id: &str) -> QueryResult<usize> {
        diesel::delete(two_factor::table.find(account_id)).execute(conn)
    }

    /// Stores the secret sealed again under the key `key_version` names.
    pub fn reseal(
        conn: &mut DbConnection,
        account_id: &str,
        secret_sealed: &str,
        key_version: &str,
    ) -> QueryResult<usize> {
        diesel::update(two_factor::table.find(account_id))
            .set((
                two_factor::secret_sealed.eq(secret_sealed),
                two_factor::key_version.eq(key_version),
            ))
            .execute(conn)
    }

    /// Which of `account_ids` have two-factor on.
    pub fn enabled_among(
        conn: &mut DbConnection,
        account_ids: &[String],
    ) -> QueryResult<Vec<String>> {
        two_factor::table
            .filter(two_factor::account_id.eq_any(account_ids))
            .filter(two_factor::enabled_at.is_not_null())
            .select(two_factor::account_id)
            .load(conn)
    }
}

/// One recovery code, as its keyed digest.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = two_factor_recovery_codes)]
pub struct RecoveryCodeRow {
    pub id: String,
    pub account_id: String,
    pub code_digest: String,
    pub created_at: PrimitiveDateTime,
    pub used_at: Option<PrimitiveDateTime>,
}

impl RecoveryCodeRow {
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(two_factor_recovery_codes::table)
            .values(self)
            .execute(conn)
            .map(drop)
    }

    pub fn delete_of_account(conn: &mut DbConnection, account_id: &str) -> QueryResult<usize> {
        diesel::delete(
            two_factor_recovery_codes::table
                .filter(two_factor_recovery_codes::account_id.eq(account_id)),
        )
        .execute(conn)
    }

    /// Uses up the account's unused code with one of these digests, in one statement:
    /// true once.
    pub fn use_up(
        conn: &mut DbConnection,
        account_id: &str,
        code_digests: &[String],
        now: PrimitiveDateTime,
    ) -> QueryResult<bool> {
        diesel::update(
            two_factor_recovery_codes::table
                .filter(two_factor_recovery_codes::account_id.eq(account_id))
                .filter(two_factor_recovery_codes::code_digest.eq_any(code_digests))
                .filter(two_factor_recovery_codes::used_at.is_null()),
        )
        .set(two_factor_recovery_codes::used_at.eq(now))
        .execute(conn)
        .map(|n| n == 1)
    }

    pub fn count_unused(conn: &mut DbConnection, account_id: &str) -> QueryResult<i64> {
        two_factor_recovery_codes::table
            .filter(two_factor_recovery_codes::account_id.eq(account_id))
            .filter(two_factor_recovery_codes::used_at.is_null())
            .count()
            .get_result(conn)
    }
}

/// A password accepted, a code still to come. `Debug` leaves out the token's digest.
#[derive(Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = pending_sign_ins)]
pub struct PendingSignInRow {
    pub id_digest: String,
    pub account_id: String,
    pub next: String,
    pub created_at: PrimitiveDateTime,
    pub expires_at: PrimitiveDateTime,
}

impl std::fmt::Debug for PendingSignInRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingSignInRow")
            .field("account_id", &self.account_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl PendingSignInRow {
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(pending_sign_ins::table)
            .values(self)
            .execute(conn)
            .map(drop)
    }

    pub fn find(conn: &mut DbConnection, id_digest: &str) -> QueryResult<Option<Self>> {
        pending_sign_ins::table
            .find(id_digest)
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    pub fn delete(conn: &mut DbConnection, id_digest: &str) -> QueryResult<usize> {
        diesel::delete(pending_sign_ins::table.find(id_digest)).execute(conn)
    }

    pub fn delete_of_account(conn: &mut DbConnection, account_id: &str) -> QueryResult<usize> {
        diesel::delete(pending_sign_ins::table.filter(pending_sign_ins::account_id.eq(account_id)))
            .execute(conn)
    }

    pub fn delete_expired(conn: &mut DbConnection, now: PrimitiveDateTime) -> QueryResult<usize> {
        diesel::delete(pending_sign_ins::table.filter(pending_sign_ins::expires_at.le(now)))
            .execute(conn)
    }

    /// The account's pending sign-ins, newest first.
    pub fn digests_of_account(
        conn: &mut DbConnection,
        account_id: &str,
    ) -> QueryResult<Vec<String>> {
        pending_sign_ins::table
            .filter(pending_sign_ins::account_id.eq(account_id))
            .order(pending_sign_ins::created_at.desc())
            .select(pending_sign_ins::id_digest)
            .load(conn)
    }
}

/// Whether a tenant requires two-factor of its members (a row: it does).
pub struct TenantTwoFactorRequirement;

impl TenantTwoFactorRequirement {
    pub fn is_required(conn: &mut DbConnection, tenant_id: &str) -> QueryResult<bool> {
        tenant_two_factor_requirements::table
            .find(tenant_id)
            .count()
            .get_result::<i64>(conn)
            .map(|n| n > 0)
    }

    /// The first of `tenant_ids` that requires two-factor, if any.
    pub fn first_requiring(
        conn: &mut DbConnection,
        tenant_ids: &[String],
    ) -> QueryResult<Option<String>> {
        tenant_two_factor_requirements::table
            .filter(tenant_two_factor_requirements::tenant_id.eq_any(tenant_ids))
            .order(tenant_two_factor_requirements::tenant_id)
            .select(tenant_two_factor_requirements::tenant_id)
            .first(conn)
            .optional()
    }

    pub fn set(
        conn: &mut DbConnection,
        tenant_id: &str,
        required: bool,
        now: PrimitiveDateTime,
    ) -> QueryResult<()> {
        diesel::delete(tenant_two_factor_requirements::table.find(tenant_id)).execute(conn)?;
        if required {
            diesel::insert_into(tenant_two_factor_requirements::table)
                .values((
                    tenant_two_factor_requirements::tenant_id.eq(tenant_id),
                    tenant_two_factor_requirements::required_since.eq(now),
                ))
                .execute(conn)?;
        }
        Ok(())
    }
}
