//! `keyward admin backup` / `restore-check`: a SQLite backup taken while clients keep
//! creating keys opens, migrates and holds every key acknowledged before it started.

use crate::reliability::{seed, Caller, Seed};
use crate::support::{run_keyward, Backend, TestApp};
use diesel::prelude::*;
use keyward::db::schema::api_keys;
use keyward::db::{Database, DatabaseUrl};
use std::sync::{Arc, Mutex};

const WRITERS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_write_load_holds_every_key_acknowledged_before_it_started() {
    let app =
        TestApp::spawn_with(Backend::Sqlite, |s| s.quotas.max_keys_per_account = 100_000).await;
    let Seed {
        admin_id,
        admin_key,
        ..
    } = seed(&app.db.url);
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let caller = Caller::new(app.address.clone());
        let (key, user, acked, stop) = (
            admin_key.clone(),
            admin_id.clone(),
            acknowledged.clone(),
            stop.clone(),
        );
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                i += 1;
                if let Some((id, _)) = caller
                    .create_key(&key, &user, &format!("writer {w} key {i}"))
                    .await
                    .expect("the server answers")
                {
                    acked.lock().unwrap().push(id);
                }
            }
        }));
    }
    // Start the backup once the writers are well under way.
    crate::support::eventually("60 writes acknowledged", || {
        std::future::ready((acknowledged.lock().unwrap().len() >= 60).then_some(()))
    })
    .await;
    let before: Vec<String> = acknowledged.lock().unwrap().clone();
    let backup = app.db.sqlite_path().unwrap().with_file_name("backup.db");
    let (url, to) = (app.db.url.clone(), backup.display().to_string());
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        run_keyward(
            &["admin", "--database-url", &url, "backup", "--to", &to],
            "",
        )
    })
    .await
    .unwrap();
    let during = acknowledged.lock().unwrap().len() - before.len();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(code, 0, "backup failed: {out}{err}");
    assert!(out.contains("backed up"), "{out}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the backup is readable by others");
    }

    let to = backup.display().to_string();
    let (code, out, err) = run_keyward(&["admin", "restore-check", &to], "");
    assert_eq!(code, 0, "restore-check failed: {out}{err}");
    assert!(out.contains("is a good backup"), "{out}");

    let mut conn =
        Database::connect_once(&DatabaseUrl::parse(&format!("sqlite://{to}")).unwrap()).unwrap();
    let stored: Vec<String> = api_keys::table
        .select(api_keys::id)
        .load(&mut conn)
        .unwrap();
    let missing: Vec<_> = before.iter().filter(|id| !stored.contains(id)).collect();
    println!(
        "figures: backup_under_load acknowledged_before={} acknowledged_during={during} in_backup={}",
        before.len(),
        stored.len()
    );
    assert!(
        missing.is_empty(),
        "keys acknowledged before the backup are missing from it: {missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_never_overwrite_and_a_damaged_file_fails_the_restore_check() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let backup = app.db.sqlite_path().unwrap().with_file_name("backup.db");
    let (url, to) = (app.db.url.clone(), backup.display().to_string());
    let args = ["admin", "--database-url", &url, "backup", "--to", &to];
    assert_eq!(run_keyward(&args, "").0, 0);
    let (code, _, err) = run_keyward(&args, "");
    assert_eq!(code, 2);
    assert!(err.contains("already exists"), "{err}");

    let junk = backup.with_file_name("junk.db");
    std::fs::write(&junk, b"this is not a database, just some words in a file").unwrap();
    let (code, _, err) = run_keyward(&["admin", "restore-check", &junk.display().to_string()], "");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not a usable backup"), "{err}");
}

#[test]
fn a_postgresql_backup_is_pointed_at_pg_dump() {
    let (code, _, err) = run_keyward(
        &[
            "admin",
            "--database-url",
            "postgres://keyward@127.0.0.1:1/keyward",
            "backup",
            "--to",
            "/tmp/never-written.db",
        ],
        "",
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("pg_dump"), "{err}");
}
