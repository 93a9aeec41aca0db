//! Device cookies (OWASP's defence against password guessing that locks owners out): a
//! browser that signs in gets a cookie naming the account and a random nonce, signed
//! (HMAC-SHA256, the `cookie` crate's signed jar) with a key derived from the session
//! secret, so every instance sharing that secret accepts it and nobody else can forge one.
//! At the next sign-in to that account it is a `KnownDevice` with its own allowance of
//! wrong passwords (`services::guess_limits`); for any other account it counts for
//! nothing. Each successful sign-in replaces it with a fresh nonce. One cookie per
//! browser: signing in to another account there makes it that account's.

use crate::config::SessionSecret;
use crate::domain::api_key::random_secret;
use crate::services::guess_limits::KnownDevice;
use crate::web::AppState;
use actix_web::cookie::{time::Duration, Cookie, CookieJar, Key, SameSite};
use actix_web::HttpRequest;
use sha2::{Digest, Sha512};

/// How long a browser stays known without signing in again.
pub const LIFETIME: Duration = Duration::days(180);
const VERSION: &str = "v1";

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

/// The known device the request's cookie names, if it carries one whose signature holds.
pub fn read(req: &HttpRequest, state: &AppState) -> Option<KnownDevice> {
    let name = cookie_name(state.settings.secure_cookies());
    let mut jar = CookieJar::new();
    jar.add_original(req.cookie(name)?);
    let verified = jar.signed(&state.device_cookies.0).get(name)?;
    let mut parts = verified.value().split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(VERSION), Some(account_id), Some(nonce), None)
            if !account_id.is_empty() && nonce.len() >= 32 =>
        {
            Some(KnownDevice {
                account_id: account_id.to_string(),
                nonce: nonce.to_string(),
            })
        }
        _ => None,
    }
}

/// A new device cookie for a browser that just signed in to `account_id`.
pub fn issue(account_id: &str, state: &AppState) -> Cookie<'static> {
    let secure = state.settings.secure_cookies();
    let name = cookie_name(secure);
    let value = format!("{VERSION}.{account_id}.{}", random_secret(32));
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
