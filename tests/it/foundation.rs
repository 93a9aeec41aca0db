//! Health, readiness and storage: the server and both backends' schemas.

use crate::backend_tests;
use crate::support::{Backend, TestApp, TestDb};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use keyward::db::DbConnection;
use std::collections::BTreeMap;

backend_tests!(
    healthz_answers_ok,
    readyz_answers_ready_while_the_database_is_there,
    readyz_answers_503_when_the_database_goes_away,
    migrations_leave_every_table_of_the_design,
);

async fn healthz_answers_ok(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

async fn readyz_answers_ready_while_the_database_is_there(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ready");
}

async fn readyz_answers_503_when_the_database_goes_away(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    match backend {
        Backend::Sqlite => {
            let path = app.db.sqlite_path().unwrap();
            std::fs::remove_file(&path).unwrap();
            let res = app.client.get(app.url("/readyz")).send().await.unwrap();
            assert_eq!(res.status(), 503, "a deleted database file must be noticed");
            let body: serde_json::Value = res.json().await.unwrap();
            assert!(body["reason"].as_str().unwrap().contains("gone"), "{body}");
            // A different file at the same path is not the database we migrated.
            std::fs::write(&path, b"").unwrap();
            let res = app.client.get(app.url("/readyz")).send().await.unwrap();
            assert_eq!(
                res.status(),
                503,
                "a replaced database file must be noticed"
            );
        }
        Backend::Postgres => {
            let name = app.db.pg_name().unwrap().to_string();
            app.db
                .pg_admin_execute(&format!("DROP DATABASE {name} WITH (FORCE)"));
            let res = app.client.get(app.url("/readyz")).send().await.unwrap();
            assert_eq!(res.status(), 503);
            let body: serde_json::Value = res.json().await.unwrap();
            assert_eq!(body["status"], "unavailable");
        }
    }
}

const TABLES: [&str; 9] = [
    "tenants",
    "accounts",
    "memberships",
    "api_keys",
    "audit_events",
    "sessions",
    "invitations",
    "sign_in_failures",
    "setup_tokens",
];

async fn migrations_leave_every_table_of_the_design(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let columns = app.run(|conn, _| Ok(table_columns(conn))).await.unwrap();
    for table in TABLES {
        assert!(columns.contains_key(table), "missing table {table}");
    }
}

#[derive(QueryableByName)]
struct SqliteColumn {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    #[diesel(column_name = type_)]
    type_: String,
    #[diesel(sql_type = Integer)]
    notnull: i32,
    #[diesel(sql_type = Integer)]
    pk: i32,
}

#[derive(QueryableByName)]
struct PgColumn {
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Text)]
    is_nullable: String,
}

/// Table → column → (portable type, nullable), read from the live database.
fn table_columns(conn: &mut DbConnection) -> BTreeMap<String, BTreeMap<String, (String, bool)>> {
    let mut out = BTreeMap::new();
    for table in TABLES {
        let cols: BTreeMap<String, (String, bool)> = match conn {
            DbConnection::Sqlite(c) => diesel::sql_query(format!(
                "SELECT name, type AS type_, \"notnull\", pk FROM pragma_table_info('{table}')"
            ))
            .load::<SqliteColumn>(c)
            .unwrap()
            .into_iter()
            .map(|col| {
                // SQLite lets a TEXT primary key be NULL unless NOT NULL is said; ours all say it.
                (col.name, (col.type_.to_lowercase(), col.notnull == 0 && col.pk == 0))
            })
            .collect(),
            DbConnection::Postgres(c) => diesel::sql_query(format!(
                "SELECT column_name::text, data_type::text, is_nullable::text FROM information_schema.columns \
                 WHERE table_schema = 'public' AND table_name = '{table}'"
            ))
            .load::<PgColumn>(c)
            .unwrap()
            .into_iter()
            .map(|col| {
                let ty = match col.data_type.as_str() {
                    "timestamp without time zone" => "timestamp".to_string(),
                    other => other.to_string(),
                };
                (col.column_name, (ty, col.is_nullable == "YES"))
            })
            .collect(),
        };
        if !cols.is_empty() {
            out.insert(table.to_string(), cols);
        }
    }
    out
}

#[derive(QueryableByName)]
struct IndexColumn {
    #[diesel(sql_type = Text)]
    index_name: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    is_unique: bool,
    #[diesel(sql_type = Text)]
    column_name: String,
}

#[derive(QueryableByName)]
struct ForeignKey {
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    referenced: String,
}

/// Table → the indexes (as sorted column lists with their uniqueness, primary keys
/// included) and foreign keys (column → table), read from the live database.
type Constraints = BTreeMap<String, (Vec<(Vec<String>, bool)>, Vec<(String, String)>)>;

fn table_constraints(conn: &mut DbConnection) -> Constraints {
    let mut out = BTreeMap::new();
    for table in TABLES {
        let (index_rows, mut fks) = match conn {
            DbConnection::Sqlite(c) => (
                diesel::sql_query(format!(
                    "SELECT il.name AS index_name, il.\"unique\" <> 0 AS is_unique, ii.name AS column_name \
                     FROM pragma_index_list('{table}') il, pragma_index_info(il.name) ii"
                ))
                .load::<IndexColumn>(c)
                .unwrap(),
                diesel::sql_query(format!(
                    "SELECT \"from\" AS column_name, \"table\" AS referenced FROM pragma_foreign_key_list('{table}')"
                ))
                .load::<ForeignKey>(c)
                .unwrap(),
            ),
            DbConnection::Postgres(c) => (
                diesel::sql_query(format!(
                    "SELECT i.relname::text AS index_name, ix.indisunique AS is_unique, a.attname::text AS column_name \
                     FROM pg_class t JOIN pg_index ix ON t.oid = ix.indrelid JOIN pg_class i ON i.oid = ix.indexrelid \
                     JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(ix.indkey) \
                     WHERE t.relname = '{table}' AND t.relkind = 'r'"
                ))
                .load::<IndexColumn>(c)
                .unwrap(),
                diesel::sql_query(format!(
                    "SELECT kcu.column_name::text AS column_name, ccu.table_name::text AS referenced \
                     FROM information_schema.table_constraints tc \
                     JOIN information_schema.key_column_usage kcu ON tc.constraint_name = kcu.constraint_name \
                     JOIN information_schema.constraint_column_usage ccu ON ccu.constraint_name = tc.constraint_name \
                     WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_name = '{table}'"
                ))
                .load::<ForeignKey>(c)
                .unwrap(),
            ),
        };
        let mut by_index: BTreeMap<String, (Vec<String>, bool)> = BTreeMap::new();
        for row in index_rows {
            let entry = by_index
                .entry(row.index_name)
                .or_insert((Vec::new(), row.is_unique));
            entry.0.push(row.column_name);
        }
        let mut indexes: Vec<(Vec<String>, bool)> = by_index
            .into_values()
            .map(|(mut cols, unique)| {
                cols.sort();
                (cols, unique)
            })
            .collect();
        indexes.sort();
        let mut fks: Vec<(String, String)> = fks
            .drain(..)
            .map(|f| (f.column_name, f.referenced))
            .collect();
        fks.sort();
        out.insert(table.to_string(), (indexes, fks));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_backends_migrations_produce_the_same_tables_and_columns() {
    if !crate::support::postgres_available() {
        return;
    }
    let sqlite = TestDb::new(Backend::Sqlite);
    let postgres = TestDb::new(Backend::Postgres);
    let read = |db: &TestDb| {
        let url = db.database_url();
        let mut conn = keyward::db::Database::connect_once(&url).unwrap();
        (table_columns(&mut conn), table_constraints(&mut conn))
    };
    let (s, p) = tokio::task::spawn_blocking(move || {
        let s = read(&sqlite);
        let p = read(&postgres);
        (s, p)
    })
    .await
    .unwrap();
    assert_eq!(s.0.len(), TABLES.len());
    assert_eq!(
        s.0, p.0,
        "SQLite and PostgreSQL migrations must produce the same tables and columns"
    );
    assert_eq!(
        s.1, p.1,
        "…and the same indexes (unique or not) and foreign keys"
    );
    assert!(
        s.1["api_keys"]
            .0
            .contains(&(vec!["token_digest".to_string()], true)),
        "key digests are unique"
    );
    assert!(
        s.1["audit_events"].1.is_empty(),
        "audit events have no foreign keys"
    );
}

/// Diesel orders migrations by the version before the name's first `_` and takes a
/// version it has run as done: two migrations with one version (two branches each
/// adding one on the same day) left the second never run, and its tables missing.
#[test]
fn every_migration_of_a_backend_has_a_version_of_its_own() {
    for backend in ["sqlite", "postgres"] {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(backend);
        let mut seen = std::collections::HashMap::new();
        for entry in std::fs::read_dir(&dir).expect("the migrations folder") {
            let name = entry.unwrap().file_name().to_string_lossy().to_string();
            let version = name.split('_').next().unwrap().replace('-', "");
            if let Some(other) = seen.insert(version.clone(), name.clone()) {
                panic!("{backend}: {other} and {name} share the version {version}; rename one");
            }
        }
        assert!(
            seen.len() > 10,
            "{backend}: {} migrations found",
            seen.len()
        );
    }
}
