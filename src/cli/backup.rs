//! `keyward admin backup` and `keyward admin restore-check`. A SQLite backup is SQLite's
//! own `VACUUM INTO`: one read transaction, so the copy is consistent while the server
//! keeps writing, and it never blocks writers for long (WAL). PostgreSQL has `pg_dump`.

use super::CliError;
use crate::db::{Database, DatabaseUrl};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde_json::{json, Value};
use std::path::Path;

/// Copies the live database named by `url` into `to`, a new file readable by its owner
/// only (it holds password hashes and key digests).
pub fn backup(url: &DatabaseUrl, to: &Path) -> Result<(String, Value), CliError> {
    let source = match url {
        DatabaseUrl::Sqlite(path) => path,
        DatabaseUrl::Postgres(_) => {
            return Err(CliError::usage(
                "backups of a PostgreSQL database are made with pg_dump (see docs/DEPLOY.md, \"Backups\"); `keyward admin backup` copies SQLite databases",
            ))
        }
    };
    if !source.is_file() {
        return Err(CliError::usage(format!(
            "there is no SQLite database at {}",
            source.display()
        )));
    }
    let to_text = to
        .to_str()
        .ok_or_else(|| CliError::usage("the backup path must be valid UTF-8"))?;
    create_private_empty_file(to)?;
    let copied = open_sqlite(source).and_then(|mut conn| {
        diesel::sql_query("VACUUM INTO ?")
            .bind::<Text, _>(to_text)
            .execute(&mut conn)
            .map_err(|e| format!("the backup failed: {e}"))
    });
    if let Err(e) = copied {
        let _ = std::fs::remove_file(to);
        return Err(CliError::failure(e));
    }
    let bytes = std::fs::metadata(to).map(|m| m.len()).unwrap_or(0);
    Ok((
        format!(
            "backed up {} to {} ({bytes} bytes); check it with `keyward admin restore-check {}`",
            source.display(),
            to.display(),
            to.display()
        ),
        json!({ "from": source, "to": to, "bytes": bytes }),
    ))
}

/// Proves a SQLite backup can be restored: a copy of it (the file itself is left as it
/// is) passes SQLite's integrity check, takes this version's migrations and is counted.
pub fn restore_check(file: &Path) -> Result<(String, Value), CliError> {
    if !file.is_file() {
        return Err(CliError::usage(format!(
            "there is no backup file at {}",
            file.display()
        )));
    }
    let dir = std::env::temp_dir().join(format!(
        "keyward-restore-check-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| CliError::failure(e.to_string()))?;
    let result = check_copy(file, &dir.join("restored.db"));
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn check_copy(file: &Path, copy: &Path) -> Result<(String, Value), CliError> {
    let not_a_backup =
        |e: String| CliError::usage(format!("{} is not a usable backup: {e}", file.display()));
    std::fs::copy(file, copy).map_err(|e| CliError::failure(e.to_string()))?;
    {
        let mut conn = open_sqlite(copy).map_err(&not_a_backup)?;
        #[derive(QueryableByName)]
        struct Integrity {
            #[diesel(sql_type = Text)]
            integrity_check: String,
        }
        let rows: Vec<Integrity> = diesel::sql_query("PRAGMA integrity_check")
            .load(&mut conn)
            .map_err(|e| not_a_backup(e.to_string()))?;
        let verdict: Vec<String> = rows.into_iter().map(|r| r.integrity_check).collect();
        if verdict != ["ok"] {
            return Err(not_a_backup(format!(
                "the integrity check found: {}",
                verdict.join("; ")
            )));
        }
    }
    let url =
        DatabaseUrl::parse(&format!("sqlite://{}", copy.display())).map_err(CliError::failure)?;
    let mut conn = Database::connect_once(&url).map_err(not_a_backup)?;
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut counts = serde_json::Map::new();
    for table in ["tenants", "accounts", "api_keys", "audit_events"] {
        let count: Count = diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
            .get_result(&mut conn)
            .map_err(|e| not_a_backup(e.to_string()))?;
        counts.insert(table.to_string(), count.n.into());
    }
    let summary = counts
        .iter()
        .map(|(table, n)| format!("{n} {table}"))
        .collect::<Vec<_>>()
        .join(", ");
    Ok((
        format!(
            "{} is a good backup: it passes the integrity check and migrates; it holds {summary}",
            file.display()
        ),
        json!({ "file": file, "ok": true, "counts": counts }),
    ))
}

fn open_sqlite(path: &Path) -> Result<SqliteConnection, String> {
    let text = path
        .to_str()
        .ok_or_else(|| "the path is not valid UTF-8".to_string())?;
    let mut conn = SqliteConnection::establish(text).map_err(|e| e.to_string())?;
    diesel::connection::SimpleConnection::batch_execute(&mut conn, "PRAGMA busy_timeout = 5000")
        .map_err(|e| e.to_string())?;
    Ok(conn)
}

/// `VACUUM INTO` writes into a file that does not exist or is empty; making it first
/// gives it mode 0600 and refuses to overwrite an earlier backup.
fn create_private_empty_file(path: &Path) -> Result<(), CliError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(drop)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => CliError::usage(format!(
                "{} already exists; backups never overwrite a file",
                path.display()
            )),
            _ => CliError::usage(format!("cannot create {}: {e}", path.display())),
        })
}
