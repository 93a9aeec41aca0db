//! A short, readable name for a client from its user agent ("Chrome on Linux", "curl 7.88",
//! "keyward-cli 0.1"), as GitHub's and GitLab's session lists show one: the full string
//! stays available (the dashboard puts it in a tooltip). A small hand-written parser, not
//! a user-agent database: it names the browsers and operating systems people use and
//! otherwise the first `product/version` token, which is how API clients identify.

/// The longest name this returns, in characters (an unknown product name is cut).
pub const MAX_CLIENT_NAME_CHARS: usize = 40;

/// The short name of the client that sent `user_agent`.
pub fn client_name(user_agent: &str) -> String {
    let ua = user_agent.trim();
    if ua.is_empty() {
        return "unknown".to_string();
    }
    if ua.starts_with("Mozilla/") {
        if let Some(browser) = browser(ua) {
            return match os(ua) {
                Some(os) => format!("{browser} on {os}"),
                None => browser.to_string(),
            };
        }
    }
    let first = ua.split_whitespace().next().unwrap_or(ua);
    let named = match first.split_once('/') {
        Some((product, version)) if !product.is_empty() => {
            let version = short_version(version);
            if version.is_empty() {
                product.to_string()
            } else {
                format!("{product} {version}")
            }
        }
        _ => first.to_string(),
    };
    cut(&named)
}

/// The browser, in the order that tells them apart (Edge and Opera also say "Chrome",
/// Chrome also says "Safari").
fn browser(ua: &str) -> Option<&'static str> {
    const BROWSERS: [(&str, &str); 7] = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("HeadlessChrome/", "Headless Chrome"),
        ("Chromium/", "Chromium"),
        ("Chrome/", "Chrome"),
        ("CriOS/", "Chrome"),
    ];
    BROWSERS
        .iter()
        .find(|(token, _)| ua.contains(token))
        .map(|(_, name)| *name)
        .or_else(|| (ua.contains("Safari/") && ua.contains("Version/")).then_some("Safari"))
}

fn os(ua: &str) -> Option<&'static str> {
    const SYSTEMS: [(&str, &str); 8] = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("CrOS", "ChromeOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Macintosh", "macOS"),
        ("Linux", "Linux"),
    ];
    SYSTEMS
        .iter()
        .find(|(token, _)| ua.contains(token))
        .map(|(_, name)| *name)
}

/// "7.88.1" → "7.88"; "0.1.0-beta" → "0.1"; anything not starting with a digit is dropped.
fn short_version(version: &str) -> String {
    let numeric: String = version
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    numeric
        .split('.')
        .filter(|p| !p.is_empty())
        .take(2)
        .collect::<Vec<_>>()
        .join(".")
}

fn cut(s: &str) -> String {
    if s.chars().count() <= MAX_CLIENT_NAME_CHARS {
        s.to_string()
    } else {
        let mut short: String = s.chars().take(MAX_CLIENT_NAME_CHARS - 1).collect();
        short.push('…');
        short
    }
}

#[cfg(test)]
mod tests {
    use super::{client_name, MAX_CLIENT_NAME_CHARS};

    #[test]
    fn browsers_read_as_the_browser_on_the_system() {
        let cases = [
            ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "Chrome on Linux"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91", "Edge on Windows"),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14.2; rv:121.0) Gecko/20100101 Firefox/121.0", "Firefox on macOS"),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15", "Safari on macOS"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1", "Safari on iOS"),
            ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36", "Chrome on Android"),
            ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36", "Headless Chrome on Linux"),
        ];
        for (ua, name) in cases {
            assert_eq!(client_name(ua), name, "{ua}");
        }
    }

    #[test]
    fn api_clients_read_as_product_and_short_version() {
        assert_eq!(client_name("curl/7.88.1"), "curl 7.88");
        assert_eq!(client_name("keyward-cli/0.1.0"), "keyward-cli 0.1");
        assert_eq!(
            client_name("python-requests/2.31.0"),
            "python-requests 2.31"
        );
        assert_eq!(client_name("Go-http-client/1.1"), "Go-http-client 1.1");
        assert_eq!(client_name("prefect/beta"), "prefect");
        assert_eq!(client_name("unknown"), "unknown");
        assert_eq!(client_name("  "), "unknown");
        assert_eq!(client_name("Mozilla/5.0 (compatible)"), "Mozilla 5.0");
    }

    #[test]
    fn a_long_unknown_name_is_cut() {
        let long = "x".repeat(280);
        let name = client_name(&long);
        assert_eq!(name.chars().count(), MAX_CLIENT_NAME_CHARS);
        assert!(name.ends_with('…'));
    }
}
