//! The same page of several accounts' keys in one query: each account's keys are ranked
//! in the page's order (`ROW_NUMBER() OVER (PARTITION BY account_id …)`, which SQLite and
//! PostgreSQL both have) and only the ranks of the page are read. This is how a nested
//! list (`service_accounts { api_keys }`) costs one query per level, not one per parent.

use crate::db::models::api_key_list::{KeyOrder, KeyOrderField, KeyWhere};
use crate::db::{Backend, DbConnection};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};

type Db = <DbConnection as Connection>::Backend;

#[derive(QueryableByName)]
struct Ranked {
    #[diesel(sql_type = Text)]
    id: String,
}

/// The ids of keys `offset + 1 ..= offset + limit` of each account (in `order`, ties by
/// id) among those matching `w`. Conditions that need a join (`account_type`) or a
/// moment (`unexpired_at`, `expired_at`) are not offered by a nested list's `where`.
pub fn page_ids_per_account(
    conn: &mut DbConnection,
    account_ids: &[String],
    w: &KeyWhere,
    order: KeyOrder,
    limit: i64,
    offset: i64,
) -> QueryResult<Vec<String>> {
    debug_assert!(w.account_type.is_none() && w.unexpired_at.is_none() && w.expired_at.is_none());
    if account_ids.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let postgres = conn.backend() == Backend::Postgres;
    let mut n = 0;
    let mut next = || {
        n += 1;
        if postgres {
            format!("${n}")
        } else {
            "?".to_string()
        }
    };
    let owners: Vec<String> = account_ids.iter().map(|_| next()).collect();
    let mut sql = format!(
        "SELECT id FROM (SELECT k.id AS id, ROW_NUMBER() OVER (PARTITION BY k.account_id ORDER BY {}) AS rn FROM api_keys k WHERE k.account_id IN ({})",
        order_sql(order),
        owners.join(", ")
    );
    let mut texts: Vec<String> = Vec::new();
    let mut times = Vec::new();
    // Conditions in the order their placeholders are numbered: texts first, then times.
    let mut text =
        |sql: &mut String, cond: &str, value: String, next: &mut dyn FnMut() -> String| {
            sql.push_str(&cond.replace("{}", &next()));
            texts.push(value);
        };
    if let Some(p) = &w.name_like {
        text(
            &mut sql,
            " AND lower(k.name) LIKE {} ESCAPE '\\'",
            p.to_lowercase(),
            &mut next,
        );
    }
    if let Some(v) = &w.key_name {
        text(&mut sql, " AND k.name = {}", v.clone(), &mut next);
    }
    if let Some(v) = &w.key_id {
        text(&mut sql, " AND k.id = {}", v.clone(), &mut next);
    }
    if let Some(v) = &w.account_id {
        text(&mut sql, " AND k.account_id = {}", v.clone(), &mut next);
    }
    if let Some(v) = &w.tenant_id {
        text(&mut sql, " AND k.tenant_id = {}", v.clone(), &mut next);
    }
    for (value, cond) in [
        (w.expires_before, " AND k.expires_at < {}"),
        (w.expires_after, " AND k.expires_at > {}"),
        (w.used_before, " AND k.last_used_at < {}"),
        (w.used_after, " AND k.last_used_at > {}"),
    ] {
        if let Some(t) = value {
            sql.push_str(&cond.replace("{}", &next()));
            times.push(t);
        }
    }
    for (flag, column) in [
        (w.expires_is_null, "expires_at"),
        (w.never_used, "last_used_at"),
    ] {
        match flag {
            Some(true) => sql.push_str(&format!(" AND k.{column} IS NULL")),
            Some(false) => sql.push_str(&format!(" AND k.{column} IS NOT NULL")),
            None => {}
        }
    }
    sql.push_str(&format!(
        ") ranked WHERE rn > {} AND rn <= {}",
        next(),
        next()
    ));
    let mut query = diesel::sql_query(sql).into_boxed::<Db>();
    for id in account_ids {
        query = query.bind::<Text, _>(id.clone());
    }
    for v in texts {
        query = query.bind::<Text, _>(v);
    }
    for t in times {
        query = query.bind::<Timestamp, _>(t);
    }
    query = query
        .bind::<BigInt, _>(offset)
        .bind::<BigInt, _>(offset + limit);
    Ok(query
        .load::<Ranked>(conn)?
        .into_iter()
        .map(|r| r.id)
        .collect())
}

/// The same order `api_key_list::ordered` gives a page.
fn order_sql(order: KeyOrder) -> &'static str {
    use KeyOrderField::*;
    match (order.field, order.descending) {
        (CreatedAt, true) => "k.created_at DESC, k.id ASC",
        (CreatedAt, false) => "k.created_at ASC, k.id DESC",
        (Name, true) => "k.name DESC, k.id ASC",
        (Name, false) => "k.name ASC, k.id ASC",
        (ExpiresAt, true) => "k.expires_at DESC, k.id ASC",
        (ExpiresAt, false) => "k.expires_at ASC, k.id ASC",
        (LastUsedAt, true) => "k.last_used_at DESC, k.id ASC",
        (LastUsedAt, false) => "k.last_used_at ASC, k.id ASC",
    }
}
