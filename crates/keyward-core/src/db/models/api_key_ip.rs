//! The allow-list columns of `api_keys`: writing a key's list, and claiming the right to
//! audit a refusal (at most once a minute per key, agreed by every instance).

use crate::db::models::ApiKey;
use crate::db::schema::api_keys;
use crate::db::DbConnection;
use diesel::prelude::*;
use time::PrimitiveDateTime;

impl ApiKey {
    pub fn set_allowed_ips(
        conn: &mut DbConnection,
        id: &str,
        allowed_ips: Option<&str>,
    ) -> QueryResult<usize> {
        diesel::update(api_keys::table.find(id))
            .set(api_keys::allowed_ips.eq(allowed_ips))
            .execute(conn)
    }

    /// `true` for the one caller a minute that should write the refusal's audit event.
    pub fn claim_ip_refusal_audit(
        conn: &mut DbConnection,
        id: &str,
        now: PrimitiveDateTime,
    ) -> QueryResult<bool> {
        let stale_before = now - time::Duration::minutes(1);
        diesel::update(
            api_keys::table.find(id).filter(
                api_keys::ip_refusal_audited_at
                    .is_null()
                    .or(api_keys::ip_refusal_audited_at.le(stale_before)),
            ),
        )
        .set(api_keys::ip_refusal_audited_at.eq(now))
        .execute(conn)
        .map(|n| n == 1)
    }
}
