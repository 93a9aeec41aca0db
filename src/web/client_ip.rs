//! The client's address: the peer, or — only when the peer is a trusted proxy — the
//! nearest untrusted address in `X-Forwarded-For`.

use crate::config::Settings;
use actix_web::HttpRequest;
use std::net::IpAddr;

pub fn client_ip(req: &HttpRequest, settings: &Settings) -> Option<String> {
    let peer = req.peer_addr()?.ip();
    if !settings.is_trusted_proxy(peer) {
        return Some(peer.to_string());
    }
    let forwarded: Vec<IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let ip = forwarded
        .into_iter()
        .rev()
        .find(|ip| !settings.is_trusted_proxy(*ip))
        .unwrap_or(peer);
    Some(ip.to_string())
}
