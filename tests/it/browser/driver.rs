//! One chromedriver per test (a port it picks itself, its own profile directories, killed with its
//! browsers when the test ends) and the page helpers the browser tests share: waiting,
//! axe-core, overflow at 390 px and screenshots.

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The axe-core build vendored from npm (tests/vendor/axe-core).
const AXE: &str = include_str!("../../vendor/axe-core/axe.min.js");

const CHROME_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--disable-dev-shm-usage",
];

fn find_on_path(name: &str) -> Option<PathBuf> {
    if let Ok(explicit) = std::env::var(format!(
        "KEYWARD_TEST_{}",
        name.to_uppercase().replace('-', "_")
    )) {
        return Some(PathBuf::from(explicit));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// A running chromedriver. Dropping it kills its process group: the driver and every
/// Chromium it started (they share the group), and removes the profile directories.
/// At most two Chromiums at once, whatever the test threads: a 2-core CI machine runs
/// them without timeouts, and the rest of the suite runs beside them.
static SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

pub struct Chrome {
    _slot: tokio::sync::SemaphorePermit<'static>,
    _heavy: tokio::sync::RwLockReadGuard<'static, ()>,
    child: Child,
    port: u16,
    dir: PathBuf,
    chromium: PathBuf,
    sessions: std::sync::atomic::AtomicUsize,
}

impl Chrome {
    /// Starts chromedriver, or says the browser tests are skipped (never with `CI=true`).
    pub async fn start() -> Option<Chrome> {
        let driver = find_on_path("chromedriver");
        let chromium = find_on_path("chromium").or_else(|| find_on_path("google-chrome"));
        let (Some(driver), Some(chromium)) = (driver, chromium) else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("chromedriver or chromium is missing but CI=true: browser tests must not be skipped in CI");
            }
            eprintln!("skipped in Chromium: chromedriver or chromium is not installed");
            return None;
        };
        let heavy = crate::support::HEAVY.read().await;
        let slot = SLOTS.acquire().await.unwrap();
        let dir = std::env::temp_dir().join(format!("keyward-chrome-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        // Port 0: chromedriver binds a free port itself and prints it. A port picked here
        // and handed over could be taken in between (by another test's server or an
        // outgoing connection), and the driver would fail to listen.
        let mut command = Command::new(driver);
        command
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command.spawn().expect("chromedriver starts");
        let stdout = child.stdout.take().expect("chromedriver's stdout");
        let (port_found, port_printed) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            let (mut seen, mut port) = (Vec::new(), None);
            let mut lines = std::io::BufReader::new(stdout).lines();
            for line in lines.by_ref().map_while(Result::ok) {
                port = line
                    .strip_prefix("ChromeDriver was started successfully on port ")
                    .and_then(|rest| rest.trim_end_matches('.').parse::<u16>().ok());
                if port.is_some() {
                    break;
                }
                seen.push(line);
            }
            // No port when the driver exited first: what it printed says why.
            let _ = port_found.send(port.ok_or(seen));
            // Drain until the driver exits, so it never blocks on a full pipe.
            lines.for_each(drop);
        });
        let chrome = |port| Chrome {
            _slot: slot,
            _heavy: heavy,
            child,
            port,
            dir,
            chromium,
            sessions: Default::default(),
        };
        let found =
            tokio::task::spawn_blocking(move || port_printed.recv_timeout(Duration::from_secs(20)))
                .await
                .unwrap();
        let chrome = match found {
            Ok(Ok(port)) => chrome(port),
            Ok(Err(printed)) => {
                drop(chrome(0));
                panic!("chromedriver exited without listening; it printed: {printed:?}")
            }
            Err(_) => {
                drop(chrome(0));
                panic!("chromedriver did not say which port it listens on within 20 s")
            }
        };
        Some(chrome)
    }

    /// A new browser session with its own fresh profile (cookies, storage).
    pub async fn page(&self, base: &str, javascript: bool) -> Page {
        let n = self
            .sessions
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let profile = self.dir.join(format!("profile-{n}"));
        let mut args: Vec<String> = CHROME_FLAGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        args.push("--window-size=1280,900".into());
        let mut options = json!({ "binary": self.chromium, "args": args });
        if !javascript {
            options["prefs"] = json!({ "profile.managed_default_content_settings.javascript": 2 });
        }
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), options);
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a Chromium session");
        Page {
            client,
            base: base.trim_end_matches('/').to_string(),
        }
    }
}

impl Drop for Chrome {
    fn drop(&mut self) {
        // The whole group: chromedriver and the browsers it started, by our child's id.
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg("--")
            .arg(format!("-{}", self.child.id()))
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub struct Page {
    pub client: Client,
    pub base: String,
}

const WAIT: Duration = Duration::from_secs(30);

impl Page {
    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{}", self.base, path))
            .await
            .unwrap();
    }

    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    pub async fn css(&self, selector: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(selector))
            .await
        {
            Ok(el) => el,
            Err(e) => panic!(
                "no {selector} on {}: {e}; {}",
                self.path().await,
                self.state().await
            ),
        }
    }

    pub async fn exists(&self, selector: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(selector))
            .await
            .unwrap()
            .is_empty()
    }

    pub async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// Waits until `script` (an expression) is truthy; while it throws (say, on a page
    /// still loading), it is not.
    pub async fn until(&self, what: &str, script: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            // A page still loading may not have what the script reads yet: that is
            // "not yet", not an error.
            let v = self
                .js(&format!(
                    "try {{ return !!({script}); }} catch (e) {{ return false; }}"
                ))
                .await;
            if v == Value::Bool(true) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what} ({script}) on {}; {}",
                    self.path().await,
                    self.state().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn text(&self, selector: &str) -> String {
        self.css(selector).await.text().await.unwrap()
    }

    pub async fn fill(&self, selector: &str, value: &str) {
        let el = self.css(selector).await;
        el.clear().await.unwrap();
        el.send_keys(value).await.unwrap();
    }

    /// Clicks the element (flashes sit at the top of the page, in the flow, so none
    /// covers what a test clicks).
    pub async fn click(&self, selector: &str) {
        self.css(selector).await.click().await.unwrap();
    }

    pub async fn focused(&self) -> String {
        self.js(
            "var e = document.activeElement; return e ? (e.id || e.tagName.toLowerCase()) : '';",
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Sends a key to whatever has focus (found again if the page replaced it meanwhile).
    pub async fn press(&self, key: fantoccini::key::Key) {
        let mut tries = 0;
        loop {
            let el = self.client.active_element().await.unwrap();
            match el.send_keys(&key.to_string()).await {
                Ok(()) => return,
                Err(e) if tries < 5 && e.to_string().contains("stale") => tries += 1,
                Err(e) => panic!("pressing a key: {e}"),
            }
        }
    }

    /// Focuses `selector` and presses `key` on it, as a keyboard user would after
    /// tabbing there; again if a list refresh replaced the element meanwhile.
    pub async fn press_on(&self, selector: &str, key: fantoccini::key::Key) {
        let mut tries = 0;
        loop {
            let el = self.css(selector).await;
            match el.send_keys(&key.to_string()).await {
                Ok(()) => return,
                Err(e) if tries < 5 && e.to_string().contains("stale") => tries += 1,
                Err(e) => panic!("pressing a key on {selector}: {e}"),
            }
        }
    }

    /// Runs axe-core on the current page (its source injected through WebDriver, which the
    /// page's CSP does not apply to) and fails on serious or critical violations.
    pub async fn axe(&self, label: &str) {
        let loaded = self.js("return typeof window.axe !== 'undefined';").await;
        if loaded != Value::Bool(true) {
            self.client.execute(AXE, vec![]).await.unwrap();
        }
        let result = self
            .client
            .execute_async(
                "var done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] }).then(function (r) {
                   done(r.violations.filter(function (v) {
                     return v.impact === 'serious' || v.impact === 'critical';
                   }).map(function (v) {
                     return v.id + ': ' + v.help + ' at ' + v.nodes.slice(0, 3).map(function (n) {
                       return n.target.join(' ');
                     }).join(', ');
                   }));
                 }, function (e) { done(['axe failed: ' + e]); });",
                vec![],
            )
            .await
            .unwrap();
        let violations: Vec<String> = serde_json::from_value(result).unwrap();
        assert!(
            violations.is_empty(),
            "axe finds serious violations on {label} ({}):\n{}",
            self.path().await,
            violations.join("\n")
        );
    }

    /// Whether the document is wider than the window (horizontal overflow).
    pub async fn overflows(&self) -> bool {
        self.js(
            "return document.documentElement.scrollWidth > document.documentElement.clientWidth;",
        )
        .await
            == Value::Bool(true)
    }

    /// Saves a screenshot as target/screenshots/{name}.png.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// axe, a screenshot, then the same at 390 px wide with no horizontal overflow.
    pub async fn check(&self, name: &str) {
        self.axe(name).await;
        self.screenshot(name).await;
        self.client.set_window_size(390, 844).await.unwrap();
        let overflow = self.overflows().await;
        let widest = if overflow {
            self.js(
                "var w = document.documentElement.clientWidth, out = [];
                 document.querySelectorAll('body *').forEach(function (e) {
                   var r = e.getBoundingClientRect();
                   if (r.right > w + 1 && !e.closest('.overflow-auto')) out.push(e.tagName + '#' + e.id + '.' + e.className);
                 });
                 return out.slice(0, 5).join(', ');",
            )
            .await
            .to_string()
        } else {
            String::new()
        };
        self.screenshot(&format!("{name}-390")).await;
        self.axe(&format!("{name} at 390 px")).await;
        self.client.set_window_size(1280, 900).await.unwrap();
        assert!(!overflow, "{name} overflows at 390 px: {widest}");
    }

    /// Clicks Create and waits for the key form (a dialog, or the page without JS).
    pub async fn open_key_form(&self) {
        self.click("#create-api-key").await;
        self.until("the key form", "document.getElementById('key-name')")
            .await;
    }

    /// Names the key in the open form, creates it, waits for it to be shown once, and
    /// closes with Done until its row is listed.
    pub async fn finish_key(&self, name: &str) {
        self.fill("#key-name", name).await;
        self.click("#create-api-key-submit").await;
        self.until("the key", "document.getElementById('new-api-key')")
            .await;
        self.click("#api-key-created-done").await;
        self.until("its row", &row_of(name)).await;
        // Focus goes back to the button that opened the dialog (issue 31).
        self.until(
            "focus back on Create",
            "document.activeElement && document.activeElement.id === 'create-api-key'",
        )
        .await;
    }

    /// Deletes the listed key through its trash icon and confirmation.
    pub async fn delete_key(&self, name: &str) {
        self.click(&format!(
            "[data-key-name=\"{name}\"] [data-action=delete-api-key]"
        ))
        .await;
        self.click("#confirm-delete-api-key").await;
        self.until(
            "row gone",
            &format!("document.getElementById('api-keys') && !{}", row_of(name)),
        )
        .await;
    }

    /// Records dialog and htmx events in `window.__log`, which failure messages show.
    pub async fn record_events(&self) {
        self.js(
            "window.__log = [];
             var log = function (m) { window.__log.push(Math.round(performance.now()) + ' ' + m); };
             ['htmx:before:request', 'htmx:after:swap', 'htmx:after:request'].forEach(function (n) {
               document.addEventListener(n, function (e) {
                 var c = e.detail && e.detail.ctx;
                 log(n + ' ' + (c && c.target && c.target.id) + ' ' + (c && c.request && c.request.action));
               });
             });
             var d = document.getElementById('dialog');
             d.addEventListener('close', function () { log('close'); });
             d.addEventListener('cancel', function () { log('cancel'); });
             document.addEventListener('keydown', function (e) { log('keydown ' + e.key + ' on ' + (e.target.id || e.target.tagName)); }, true);
             document.addEventListener('click', function (e) { log('click on ' + (e.target.id || e.target.tagName)); }, true);",
        )
        .await;
    }

    /// What a failure message shows: the dialog, the focus, the toasts.
    async fn state(&self) -> String {
        self.js(
            "var d = document.getElementById('dialog');
             return 'dialog open: ' + (d && d.open) + ', dialog: ' + (d ? d.innerText.slice(0, 200) : '') +
               ', focus: ' + (document.activeElement && document.activeElement.outerHTML.slice(0, 120)) +
               ', toasts: ' + (document.getElementById('toasts') || {}).innerText +
               ', log: ' + (window.__log || []).join(' | ');",
        )
        .await
        .to_string()
    }

    pub async fn source(&self) -> String {
        self.client.source().await.unwrap()
    }

    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

/// A test that fails with a page open leaves what the page showed at that moment:
/// `target/screenshots/failed-{test}-{n}.png` and the page's HTML beside it, named in
/// the test's output, so a failure in CI can be read from its log and artefacts.
impl Drop for Page {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        // Only a multi-threaded runtime (every browser test's) lets this thread block.
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return;
        }
        static FAILURES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = FAILURES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let test = std::thread::current()
            .name()
            .unwrap_or("test")
            .replace("::", "-");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        let stem = dir.join(format!("failed-{test}-{n}"));
        let client = self.client.clone();
        let save = async move {
            let png = client.screenshot().await.ok()?;
            let html = client.source().await.unwrap_or_default();
            std::fs::create_dir_all(&dir).ok()?;
            std::fs::write(stem.with_extension("png"), png).ok()?;
            std::fs::write(stem.with_extension("html"), html).ok()?;
            Some(stem)
        };
        let saved = tokio::task::block_in_place(|| {
            handle.block_on(tokio::time::timeout(Duration::from_secs(10), save))
        });
        match saved {
            Ok(Some(stem)) => {
                eprintln!("the page at the failure: {}.png and .html", stem.display())
            }
            _ => eprintln!("the page at the failure could not be saved"),
        }
    }
}

/// A script expression: the key row named `name`.
pub fn row_of(name: &str) -> String {
    format!("document.querySelector('[data-key-name=\"{name}\"]')")
}

/// Ada: Admin of "acme", User of "globex"; returns (acme id, globex id).
pub async fn ada_in_two_tenants(app: &crate::support::TestApp) -> (String, String) {
    use keyward::domain::Role;
    let acme = app.create_tenant("acme").await;
    let globex = app.create_tenant("globex").await;
    let ada = app
        .create_person("ada@example.com", &acme.id, Role::Admin)
        .await;
    app.add_member(&ada.id, &globex.id, Role::User).await;
    (acme.id, globex.id)
}
