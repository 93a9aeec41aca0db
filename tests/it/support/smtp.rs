//! A real SMTP server for the mail tests: `tests/smtp/sink.py` (Debian's python3-aiosmtpd
//! under /usr/bin/python3), started per test on a free port. It writes each message it
//! accepts to a folder as JSON; a `mode` file makes it stall, refuse for now or refuse for
//! good. Without aiosmtpd the mail tests are skipped, except with `CI=true`, where they fail.

use super::{eventually, Backend, Seeded, TestApp};
use keyward::config::{MailSettings, OutboxTiming, Settings, SmtpUrl};
use keyward::db::models::OutboxRow;
use std::io::BufRead;
use std::path::PathBuf;
use std::time::Duration;

const PYTHON: &str = "/usr/bin/python3";

/// What the sink received: the envelope, the subject, the headers and the plain body.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ReceivedMail {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub subject: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl ReceivedMail {
    /// The first `http://` or `https://` link in the body.
    pub fn link(&self) -> Option<String> {
        self.body
            .split_whitespace()
            .find(|w| w.starts_with("http://") || w.starts_with("https://"))
            .map(str::to_string)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct SmtpSink {
    child: std::process::Child,
    pub port: u16,
    pub dir: PathBuf,
}

/// Whether the sink can run; panics with `CI=true` when it cannot.
fn sink_available() -> bool {
    let ok = std::process::Command::new(PYTHON)
        .args(["-c", "import aiosmtpd"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{PYTHON} cannot import aiosmtpd but CI=true: mail tests must not be skipped in CI (apt-get install python3-aiosmtpd)");
        }
        eprintln!("skipped: {PYTHON} cannot import aiosmtpd (apt-get install python3-aiosmtpd)");
    }
    ok
}

impl SmtpSink {
    /// A running sink, or `None` (the test skips) where aiosmtpd is missing outside CI.
    pub fn start() -> Option<SmtpSink> {
        if !sink_available() {
            return None;
        }
        let dir =
            std::env::temp_dir().join(format!("keyward-smtp-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("sink folder");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp/sink.py");
        let mut child = std::process::Command::new(PYTHON)
            .arg(script)
            .arg(&dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("start the SMTP sink");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("the sink's stdout"))
            .read_line(&mut line)
            .expect("the sink says its port");
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the SMTP sink did not start: {line:?}"));
        Some(SmtpSink { child, port, dir })
    }

    /// Its URL for `--smtp-url` (loopback: STARTTLS only if offered, and it offers none).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// `accept`, `stall`, `tempfail`, `permfail`, `slow`, `rejectsender` or `rejectrcpt`
    /// (tests/smtp/sink.py), for the next messages.
    pub fn set_mode(&self, mode: &str) {
        let aside = self.dir.join(".mode");
        std::fs::write(&aside, mode).expect("write the mode");
        std::fs::rename(aside, self.dir.join("mode")).expect("set the mode");
    }

    fn files(&self, prefix: &str) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .expect("read the sink folder")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix))
            })
            .collect();
        found.sort();
        found
    }

    /// Every mail accepted so far.
    pub fn mails(&self) -> Vec<ReceivedMail> {
        self.files("mail-")
            .iter()
            .map(|p| {
                serde_json::from_str(&std::fs::read_to_string(p).expect("read a mail"))
                    .expect("a mail the sink wrote")
            })
            .collect()
    }

    /// The mode each DATA met so far (one per attempt to send a message).
    pub fn attempts(&self) -> Vec<String> {
        self.files("attempt-")
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect()
    }

    /// Waits (at most a minute) until at least `n` mails arrived; returns them all.
    pub async fn wait_for_mails(&self, n: usize) -> Vec<ReceivedMail> {
        eventually(&format!("{n} mail(s) at the SMTP sink"), || {
            let mails = self.mails();
            std::future::ready((mails.len() >= n).then_some(mails))
        })
        .await
    }

    /// Waits (at most a minute) until at least `n` attempts reached DATA.
    pub async fn wait_for_attempts(&self, n: usize) -> Vec<String> {
        eventually(&format!("{n} attempt(s) at the SMTP sink"), || {
            let attempts = self.attempts();
            std::future::ready((attempts.len() >= n).then_some(attempts))
        })
        .await
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Quick timing for tests: a 50 ms poll, a `lease`, a 100 ms first retry, 3 attempts.
pub fn quick_outbox(lease: Duration) -> OutboxTiming {
    OutboxTiming {
        poll: Duration::from_millis(50),
        lease,
        retry_base: Duration::from_millis(100),
        max_attempts: 3,
    }
}

pub const MAIL_FROM: &str = "Keyward <keyward@example.com>";

/// Turns mail on in `settings`, through `sink`, with quick timing and `public_url`.
pub fn mail_through(settings: &mut Settings, sink: &SmtpSink, public_url: Option<&str>) {
    settings.mail = Some(MailSettings {
        smtp: SmtpUrl::parse(&sink.url()).expect("the sink's URL"),
        password: None,
        from: MAIL_FROM.into(),
    });
    settings.public_url = public_url.map(str::to_string);
    settings.outbox = quick_outbox(Duration::from_secs(10));
}

/// How a `MailWorld`'s server has mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mail {
    /// No sink runs; the server has no mail.
    Off,
    /// A sink runs for the `keyward serve` processes the test starts; the test server
    /// itself has no mail.
    SinkOnly,
    /// The test server mails through the sink.
    On,
}

/// A test server with mail as `mail` says, under `public_url`, and the tenant `acme`;
/// `more` is what the test file seeds on top (its fields read as the world's own).
pub struct MailWorld<More> {
    pub app: TestApp,
    pub sink: Option<SmtpSink>,
    pub tenant: Seeded,
    pub more: More,
}

impl<More> std::ops::Deref for MailWorld<More> {
    type Target = More;
    fn deref(&self) -> &More {
        &self.more
    }
}

impl<More> MailWorld<More> {
    /// `None` when the sink cannot run (outside CI) while `mail` wants one. `seed` adds
    /// what the test file needs on top.
    pub async fn start(
        backend: Backend,
        mail: Mail,
        public_url: Option<&str>,
        customize: impl FnOnce(&mut Settings),
        seed: impl AsyncFnOnce(&TestApp, &Seeded) -> More,
    ) -> Option<Self> {
        let sink = match mail {
            Mail::Off => None,
            Mail::SinkOnly | Mail::On => Some(SmtpSink::start()?),
        };
        let app = TestApp::spawn_with(backend, |s| {
            match (&sink, mail) {
                (Some(sink), Mail::On) => mail_through(s, sink, public_url),
                _ => s.public_url = public_url.map(str::to_string),
            }
            customize(s);
        })
        .await;
        let tenant = app.create_tenant("acme").await;
        let more = seed(&app, &tenant).await;
        Some(MailWorld {
            app,
            sink,
            tenant,
            more,
        })
    }

    pub fn sink(&self) -> &SmtpSink {
        self.sink.as_ref().expect("a sink runs in this world")
    }
}

/// Every row of the outbox.
pub async fn outbox(app: &TestApp) -> Vec<OutboxRow> {
    use diesel::prelude::*;
    app.read(|conn| {
        keyward::db::schema::outbox::table
            .select(OutboxRow::as_select())
            .load(conn)
    })
    .await
}

/// The environment that turns mail on for a `keyward serve` process.
pub fn mail_env(sink: &SmtpSink, public_url: &str, lease_ms: u64) -> Vec<(String, String)> {
    vec![
        ("KEYWARD_SMTP_URL".into(), sink.url()),
        ("KEYWARD_MAIL_FROM".into(), MAIL_FROM.into()),
        ("KEYWARD_PUBLIC_URL".into(), public_url.into()),
        ("KEYWARD_OUTBOX_POLL_MS".into(), "50".into()),
        ("KEYWARD_OUTBOX_LEASE_MS".into(), lease_ms.to_string()),
        ("KEYWARD_OUTBOX_RETRY_BASE_MS".into(), "100".into()),
        // Attempts to spare: a slow machine may time out once more than planned.
        ("KEYWARD_OUTBOX_MAX_ATTEMPTS".into(), "10".into()),
    ]
}
