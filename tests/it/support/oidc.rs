//! A real OpenID provider for the single sign-on tests: panva's `oidc-provider` under the
//! machine's Node.js (`tests/oidc/provider.mjs`, installed with `npm ci` from the committed
//! lock file). Without Node.js or the installed package the tests are skipped, except with
//! `CI=true`, where they fail.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub const CLIENT_ID: &str = "keyward";
pub const CLIENT_SECRET: &str = "a-test-client-secret-for-keyward-only";

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

/// Whether the provider can run; panics with `CI=true` when it cannot.
pub fn available() -> bool {
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let installed = dir()
        .join("node_modules/oidc-provider/package.json")
        .exists();
    if node && installed {
        return true;
    }
    let why = if node {
        "tests/oidc/node_modules is missing (run `npm ci` in tests/oidc)"
    } else {
        "Node.js is not installed"
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("the single sign-on tests need the OpenID provider but {why}, and CI=true: they must not be skipped in CI");
    }
    eprintln!("skipping a single sign-on test: {why}");
    false
}

/// A running provider on 127.0.0.1; stopped when dropped.
pub struct Provider {
    child: Child,
    pub issuer: String,
    http: reqwest::Client,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Provider {
    /// Starts one (on `port`, or any free one); `None` where it cannot run outside CI.
    pub fn start(port: Option<u16>) -> Option<Provider> {
        if !available() {
            return None;
        }
        let mut cmd = Command::new("node");
        cmd.arg(dir().join("provider.mjs"));
        if let Some(port) = port {
            cmd.args(["--port", &port.to_string()]);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .stdin(Stdio::null())
            .spawn()
            .expect("start the OpenID provider");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("its stdout"))
            .read_line(&mut line)
            .expect("the provider's first line");
        let issuer = line
            .trim()
            .strip_prefix("LISTENING ")
            .unwrap_or_else(|| panic!("the provider did not start: {line:?}"))
            .to_string();
        Some(Provider {
            child,
            issuer,
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        })
    }

    pub fn port(&self) -> u16 {
        self.issuer.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Stops it (the provider is down).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub async fn steer(&self, what: &str, body: Value) -> Value {
        let answer = self
            .http
            .post(format!("{}/__test/{what}", self.issuer))
            .json(&body)
            .send()
            .await
            .expect("steer the provider");
        assert!(
            answer.status().is_success(),
            "the provider refused /__test/{what}"
        );
        answer.json().await.unwrap()
    }

    /// Registers Keyward's client with its callback under `public_url`.
    pub async fn register(&self, public_url: &str) {
        self.steer(
            "client",
            json!({
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [format!("{public_url}/sign-in/oidc/callback")],
            }),
        )
        .await;
    }

    pub async fn account(&self, sub: &str, email: &str, verified: bool) {
        self.steer(
            "account",
            json!({ "sub": sub, "email": email, "email_verified": verified, "name": format!("Person {sub}") }),
        )
        .await;
    }

    /// Follows the provider's side of a sign-in as `sub` from its authorization URL: the
    /// URL it sends the browser back to (Keyward's callback with `code` and `state`).
    pub async fn sign_in(&self, authorize_url: &str, sub: &str) -> String {
        let location = |r: &reqwest::Response| {
            let to = r
                .headers()
                .get("location")
                .unwrap_or_else(|| {
                    panic!("the provider answered {} without a redirect", r.status())
                })
                .to_str()
                .unwrap()
                .to_string();
            if to.starts_with('/') {
                format!("{}{to}", self.issuer)
            } else {
                to
            }
        };
        // A fresh browser at the provider each time: no session there carries over.
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = http.get(authorize_url).send().await.unwrap();
        let interaction = location(&r);
        let r = http
            .post(format!("{interaction}/login"))
            .form(&[("sub", sub)])
            .send()
            .await
            .unwrap();
        let resume = location(&r);
        let r = http.get(resume).send().await.unwrap();
        location(&r)
    }
}
