//! The clients seen using a key (user agent and address), a few per key: see
//! `services::key_clients`. They go with their key (a database cascade: they are a
//! cache of what was seen, not history).

use crate::db::schema::api_key_clients;
use crate::db::DbConnection;
use diesel::prelude::*;
use time::PrimitiveDateTime;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_key_clients)]
pub struct KeyClient {
    pub api_key_id: String,
    pub user_agent: String,
    /// Empty when the address is unknown.
    pub ip: String,
    pub first_seen_at: PrimitiveDateTime,
    pub last_seen_at: PrimitiveDateTime,
}

impl KeyClient {
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(api_key_clients::table)
            .values(self)
            .execute(conn)
            .map(drop)
    }

    /// Marks a known client seen at `now`; 0 when the key has no such client yet.
    pub fn seen(
        conn: &mut DbConnection,
        api_key_id: &str,
        user_agent: &str,
        ip: &str,
        now: PrimitiveDateTime,
    ) -> QueryResult<usize> {
        diesel::update(api_key_clients::table.find((api_key_id, user_agent, ip)))
            .set(api_key_clients::last_seen_at.eq(now))
            .execute(conn)
    }

    /// The clients of these keys, most recently seen first.
    pub fn of_keys(conn: &mut DbConnection, key_ids: &[String]) -> QueryResult<Vec<KeyClient>> {
        api_key_clients::table
            .filter(api_key_clients::api_key_id.eq_any(key_ids))
            .order((
                api_key_clients::last_seen_at.desc(),
                api_key_clients::user_agent.asc(),
            ))
            .select(KeyClient::as_select())
            .load(conn)
    }

    /// Forgets all but the `keep` most recently seen clients of a key.
    pub fn keep_newest(conn: &mut DbConnection, api_key_id: &str, keep: usize) -> QueryResult<()> {
        let stale: Vec<(String, String)> = api_key_clients::table
            .filter(api_key_clients::api_key_id.eq(api_key_id))
            .order(api_key_clients::last_seen_at.desc())
            .offset(keep as i64)
            .limit(100)
            .select((api_key_clients::user_agent, api_key_clients::ip))
            .load(conn)?;
        for (user_agent, ip) in stale {
            diesel::delete(api_key_clients::table.find((api_key_id, &user_agent, &ip)))
                .execute(conn)?;
        }
        Ok(())
    }
}
