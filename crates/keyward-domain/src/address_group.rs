//! What a per-address limit counts: an IPv6 client's /64 (one customer's network, where
//! every address is free to take), an IPv4 address itself. An IPv4 address reached over
//! IPv6 (`::ffff:203.0.113.7`) is the IPv4 address; text that is no address (`unknown`)
//! is its own group.

use std::net::{IpAddr, Ipv6Addr};

/// A wider group for limits that cost an attacker nothing per address, such as sign-ins
/// through the OpenID provider left unfinished: an IPv6 client's /48 (a site's whole
/// allocation; a /64 each would let one client take 65,536 shares), an IPv4 address
/// itself.
pub fn wide_address_group(ip: &str) -> String {
    match ip.trim().parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{}/48", Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0))
        }
        _ => address_group(ip),
    }
}

pub fn address_group(ip: &str) -> String {
    match ip.trim().parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let prefix = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{prefix}/64")
            }
        },
        Err(_) => ip.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{address_group, wide_address_group};

    #[test]
    fn wide_groups_take_an_ipv6_clients_48() {
        assert_eq!(wide_address_group("2001:db8:1:2::1"), "2001:db8:1::/48");
        assert_eq!(wide_address_group("2001:db8:1:ffff::9"), "2001:db8:1::/48");
        assert_eq!(wide_address_group("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(wide_address_group("203.0.113.7"), "203.0.113.7");
    }

    #[test]
    fn ipv6_addresses_group_by_their_64_and_ipv4_stays_itself() {
        assert_eq!(address_group("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_eq!(
            address_group("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            "2001:db8:1:2::/64"
        );
        assert_eq!(address_group("2001:db8:1:3::1"), "2001:db8:1:3::/64");
        assert_eq!(address_group("203.0.113.7"), "203.0.113.7");
        assert_eq!(address_group("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(address_group("unknown"), "unknown");
    }
}
