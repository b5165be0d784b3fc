//! Who is calling: the client's address, as the connection says it or, behind a proxy this
//! platform trusts (the web gateway, the cluster's ingress), as that proxy says it.
//!
//! Per-source brute-force protection needs the real client: behind an ingress every request
//! comes from the ingress, so counting by peer address locks everyone out at once, and a
//! header anyone can send would let a guesser rotate addresses at will. So `X-Forwarded-For`
//! is read only when the peer is a configured trusted proxy, from the right (the entry the
//! nearest proxy appended) leftwards, skipping further trusted proxies: the first address that
//! is not one of ours is the client.

use std::net::IpAddr;
use std::str::FromStr;

/// An address block, `10.0.0.0/8`, `fd00::/8`, or a single address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl FromStr for Cidr {
    type Err = crate::config::ConfigError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let refused = || crate::config::ConfigError::NotAnAddressBlock {
            text: text.to_owned(),
        };
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network: IpAddr = address.parse().map_err(|_| refused())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(refused)?,
            None => max,
        };
        Ok(Self { network, prefix })
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (ip, network) = match (canonical(ip), canonical(self.network)) {
            (IpAddr::V4(ip), IpAddr::V4(n)) => (
                u128::from(u32::from(ip)) << 96,
                u128::from(u32::from(n)) << 96,
            ),
            (IpAddr::V6(ip), IpAddr::V6(n)) => (u128::from(ip), u128::from(n)),
            _ => return false,
        };
        // IPv4 sits in the top 32 bits, so the prefix counts from the top either way.
        let bits = u32::from(self.prefix);
        let mask = if bits == 0 {
            0
        } else {
            u128::MAX << (128 - bits)
        };
        ip & mask == network & mask
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) are their IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client address a request carries, put in its extensions by the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

/// The client behind `peer`: `peer` itself unless it is a trusted proxy, in which case the
/// rightmost address of `X-Forwarded-For` that is not a trusted proxy.
pub fn resolve(peer: IpAddr, forwarded_for: &[&str], trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    // Several headers are one list, in order.
    let hops: Vec<&str> = forwarded_for
        .iter()
        .flat_map(|h| h.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        // `for=` forms and ports are not what proxies put here; anything unreadable stops the
        // walk at the last trusted hop (counted as the client: never a made-up address).
        let Ok(ip) = hop.parse::<IpAddr>() else {
            return client;
        };
        client = ip;
        if !is_trusted(ip) {
            return ip;
        }
    }
    client
}

/// The caller's address as text, for brute-force keys: the trusted client address when the
/// server resolved one, else the peer address.
pub fn client_address<T>(request: &tonic::Request<T>) -> String {
    if let Some(ClientAddress(ip)) = request.extensions().get::<ClientAddress>() {
        return ip.to_string();
    }
    request
        .remote_addr()
        .map_or_else(|| "unknown".to_owned(), |a| canonical(a.ip()).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn blocks_parse_and_contain() {
        let block: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(block.contains(ip("10.200.3.4")));
        assert!(
            block.contains(ip("::ffff:10.1.1.1")),
            "mapped addresses count"
        );
        assert!(!block.contains(ip("11.0.0.1")));
        let one: Cidr = "192.0.2.7".parse().unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        for bad in ["10.0.0.0/33", "ten", "10.0.0.0/x", "::/129", ""] {
            let err = bad.parse::<Cidr>().unwrap_err();
            assert!(
                err.to_string().contains("expected an address"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn the_forwarded_client_counts_only_behind_a_trusted_proxy() {
        let trusted: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap()];
        // Straight from the internet: the header is whatever the caller wrote — ignored.
        assert_eq!(
            resolve(ip("203.0.113.9"), &["1.2.3.4"], &trusted),
            ip("203.0.113.9")
        );
        // Through the ingress: the address it appended.
        assert_eq!(
            resolve(ip("10.0.0.5"), &["203.0.113.9"], &trusted),
            ip("203.0.113.9")
        );
        // A forged entry on the left is not taken; the ingress's own entry is.
        assert_eq!(
            resolve(ip("10.0.0.5"), &["6.6.6.6, 203.0.113.9"], &trusted),
            ip("203.0.113.9")
        );
        // Gateway behind ingress: both trusted, the client is past them.
        assert_eq!(
            resolve(ip("10.0.0.5"), &["198.51.100.1, 10.0.0.9"], &trusted),
            ip("198.51.100.1")
        );
        // Nothing forwarded, or garbage: the proxy itself (never a made-up address).
        assert_eq!(resolve(ip("10.0.0.5"), &[], &trusted), ip("10.0.0.5"));
        assert_eq!(
            resolve(ip("10.0.0.5"), &["not-an-ip"], &trusted),
            ip("10.0.0.5")
        );
        // No trusted proxies configured: always the peer.
        assert_eq!(
            resolve(ip("10.0.0.5"), &["203.0.113.9"], &[]),
            ip("10.0.0.5")
        );
    }
}
