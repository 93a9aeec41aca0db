//! The command-line client (`keyward login`, `whoami`, `keys …`, `service-accounts …`):
//! the real binary against the real server, with a temporary HOME and XDG_CONFIG_HOME.

use crate::backend_tests;
use crate::support::{keyward_bin, Backend, TestApp};
use keyward::domain::Role;
use serde_json::Value;
use std::path::PathBuf;

backend_tests!(
    key_and_url_come_from_the_flag_then_the_environment_then_the_config_file,
    a_quiet_key_works_at_once_json_parses_and_service_accounts_round_trip,
    revoked_keys_exit_3_and_admin_revoke_key_kills_the_next_request,
    permission_denied_exits_4_and_a_readable_config_file_warns,
    the_newcomer_points_login_from_stdin_names_roles_allow_lists_and_whole_seconds,
);

/// A user's home for one test: `$HOME` and `$XDG_CONFIG_HOME` under a fresh temp dir.
struct Home {
    dir: PathBuf,
}

impl Home {
    fn new() -> Self {
        let dir =
            std::env::temp_dir().join(format!("keyward-client-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Home { dir }
    }

    fn config(&self) -> PathBuf {
        self.dir.join("xdg").join("keyward").join("config.toml")
    }

    /// Runs `keyward args…` with only `env` of the KEYWARD_* variables set, no terminal.
    async fn run(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        self.run_with_stdin(args, env, None).await
    }

    /// `run`, with `input` on standard input (a pipe) when given.
    async fn run_with_stdin(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        input: Option<&str>,
    ) -> (i32, String, String) {
        let mut cmd = std::process::Command::new(keyward_bin());
        cmd.args(args)
            .env("HOME", &self.dir)
            .env("XDG_CONFIG_HOME", self.dir.join("xdg"))
            .stdin(if input.is_some() {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            })
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for var in [
            "KEYWARD_URL",
            "KEYWARD_API_KEY",
            "KEYWARD_CONFIG",
            "KEYWARD_CLIENT_CONFIG",
            "KEYWARD_DATABASE_URL",
        ] {
            cmd.env_remove(var);
        }
        cmd.envs(env.iter().copied());
        let input = input.map(str::to_owned);
        let out = tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut child = cmd.spawn().expect("run keyward");
            if let Some(input) = input {
                let mut stdin = child.stdin.take().unwrap();
                stdin.write_all(input.as_bytes()).unwrap();
            }
            child.wait_with_output().expect("keyward's output")
        })
        .await
        .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs a command that must succeed; its stdout.
    async fn ok(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let (code, out, err) = self.run(args, env).await;
        assert_eq!(code, 0, "keyward {args:?} failed: {err}");
        out
    }

    async fn json(&self, args: &[&str], env: &[(&str, &str)]) -> Value {
        let out = self.ok(args, env).await;
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Nothing listens here: connecting is refused at once.
const DEAD_URL: &str = "http://127.0.0.1:1";

/// A tenant with a person of `role`; (tenant id, account id, key id, key).
async fn person(app: &TestApp, slug: &str, role: Role) -> (String, String, String, String) {
    let tenant = app.create_tenant(slug).await;
    let who = app
        .create_person(&format!("{slug}@example.com"), &tenant.id, role)
        .await;
    let (key_id, key) = app.create_key(&who.id, &tenant.id, None).await;
    (tenant.id, who.id, key_id, key)
}

async fn key_and_url_come_from_the_flag_then_the_environment_then_the_config_file(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let home = Home::new();
    let (_, file_account, _, file_key) = person(&app, "file", Role::Admin).await;
    let (_, env_account, _, env_key) = person(&app, "env", Role::User).await;
    let (_, flag_account, _, flag_key) = person(&app, "flag", Role::ReadOnlyUser).await;
    let url = app.address.as_str();

    let out = home
        .ok(&["login", "--url", url, "--key", &file_key], &[])
        .await;
    assert!(out.contains("Logged in"), "{out}");
    let stored = std::fs::read_to_string(home.config()).unwrap();
    assert!(stored.contains(&file_key) && stored.contains(url));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.config())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the config file is created 0600");
    }

    // The key: flag > environment > file.
    let env = [("KEYWARD_API_KEY", env_key.as_str())];
    // (flags, environment, the account the key belongs to, where it came from)
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: [Case; 3] = [
        (&[], &[], &file_account, "file"),
        (&[], &env, &env_account, "environment"),
        (&["--key", &flag_key], &env, &flag_account, "flag"),
    ];
    for (flags, env, account, source) in cases {
        let mut args = vec!["whoami", "--json"];
        args.extend_from_slice(flags);
        let who = home.json(&args, env).await;
        assert_eq!(who["account"]["id"], *account, "{args:?} {env:?}");
        assert_eq!(who["key"]["source"], source, "{args:?} {env:?}");
        assert_eq!(who["server"]["source"], "file");
    }
    let text = home.ok(&["whoami"], &env).await;
    assert!(
        text.contains("from environment KEYWARD_API_KEY") && text.contains("role     USER"),
        "{text}"
    );

    // The URL: flag > environment > file (a dead URL shows which one was used).
    let dead_env = [("KEYWARD_URL", DEAD_URL)];
    let live_env = [("KEYWARD_URL", url)];
    let (code, _, err) = home.run(&["whoami"], &dead_env).await;
    assert_eq!(code, 5, "the environment beats the file: {err}");
    assert!(
        err.contains("cannot reach the Keyward server at http://127.0.0.1:1"),
        "{err}"
    );
    let who = home
        .json(&["whoami", "--json", "--url", url], &dead_env)
        .await;
    assert_eq!(who["server"]["source"], "flag");
    let (code, _, _) = home.run(&["whoami", "--url", DEAD_URL], &live_env).await;
    assert_eq!(code, 5, "the flag beats the environment");
    let who = home.json(&["whoami", "--json"], &live_env).await;
    assert_eq!(who["server"]["source"], "environment");

    // Logging out forgets both; then there is no key at all.
    home.ok(&["logout"], &[]).await;
    assert!(!home.config().exists());
    let (code, _, err) = home.run(&["keys", "list", "--url", url], &[]).await;
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("no API key") && err.contains("keyward login"),
        "{err}"
    );
    let (code, _, err) = home.run(&["whoami", "--key", &flag_key], &[]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no server URL"), "{err}");
}

async fn a_quiet_key_works_at_once_json_parses_and_service_accounts_round_trip(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let home = Home::new();
    let (tenant_id, account, _, key) = person(&app, "acme", Role::Admin).await;
    let url = app.address.as_str();
    let (code, _, err) = home.run(&["login", "--url", url, "--key", &key], &[]).await;
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("warning"), "no warning for loopback: {err}");

    let out = home
        .ok(
            &[
                "keys",
                "create",
                "--name",
                "ci",
                "--expires-in",
                "30d",
                "-q",
            ],
            &[],
        )
        .await;
    let new_key = out.strip_suffix('\n').expect("one line");
    assert!(
        !new_key.contains(char::is_whitespace),
        "only the key: {out:?}"
    );
    let who = home
        .json(&["whoami", "--json", "--key", new_key], &[])
        .await;
    assert_eq!(who["account"]["id"], account.as_str());
    assert_eq!(who["key"]["name"], "ci");
    assert_eq!(who["tenant"]["id"], tenant_id.as_str());

    let keys = home.json(&["keys", "list", "--json"], &[]).await;
    let ci = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "ci")
        .expect("the new key is listed");
    assert!(ci["expires_at"].as_str().is_some(), "{ci}");
    let table = home.ok(&["keys", "list"], &[]).await;
    assert!(table.starts_with("ID") && table.contains(" ci "), "{table}");
    // Tables show times to the minute: 2026-12-28T10:23:36.031441Z reads 2026-12-28 10:23Z.
    let expires = ci["expires_at"].as_str().unwrap();
    let minute = format!("{}Z", expires[..16].replace('T', " "));
    assert!(
        table.contains(&minute) && !table.contains(expires),
        "{table}"
    );

    let created = home
        .json(
            &[
                "keys",
                "create",
                "--name",
                "dated",
                "--expires-at",
                "2031-01-01",
                "--json",
            ],
            &[],
        )
        .await;
    assert_eq!(created["expires_at"], "2031-01-01T00:00:00Z");
    assert!(created["key"]
        .as_str()
        .is_some_and(|k| k.starts_with("kwu_")));

    // Service accounts and their keys.
    let sa = home
        .json(&["service-accounts", "create", "deployer", "--json"], &[])
        .await;
    let sa_id = sa["id"].as_str().unwrap().to_string();
    let renamed = home
        .json(
            &[
                "service-accounts",
                "rename",
                &sa_id,
                "release bot",
                "--json",
            ],
            &[],
        )
        .await;
    assert_eq!(renamed["name"], "release bot");
    let sa_key = home
        .ok(
            &[
                "service-accounts",
                "keys",
                "create",
                &sa_id,
                "--name",
                "deploy",
                "-q",
            ],
            &[],
        )
        .await;
    let sa_who = home
        .json(&["whoami", "--json", "--key", sa_key.trim()], &[])
        .await;
    assert_eq!(sa_who["account"]["id"], sa_id.as_str());
    assert_eq!(sa_who["account"]["type"], "SERVICE_ACCOUNT");
    let listed = home
        .json(&["service-accounts", "list", "--json"], &[])
        .await;
    assert_eq!(listed[0]["name"], "release bot");
    assert_eq!(listed[0]["key_count"], 1);
    let sa_keys = home
        .json(&["service-accounts", "keys", "list", &sa_id, "--json"], &[])
        .await;
    let sa_key_id = sa_keys[0]["id"].as_str().unwrap().to_string();

    // Without a terminal, revoking and removing need --yes.
    let (code, _, err) = home
        .run(&["service-accounts", "keys", "revoke", &sa_key_id], &[])
        .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("pass --yes"), "{err}");
    home.ok(
        &["service-accounts", "keys", "revoke", &sa_key_id, "--yes"],
        &[],
    )
    .await;
    let (code, _, _) = home.run(&["whoami", "--key", sa_key.trim()], &[]).await;
    assert_eq!(code, 3);
    let (code, _, err) = home.run(&["service-accounts", "remove", &sa_id], &[]).await;
    assert_eq!((code, err.contains("pass --yes")), (2, true), "{err}");
    home.ok(&["service-accounts", "remove", &sa_id, "--yes"], &[])
        .await;
    let listed = home
        .json(&["service-accounts", "list", "--json"], &[])
        .await;
    assert_eq!(listed, serde_json::json!([]));

    // Bad input exits 2 with what to fix.
    let (code, _, err) = home
        .run(
            &["keys", "create", "--name", "x", "--expires-in", "soon"],
            &[],
        )
        .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--expires-in") && err.contains("30d"), "{err}");
    let (code, _, err) = home
        .run(&["keys", "revoke", "not-an-id", "--yes"], &[])
        .await;
    assert_eq!(code, 2, "{err}");
}

async fn revoked_keys_exit_3_and_admin_revoke_key_kills_the_next_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let home = Home::new();
    let (tenant_id, account, _, admin_key) = person(&app, "acme", Role::Admin).await;
    let url = app.address.as_str();
    let env = [
        ("KEYWARD_URL", url),
        ("KEYWARD_API_KEY", admin_key.as_str()),
    ];

    // Revoked through the client.
    let created = home
        .json(&["keys", "create", "--name", "doomed", "--json"], &env)
        .await;
    let (id, doomed) = (
        created["id"].as_str().unwrap(),
        created["key"].as_str().unwrap(),
    );
    home.ok(&["keys", "revoke", id, "--yes"], &env).await;
    let (code, out, err) = home.run(&["keys", "list", "--key", doomed], &env).await;
    assert_eq!(code, 3, "{err}");
    assert!(out.is_empty());
    assert!(
        err.contains("not authenticated: this API key is not valid: it is unknown or has been revoked (the key came from the flag --key)"),
        "{err}"
    );

    // Expired: the server's reason, exit 3.
    let (old_id, old_key) = app.create_key(&account, &tenant_id, None).await;
    app.sql(&format!(
        "UPDATE api_keys SET expires_at = created_at WHERE id = '{old_id}'"
    ))
    .await;
    let (code, _, err) = home.run(&["whoami", "--key", &old_key], &env).await;
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("not authenticated: this API key expired at"),
        "{err}"
    );

    // Revoked by the operator, straight in the database.
    let (victim_id, victim) = app.create_key(&account, &tenant_id, None).await;
    home.ok(&["whoami", "--key", &victim], &env).await;
    let revoke = [
        "admin",
        "--database-url",
        &app.db.url,
        "revoke-key",
        "--id",
        &victim_id,
    ];
    let (code, out, err) = home.run(&revoke, &[]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("revoked key {victim_id}")), "{out}");
    let (code, _, err) = home.run(&["whoami", "--key", &victim], &env).await;
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("unknown or has been revoked"), "{err}");
    let (code, _, err) = home.run(&revoke, &[]).await;
    assert_eq!(code, 2, "a key revoked twice is not found: {err}");

    // The audit log names the operator (no actor) as the one who revoked it.
    let res = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&admin_key)
        .json(&serde_json::json!({ "query": "{ audit_events(action: \"api_key.revoked\") { events { actor_id target_id } } }" }))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    let events = body["data"]["audit_events"]["events"].as_array().unwrap();
    let by_operator = events
        .iter()
        .find(|e| e["target_id"] == victim_id.as_str())
        .unwrap_or_else(|| panic!("no revocation event for the key: {body}"));
    assert_eq!(by_operator["actor_id"], Value::Null);
}

async fn permission_denied_exits_4_and_a_readable_config_file_warns(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let home = Home::new();
    let (tenant_id, _, _, user_key) = person(&app, "acme", Role::ReadOnlyUser).await;
    let sa = app.create_service_account(&tenant_id, "deployer").await;
    let url = app.address.as_str();

    let path = home.config();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, format!("url = \"{url}\"\nkey = \"{user_key}\"\n")).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let (code, _, err) = home.run(&["whoami"], &[]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning:")
            && err.contains("readable by group or others (mode 0644)")
            && err.contains("chmod 600"),
        "{err}"
    );

    let (code, out, err) = home.run(&["service-accounts", "list"], &[]).await;
    assert_eq!(code, 4, "{err}");
    assert!(out.is_empty() && err.contains("permission denied"), "{err}");
    let (code, _, err) = home
        .run(
            &["service-accounts", "keys", "create", &sa.id, "--name", "x"],
            &[],
        )
        .await;
    assert_eq!(
        code, 4,
        "a read-only member makes no service-account key: {err}"
    );

    // A broken config file is bad input that names the file.
    std::fs::write(&path, "url = [").unwrap();
    let (code, _, err) = home.run(&["whoami"], &[]).await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("config.toml is not a valid Keyward config file"),
        "{err}"
    );
}

#[test]
fn help_documents_the_exit_codes_and_the_client_commands() {
    use clap::CommandFactory;
    let help = keyward::cli::Cli::command().render_long_help().to_string();
    for text in [
        "3  not authenticated",
        "4  permission denied",
        "5  server unreachable",
        "KEYWARD_API_KEY",
        "login",
        "service-accounts",
    ] {
        assert!(help.contains(text), "--help lacks {text:?}:\n{help}");
    }
}

#[test]
fn login_warns_when_a_key_would_cross_the_network_in_clear() {
    use keyward::cli::client::commands::sends_keys_in_clear;
    for (url, warns) in [
        ("http://keys.example.com", true),
        ("HTTP://keys.example.com:8080/graphql", true),
        ("http://203.0.113.7:8080", true),
        ("http://[2001:db8::1]:8080", true),
        ("http://localhost:8080", false),
        ("http://app.localhost", false),
        ("http://127.0.0.1:8080", false),
        ("http://127.0.0.53", false),
        ("http://[::1]:8080", false),
        ("https://keys.example.com", false),
    ] {
        assert_eq!(sends_keys_in_clear(url), warns, "{url}");
    }
}

/// Issue 31's client points: `login --key-stdin`, the client's own `--config`, no server
/// flags on client commands, read-only and allow-lists in `keys`, names where ids are
/// expected, roles of service accounts, revocations that name the key, whole seconds.
async fn the_newcomer_points_login_from_stdin_names_roles_allow_lists_and_whole_seconds(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let home = Home::new();
    let (_, _, _, key) = person(&app, "acme", Role::Admin).await;
    let url = app.address.as_str();

    // `echo KEY | keyward login --url URL --key-stdin`.
    let (code, out, err) = home
        .run_with_stdin(
            &["login", "--url", url, "--key-stdin"],
            &[],
            Some(&format!("{key}\n")),
        )
        .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Logged in"), "{out}");
    assert!(
        !out.contains(&key) && !err.contains(&key),
        "the key is not echoed"
    );
    assert!(std::fs::read_to_string(home.config())
        .unwrap()
        .contains(&key));
    let (code, _, err) = home
        .run_with_stdin(&["login", "--url", url, "--key-stdin"], &[], Some(""))
        .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--key-stdin read no API key"), "{err}");

    // The client's own config file; a named one that does not exist is an error.
    let other = home.dir.join("other.toml");
    let other = other.to_str().unwrap();
    let (code, _, err) = home.run(&["whoami", "--config", other], &[]).await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("does not exist") && err.contains(other),
        "{err}"
    );
    home.run_with_stdin(
        &["login", "--config", other, "--url", url, "--key-stdin"],
        &[],
        Some(&key),
    )
    .await;
    let who = home
        .json(&["whoami", "--json"], &[("KEYWARD_CLIENT_CONFIG", other)])
        .await;
    assert_eq!(who["key"]["from"], format!("file {other}"), "{who}");

    // Server flags are not the client's.
    let help = home.ok(&["whoami", "--help"], &[]).await;
    assert!(!help.contains("--database-url"), "{help}");
    assert!(help.contains("--config"), "{help}");
    let (code, _, err) = home
        .run(&["--database-url", "sqlite://x.db", "whoami"], &[])
        .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("server's"), "{err}");

    // A read-only key with an allow-list: created, listed with both, and whoami says so.
    let created = home
        .json(
            &[
                "keys",
                "create",
                "--name",
                "reader",
                "--read-only",
                "--allowed-ip",
                "127.0.0.0/8",
                "--allowed-ip",
                "::1",
                "--description",
                "reads the dashboards",
                "--json",
            ],
            &[],
        )
        .await;
    let reader = created["key"].as_str().unwrap().to_string();
    let keys = home.json(&["keys", "list", "--json"], &[]).await;
    let row = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "reader")
        .expect("listed");
    assert_eq!(row["read_only"], true, "{row}");
    // What a key is for (issue 31 point 12).
    assert_eq!(row["description"], "reads the dashboards", "{row}");
    assert_eq!(
        row["allowed_ips"].as_array().map(Vec::len),
        Some(2),
        "{row}"
    );
    let admin_row = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] != "reader")
        .unwrap();
    assert_eq!(admin_row["read_only"], false, "{admin_row}");
    assert!(admin_row["description"].is_null(), "{admin_row}");
    let long = "x".repeat(201);
    let (code, _, err) = home
        .run(
            &["keys", "create", "--name", "wordy", "--description", &long],
            &[],
        )
        .await;
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains("description") && err.contains("at most 200 characters"),
        "{err}"
    );
    assert_eq!(
        admin_row["allowed_ips"],
        serde_json::json!([]),
        "{admin_row}"
    );
    let table = home.ok(&["keys", "list"], &[]).await;
    assert!(
        table.contains("ACCESS") && table.contains("read-only") && table.contains("anywhere"),
        "{table}"
    );
    // Times in JSON to the whole second.
    let created_at = row["created_at"].as_str().unwrap();
    assert!(
        created_at.len() == 20 && created_at.ends_with('Z') && !created_at.contains('.'),
        "{created_at}"
    );
    let text = home.ok(&["whoami", "--key", &reader], &[]).await;
    assert!(text.contains("read-only"), "{text}");

    // Service accounts by name; roles listed and changed.
    let sa = home
        .json(
            &[
                "service-accounts",
                "create",
                "deployer",
                "--role",
                "user",
                "--json",
            ],
            &[],
        )
        .await;
    let sa_id = sa["id"].as_str().unwrap().to_string();
    let listed = home
        .json(&["service-accounts", "list", "--json"], &[])
        .await;
    assert_eq!(listed[0]["role"], "USER", "{listed}");
    let table = home.ok(&["service-accounts", "list"], &[]).await;
    assert!(table.contains("ROLE") && table.contains("USER"), "{table}");
    let changed = home
        .json(
            &[
                "service-accounts",
                "set-role",
                "deployer",
                "read-only",
                "--json",
            ],
            &[],
        )
        .await;
    assert_eq!(changed["id"], sa_id.as_str(), "{changed}");
    let listed = home
        .json(&["service-accounts", "list", "--json"], &[])
        .await;
    assert_eq!(listed[0]["role"], "READ_ONLY_USER", "{listed}");
    let sa_key = home
        .json(
            &[
                "service-accounts",
                "keys",
                "create",
                "deployer",
                "--name",
                "deploy",
                "--json",
            ],
            &[],
        )
        .await;
    assert_eq!(sa_key["user_id"], sa_id.as_str(), "{sa_key}");
    for bad in ["nobody", "not-a-uuid-1234"] {
        let (code, _, err) = home
            .run(
                &[
                    "service-accounts",
                    "keys",
                    "create",
                    bad,
                    "--name",
                    "deploy",
                ],
                &[],
            )
            .await;
        assert_eq!(code, 2, "{err}");
        assert!(
            !err.contains("occurred while parsing") && err.contains("service-accounts list"),
            "{err}"
        );
    }

    // Revoking names the key, by name or id.
    let (code, _, err) = home.run(&["keys", "revoke", "reader"], &[]).await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("\"reader\"") && err.contains("pass --yes"),
        "{err}"
    );
    let revoked = home
        .json(&["keys", "revoke", "reader", "--yes", "--json"], &[])
        .await;
    assert_eq!(revoked["name"], "reader", "{revoked}");
    let (code, _, _) = home.run(&["whoami", "--key", &reader], &[]).await;
    assert_eq!(code, 3, "the revoked key is refused");
    let (code, _, err) = home
        .run(&["keys", "revoke", "no such key", "--yes"], &[])
        .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("keyward keys list"), "{err}");
}
