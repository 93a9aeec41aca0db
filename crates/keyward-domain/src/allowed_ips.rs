//! A key's IP allow-list: the IPv4 and IPv6 ranges it may be used from. Empty means
//! anywhere. Stored as the ranges' canonical text, comma-separated.

use super::InvalidInput;
use ipnet::IpNet;
use std::net::IpAddr;

/// Ranges one key may list (GitHub's and Unkey's allow-lists are of this order).
pub const MAX_ALLOWED_IPS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AllowedIps(Vec<IpNet>);

impl AllowedIps {
    /// Each entry an address (`203.0.113.7`, `2001:db8::1`) or a CIDR range
    /// (`203.0.113.0/24`, `2001:db8::/32`); host bits of a range are cleared.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, InvalidInput> {
        let mut nets: Vec<IpNet> = Vec::new();
        for entry in entries.iter().map(|e| e.as_ref().trim()) {
            if entry.is_empty() {
                continue;
            }
            let net = entry
                .parse::<IpNet>()
                .map(|n| n.trunc())
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    InvalidInput::new(
                        "allowed_ips",
                        format!(
                            "\"{}\" is not an IPv4 or IPv6 address or CIDR range such as 203.0.113.0/24 or 2001:db8::/32",
                            entry.chars().take(60).collect::<String>()
                        ),
                    )
                })?;
            if !nets.contains(&net) {
                nets.push(net);
            }
        }
        if nets.len() > MAX_ALLOWED_IPS {
            return Err(InvalidInput::new(
                "allowed_ips",
                format!(
                    "a key may list at most {MAX_ALLOWED_IPS} ranges, not {}",
                    nets.len()
                ),
            ));
        }
        Ok(Self(nets))
    }

    /// The ranges as a person types them into a form: separated by commas or spaces.
    pub fn parse_typed(text: &str) -> Result<Self, InvalidInput> {
        Self::parse(
            &text
                .split(|c: char| c == ',' || c.is_whitespace())
                .collect::<Vec<_>>(),
        )
    }

    /// The stored form back; entries that no longer parse are dropped (never written).
    pub fn from_stored(text: Option<&str>) -> Self {
        Self(
            text.unwrap_or_default()
                .split(',')
                .filter_map(|s| s.trim().parse().ok())
                .collect(),
        )
    }

    /// `None` for "anywhere".
    pub fn to_stored(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| self.texts().join(","))
    }

    pub fn texts(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }

    pub fn is_anywhere(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether every address this list allows, `outer` allows too ("anywhere" is within
    /// anywhere only).
    pub fn is_within(&self, outer: &AllowedIps) -> bool {
        outer.is_anywhere()
            || (!self.is_anywhere()
                && self
                    .0
                    .iter()
                    .all(|net| outer.0.iter().any(|o| o.contains(net))))
    }

    /// Whether a request from `ip` may use the key. An IPv4 client reached over IPv6
    /// (`::ffff:203.0.113.7`) is matched as the IPv4 address it is.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.0.is_empty() || self.0.iter().any(|net| net.contains(&ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_addresses_of_both_families_are_understood() {
        let list =
            AllowedIps::parse(&["203.0.113.9/24", " 2001:db8::/32", "198.51.100.7"]).unwrap();
        assert_eq!(
            list.to_stored().as_deref(),
            Some("203.0.113.0/24,2001:db8::/32,198.51.100.7/32")
        );
        assert!(list.allows("203.0.113.200".parse().unwrap()));
        assert!(list.allows("::ffff:203.0.113.1".parse().unwrap()));
        assert!(list.allows("2001:db8:1::5".parse().unwrap()));
        assert!(!list.allows("203.0.114.1".parse().unwrap()));
        assert!(!list.allows("2001:db9::1".parse().unwrap()));
        assert_eq!(AllowedIps::from_stored(list.to_stored().as_deref()), list);
    }

    #[test]
    fn a_typed_list_is_split_at_commas_and_spaces() {
        let list =
            AllowedIps::parse_typed("203.0.113.0/24,2001:db8::/32 \n 198.51.100.7, ").unwrap();
        assert_eq!(
            list.texts(),
            ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7/32"]
        );
        assert!(AllowedIps::parse_typed("  ").unwrap().is_anywhere());
    }

    #[test]
    fn junk_is_refused_and_empty_means_anywhere() {
        let e = AllowedIps::parse(&["10.0.0.0/33"]).unwrap_err();
        assert!(e.message.contains("not an IPv4 or IPv6 address"));
        assert!(AllowedIps::parse(&["", " "]).unwrap().is_anywhere());
        assert!(AllowedIps::parse::<&str>(&[])
            .unwrap()
            .allows("192.0.2.1".parse().unwrap()));
    }
}
