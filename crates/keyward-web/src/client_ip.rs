//! Who the client is and which host it asked for, as far as the server may believe.
//!
//! The address: the peer, unless the peer is a trusted proxy (`--trusted-proxies`); then
//! `X-Forwarded-For` is walked from the right, one hop at a time, for as long as each hop
//! is itself a trusted proxy. The first untrusted address is the client. An entry that is
//! not an address (`unknown`, junk) ends the walk: the client is then the last trusted hop,
//! since nothing to the left of junk was written by a proxy we trust. Entries may carry a
//! port (`203.0.113.7:5555`, `[2001:db8::1]:443`) or brackets (`[2001:db8::1]`).
//!
//! The host and scheme: `X-Forwarded-Host` / `X-Forwarded-Proto` only when the peer is a
//! trusted proxy; otherwise the request's own `Host` and scheme. Links shown to the person
//! who asked (an invitation's dialog) prefer `--public-url` over either; links *mailed*
//! come only from `--public-url` (`services::mail::MailLinks`), never from here. See
//! docs/DECISIONS.md.

use crate::config::Settings;
use actix_web::http::header::{self, HeaderMap};
use actix_web::HttpRequest;
use std::net::{IpAddr, SocketAddr};

pub fn client_ip(req: &HttpRequest, settings: &Settings) -> Option<String> {
    let peer = req.peer_addr()?.ip();
    let forwarded = header_values(req.headers(), "x-forwarded-for");
    Some(client_address(peer, &forwarded, |ip| settings.is_trusted_proxy(ip)).to_string())
}

/// Every comma-separated entry of every `name` header, in order.
fn header_values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(name)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect()
}

/// The client address behind `peer`, given the `X-Forwarded-For` entries (leftmost first).
pub fn client_address(
    peer: IpAddr,
    forwarded_for: &[&str],
    trusted: impl Fn(IpAddr) -> bool,
) -> IpAddr {
    let mut hop = peer.to_canonical();
    for entry in forwarded_for.iter().rev() {
        if !trusted(hop) {
            return hop;
        }
        match parse_hop(entry) {
            Some(ip) => hop = ip.to_canonical(),
            None => return hop,
        }
    }
    hop
}

/// `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:80`.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = entry.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    entry
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.parse::<std::net::Ipv6Addr>().ok())
        .map(IpAddr::V6)
}

/// `scheme://host[:port]` of this request as the server may believe it (see the module
/// docs); `public_url` is not consulted here.
pub fn request_origin(req: &HttpRequest, settings: &Settings) -> String {
    let from_proxy = req
        .peer_addr()
        .is_some_and(|peer| settings.is_trusted_proxy(peer.ip()));
    let forwarded = |name: &str| {
        from_proxy
            .then(|| header_values(req.headers(), name).last().copied())
            .flatten()
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let host = forwarded("x-forwarded-host")
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_else(|| settings.bind.clone());
    let scheme = forwarded("x-forwarded-proto")
        .filter(|p| p.eq_ignore_ascii_case("https") || p.eq_ignore_ascii_case("http"))
        .map(|p| p.to_ascii_lowercase())
        .unwrap_or_else(|| "http".to_string());
    format!("{scheme}://{host}")
}

/// The base of links shown to the person who made the request: `--public-url` when set,
/// else this request's origin. Never for mail (`services::mail::MailLinks`).
pub fn public_base(req: &HttpRequest, settings: &Settings) -> String {
    match &settings.public_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => request_origin(req, settings),
    }
}

#[cfg(test)]
mod tests {
    use super::client_address;
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_client_address_is_the_first_untrusted_hop_from_the_right() {
        let proxies = |i: IpAddr| {
            ["127.0.0.1", "10.0.0.1", "10.0.0.2", "::1"]
                .iter()
                .any(|p| ip(p) == i)
        };
        let nobody = |_: IpAddr| false;
        // (peer, X-Forwarded-For, trusted proxies?, client)
        let table: &[(&str, &str, bool, &str)] = &[
            ("203.0.113.1", "", true, "203.0.113.1"),
            ("203.0.113.1", "6.6.6.6", true, "203.0.113.1"),
            ("127.0.0.1", "6.6.6.6", false, "127.0.0.1"),
            ("127.0.0.1", "", true, "127.0.0.1"),
            ("127.0.0.1", "203.0.113.7", true, "203.0.113.7"),
            (
                "127.0.0.1",
                "6.6.6.6, 203.0.113.7:5555",
                true,
                "203.0.113.7",
            ),
            (
                "127.0.0.1",
                "7.7.7.1, 203.0.113.9:4444",
                true,
                "203.0.113.9",
            ),
            ("127.0.0.1", "[2001:db8::7]:443", true, "2001:db8::7"),
            ("127.0.0.1", "[2001:db8::7]", true, "2001:db8::7"),
            ("127.0.0.1", "2001:db8::7", true, "2001:db8::7"),
            ("::1", "6.6.6.6, 198.51.100.4", true, "198.51.100.4"),
            ("127.0.0.1", "6.6.6.6, unknown", true, "127.0.0.1"),
            ("127.0.0.1", "6.6.6.6, unknown, 10.0.0.2", true, "10.0.0.2"),
            ("127.0.0.1", "unknown, 203.0.113.7", true, "203.0.113.7"),
            (
                "127.0.0.1",
                "6.6.6.6, 203.0.113.7, 10.0.0.2, 10.0.0.1",
                true,
                "203.0.113.7",
            ),
            ("127.0.0.1", "10.0.0.2:80, 10.0.0.1", true, "10.0.0.2"),
            ("127.0.0.1", "6.6.6.6, 203.0.113.7 junk", true, "127.0.0.1"),
            ("127.0.0.1", "6.6.6.6, ", true, "127.0.0.1"),
            ("127.0.0.1", "6.6.6.6, 203.0.113.7", false, "127.0.0.1"),
            // A dual-stack listener sees an IPv4 proxy as IPv4-mapped IPv6; hops too.
            ("::ffff:10.0.0.1", "203.0.113.7", true, "203.0.113.7"),
            (
                "::ffff:10.0.0.1",
                "6.6.6.6, 203.0.113.7, ::ffff:10.0.0.2",
                true,
                "203.0.113.7",
            ),
            ("::ffff:10.0.0.1", "::ffff:203.0.113.7", true, "203.0.113.7"),
            ("::ffff:203.0.113.1", "6.6.6.6", true, "203.0.113.1"),
        ];
        for &(peer, header, trusting, expected) in table {
            let entries: Vec<&str> = if header.is_empty() {
                Vec::new()
            } else {
                header.split(',').map(str::trim).collect()
            };
            let found = if trusting {
                client_address(ip(peer), &entries, proxies)
            } else {
                client_address(ip(peer), &entries, nobody)
            };
            assert_eq!(
                found,
                ip(expected),
                "peer {peer}, X-Forwarded-For {header:?}"
            );
        }
    }
}
