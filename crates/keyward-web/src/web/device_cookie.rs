//! Device cookies (OWASP's defence against password guessing that locks owners out): a
//! browser that signs in gets a cookie naming the account, when it was issued, the
//! account's credential epoch (`guess_limits::credential_epoch`, which changes with the
//! password) and a random nonce, signed (HMAC-SHA256, the `cookie` crate's signed jar)
//! with a key derived from the session secret, so every instance sharing that secret
//! accepts it and nobody else can forge one. At the next sign-in to that account it is a
//! `KnownDevice` with its own allowance of wrong passwords (`services::guess_limits`);
//! for any other account it counts for nothing. The server honours it for `LIFETIME`
//! after it was issued (whatever the browser keeps) and only while the account's password
//! is the one it was issued under: a password change retires every cookie issued before,
//! however many were minted. Each successful sign-in replaces it with a fresh one. One
//! cookie per browser: signing in to another account there makes it that account's.

use crate::config::SessionSecret;
use crate::db::models::Account;
use crate::domain::api_key::random_secret;
use crate::services::guess_limits::{credential_epoch, KnownDevice};
use crate::web::AppState;
use actix_web::cookie::{time::Duration, Cookie, CookieJar, Key, SameSite};
use actix_web::HttpRequest;
use sha2::{Digest, Sha512};

/// How long a browser stays known without signing in again: the cookie's Max-Age, and
/// the age past which the server refuses it whatever the browser kept.
pub const LIFETIME: Duration = Duration::days(180);
/// How far in the future an issue time may be (clocks of instances differ a little).
const SKEW: Duration = Duration::minutes(5);
const VERSION: &str = "v2";

/// The cookie's name: `__Host-` prefixed when cookies are `Secure`.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-keyward_device"
    } else {
        "keyward_device"
    }
}

/// The signing key, derived from the session secret under a label of its own, so a
/// device cookie's signature can never pass as anything the session cookie holds. Its
/// Debug shows nothing.
#[derive(Clone)]
pub struct DeviceCookieKey(Key);

impl std::fmt::Debug for DeviceCookieKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceCookieKey(<redacted>)")
    }
}

impl DeviceCookieKey {
    pub fn derive(secret: &SessionSecret) -> Self {
        let mut hasher = Sha512::new();
        hasher.update(b"keyward device cookie signing key\0");
        hasher.update(secret.expose());
        let bytes = hasher.finalize();
        Self(Key::from(bytes.as_slice()))
    }
}

/// The known device the request's cookie names, if it carries one whose signature holds
/// and that was issued within `LIFETIME`. Whether its epoch is the account's current one
/// is for the service that reads the account (`sign_in::begin_attempt`).
pub fn read(req: &HttpRequest, state: &AppState) -> Option<KnownDevice> {
    let name = cookie_name(state.settings.secure_cookies());
    let mut jar = CookieJar::new();
    jar.add_original(req.cookie(name)?);
    let verified = jar.signed(&state.device_cookies.0).get(name)?;
    parse(verified.value(), unix_time(state.clock.now()))
}

/// A new device cookie for a browser that just signed in to `account`.
pub fn issue(account: &Account, state: &AppState) -> Cookie<'static> {
    let secure = state.settings.secure_cookies();
    let name = cookie_name(secure);
    let value = value(
        &account.id,
        unix_time(state.clock.now()),
        &credential_epoch(account.password_hash.as_deref()),
        &random_secret(32),
    );
    let mut jar = CookieJar::new();
    jar.signed_mut(&state.device_cookies.0)
        .add(Cookie::new(name, value));
    let mut cookie = jar
        .get(name)
        .cloned()
        .unwrap_or_else(|| Cookie::new(name, ""));
    cookie.set_http_only(true);
    cookie.set_secure(secure);
    cookie.set_same_site(SameSite::Strict);
    cookie.set_path("/");
    cookie.set_max_age(LIFETIME);
    cookie
}

fn unix_time(now: time::PrimitiveDateTime) -> i64 {
    now.assume_utc().unix_timestamp()
}

/// What is signed: `v2.<account id>.<issued, Unix seconds>.<epoch>.<nonce>`.
fn value(account_id: &str, issued: i64, epoch: &str, nonce: &str) -> String {
    format!("{VERSION}.{account_id}.{issued}.{epoch}.{nonce}")
}

/// A signed value read back at `now` (Unix seconds): `None` unless well formed, issued
/// at most `LIFETIME` ago and not (beyond `SKEW`) in the future.
fn parse(value: &str, now: i64) -> Option<KnownDevice> {
    let mut parts = value.split('.');
    let (Some(VERSION), Some(account_id), Some(issued), Some(epoch), Some(nonce), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let issued: i64 = issued.parse().ok()?;
    let fresh = now.saturating_sub(issued) <= LIFETIME.whole_seconds()
        && issued.saturating_sub(now) <= SKEW.whole_seconds();
    (fresh && !account_id.is_empty() && !epoch.is_empty() && nonce.len() >= 32).then(|| {
        KnownDevice {
            account_id: account_id.to_string(),
            epoch: epoch.to_string(),
            nonce: nonce.to_string(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;
    const NONCE: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_device_cookie_is_honoured_for_its_lifetime_and_no_longer() {
        let day = Duration::days(1).whole_seconds();
        let at = |issued: i64| parse(&value("acct", issued, "e1", NONCE), NOW);
        let known = at(NOW).expect("a fresh cookie");
        assert_eq!(
            (known.account_id.as_str(), known.epoch.as_str()),
            ("acct", "e1")
        );
        assert!(at(NOW - LIFETIME.whole_seconds()).is_some());
        assert!(at(NOW - LIFETIME.whole_seconds() - 1).is_none(), "too old");
        assert!(at(NOW - 400 * day).is_none(), "far too old");
        assert!(
            at(NOW + 60).is_some(),
            "another instance's clock a little ahead"
        );
        assert!(at(NOW + day).is_none(), "issued in the future");
    }

    #[test]
    fn a_malformed_or_old_format_device_cookie_is_no_cookie() {
        for value in [
            format!("v1.acct.{NONCE}"),
            format!("v2.acct.{NOW}.e1.short"),
            format!("v2.acct.soon.e1.{NONCE}"),
            format!("v2..{NOW}.e1.{NONCE}"),
            format!("v2.acct.{NOW}..{NONCE}"),
            format!("v2.acct.{NOW}.e1.{NONCE}.more"),
        ] {
            assert!(parse(&value, NOW).is_none(), "{value}");
        }
    }
}
