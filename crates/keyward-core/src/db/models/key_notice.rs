//! Rows of the key notices (`services::key_notices`): the expiry reminders sent, and the
//! notices people turned off.

use crate::db::models::ApiKey;
use crate::db::schema::{api_keys, key_reminders, notification_opt_outs};
use crate::db::DbConnection;
use diesel::prelude::*;
use time::PrimitiveDateTime;

/// A reminder sent: at most one per key and kind (the primary key).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = key_reminders)]
pub struct KeyReminder {
    pub api_key_id: String,
    pub kind: String,
    pub sent_at: PrimitiveDateTime,
}

impl KeyReminder {
    /// Inserts the row; a unique violation means another instance (or an earlier pass)
    /// sent this reminder already.
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(key_reminders::table)
            .values(self)
            .execute(conn)
            .map(drop)
    }

    pub fn exists(conn: &mut DbConnection, api_key_id: &str, kind: &str) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(
            key_reminders::table.find((api_key_id, kind)),
        ))
        .get_result(conn)
    }

    /// Keys that expire after `now` and at or before `until`, not rotated out, with no
    /// reminder of `kind` yet: the soonest first, at most `limit`.
    pub fn due(
        conn: &mut DbConnection,
        now: PrimitiveDateTime,
        until: PrimitiveDateTime,
        kind: &str,
        limit: i64,
    ) -> QueryResult<Vec<ApiKey>> {
        let reminded = key_reminders::table
            .filter(key_reminders::kind.eq(kind.to_string()))
            .select(key_reminders::api_key_id);
        api_keys::table
            .filter(api_keys::expires_at.gt(now))
            .filter(api_keys::expires_at.le(until))
            .filter(api_keys::rotated_to_key_id.is_null())
            .filter(api_keys::id.ne_all(reminded))
            .order((api_keys::expires_at.asc(), api_keys::id.asc()))
            .limit(limit)
            .select(ApiKey::as_select())
            .load(conn)
    }
}

/// A notice an account turned off for itself.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = notification_opt_outs)]
pub struct NotificationOptOut {
    pub account_id: String,
    pub kind: String,
    pub since: PrimitiveDateTime,
}

impl NotificationOptOut {
    pub fn kinds_of(conn: &mut DbConnection, account_id: &str) -> QueryResult<Vec<String>> {
        notification_opt_outs::table
            .filter(notification_opt_outs::account_id.eq(account_id))
            .select(notification_opt_outs::kind)
            .load(conn)
    }

    pub fn is_off(conn: &mut DbConnection, account_id: &str, kind: &str) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(
            notification_opt_outs::table.find((account_id, kind)),
        ))
        .get_result(conn)
    }

    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(notification_opt_outs::table)
            .values(self)
            .execute(conn)
            .map(drop)
    }

    pub fn delete(conn: &mut DbConnection, account_id: &str, kind: &str) -> QueryResult<usize> {
        diesel::delete(notification_opt_outs::table.find((account_id, kind))).execute(conn)
    }
}
