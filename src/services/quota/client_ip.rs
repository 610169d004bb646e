//! The client's IP address, as far as this server can know it.
//!
//! The socket peer is the truth unless it is one of our own reverse proxies
//! (`ATELIER_TRUSTED_PROXIES`). Only then are `X-Forwarded-For` / `X-Real-IP` read, and
//! XFF right to left: each trusted hop vouches for the address it appended, so we walk left
//! while the current hop is trusted and stop at the first address we cannot vouch for. The
//! leftmost entry is whatever the client wrote, which is why actix's
//! `realip_remote_addr()` must not be used. Malformed entries end the walk and never win.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::http::header::HeaderMap;
use ipnetwork::IpNetwork;

/// The resolved client address of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Resolves the client address from the socket peer and, behind trusted proxies, the headers.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNetwork]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    let peer = canonical(peer);
    if !is_trusted(peer) {
        return peer;
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    let mut current = peer;
    if forwarded.is_empty() {
        if let Some(real) = headers
            .get("x-real-ip")
            .and_then(|value| value.to_str().ok())
            .and_then(parse_entry)
        {
            current = real;
        }
        return current;
    }
    for entry in forwarded.iter().rev() {
        if !is_trusted(current) {
            break;
        }
        match parse_entry(entry) {
            Some(ip) => current = ip,
            None => break,
        }
    }
    current
}

/// One XFF entry: `1.2.3.4`, `1.2.3.4:567`, `2001:db8::1`, `[2001:db8::1]:567`.
fn parse_entry(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim();
    if let Ok(ip) = raw.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    raw.parse::<SocketAddr>()
        .ok()
        .map(|addr| canonical(addr.ip()))
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) count as the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The key limits are counted under: the address itself for IPv4, the enclosing
/// `/ipv6_prefix` network for IPv6 (one customer usually holds a whole /64).
pub fn limit_key(ip: IpAddr, ipv6_prefix: u8) -> IpNetwork {
    match ip {
        IpAddr::V4(v4) => IpNetwork::V4(ipnetwork::Ipv4Network::from(v4)),
        IpAddr::V6(v6) => {
            let prefix = ipv6_prefix.min(128);
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            let network = Ipv6Addr::from(u128::from(v6) & mask);
            ipnetwork::Ipv6Network::new(network, prefix)
                .map(IpNetwork::V6)
                .unwrap_or(IpNetwork::V6(ipnetwork::Ipv6Network::from(v6)))
        }
    }
}

/// The client address of a request from `peer` with `headers`, warning once when a proxy
/// that is not trusted forwards addresses.
pub fn of_request(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNetwork]) -> ClientIp {
    warn_once_about_untrusted_forwarding(peer, headers, trusted);
    ClientIp(resolve(peer, headers, trusted))
}

/// A proxy in front of Atelier that is not in `ATELIER_TRUSTED_PROXIES` makes every client
/// look like the proxy (one shared limit for everyone): say so once, loudly.
fn warn_once_about_untrusted_forwarding(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNetwork]) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    let forwarded = headers.contains_key("x-forwarded-for") || headers.contains_key("x-real-ip");
    let peer = canonical(peer);
    if forwarded
        && !trusted.iter().any(|net| net.contains(peer))
        && !WARNED.swap(true, Ordering::Relaxed)
    {
        tracing::warn!(
            %peer,
            "a request carries X-Forwarded-For/X-Real-IP from a peer that is not a trusted \
             proxy; the header is ignored and the peer address is used. If Atelier runs \
             behind a reverse proxy, add its address to ATELIER_TRUSTED_PROXIES"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn table_of_cases() {
        let proxies = crate::base::config::parse_cidrs("127.0.0.1/32, 10.0.0.0/8").expect("cidrs");
        let none: Vec<IpNetwork> = vec![];
        // (peer, headers, trusted, expected)
        type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a [IpNetwork], &'a str);
        let cases: Vec<Case> = vec![
            // No trusted proxies: headers are ignored whatever they say.
            (
                "198.51.100.7",
                vec![("x-forwarded-for", "203.0.113.9")],
                &none,
                "198.51.100.7",
            ),
            (
                "127.0.0.1",
                vec![("x-real-ip", "203.0.113.9")],
                &none,
                "127.0.0.1",
            ),
            // Untrusted peer behind configured proxies: still the peer.
            (
                "198.51.100.7",
                vec![("x-forwarded-for", "203.0.113.9")],
                &proxies,
                "198.51.100.7",
            ),
            // Trusted peer: rightmost untrusted entry wins, spoofed leftmost entries lose.
            (
                "127.0.0.1",
                vec![("x-forwarded-for", "203.0.113.9")],
                &proxies,
                "203.0.113.9",
            ),
            (
                "127.0.0.1",
                vec![("x-forwarded-for", "1.1.1.1, 203.0.113.9")],
                &proxies,
                "203.0.113.9",
            ),
            (
                "127.0.0.1",
                vec![("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.1.2.3")],
                &proxies,
                "203.0.113.9",
            ),
            // Several XFF headers are one list, in order.
            (
                "127.0.0.1",
                vec![
                    ("x-forwarded-for", "1.1.1.1"),
                    ("x-forwarded-for", "203.0.113.5"),
                ],
                &proxies,
                "203.0.113.5",
            ),
            // Ports and brackets.
            (
                "127.0.0.1",
                vec![("x-forwarded-for", "203.0.113.9:4431")],
                &proxies,
                "203.0.113.9",
            ),
            (
                "127.0.0.1",
                vec![("x-forwarded-for", "[2001:db8::1]:443")],
                &proxies,
                "2001:db8::1",
            ),
            (
                "127.0.0.1",
                vec![("x-forwarded-for", "2001:db8::2")],
                &proxies,
                "2001:db8::2",
            ),
            // Malformed values never win: the walk stops at the last hop we trust.
            (
                "127.0.0.1",
                vec![("x-forwarded-for", "not-an-ip")],
                &proxies,
                "127.0.0.1",
            ),
            (
                "127.0.0.1",
                vec![("x-forwarded-for", "203.0.113.9, garbage")],
                &proxies,
                "127.0.0.1",
            ),
            (
                "127.0.0.1",
                vec![("x-forwarded-for", "")],
                &proxies,
                "127.0.0.1",
            ),
            (
                "127.0.0.1",
                vec![("x-forwarded-for", ",,,")],
                &proxies,
                "127.0.0.1",
            ),
            (
                "127.0.0.1",
                vec![("x-forwarded-for", "999.1.1.1")],
                &proxies,
                "127.0.0.1",
            ),
            // All hops trusted: the leftmost trusted hop.
            (
                "127.0.0.1",
                vec![("x-forwarded-for", "10.0.0.1, 10.0.0.2")],
                &proxies,
                "10.0.0.1",
            ),
            // X-Real-IP only when there is no XFF, only from a trusted peer.
            (
                "127.0.0.1",
                vec![("x-real-ip", "198.51.100.3")],
                &proxies,
                "198.51.100.3",
            ),
            (
                "127.0.0.1",
                vec![("x-real-ip", "bogus")],
                &proxies,
                "127.0.0.1",
            ),
            (
                "127.0.0.1",
                vec![
                    ("x-real-ip", "198.51.100.3"),
                    ("x-forwarded-for", "203.0.113.1"),
                ],
                &proxies,
                "203.0.113.1",
            ),
            // IPv4-mapped IPv6 peers count as IPv4.
            (
                "::ffff:127.0.0.1",
                vec![("x-forwarded-for", "203.0.113.4")],
                &proxies,
                "203.0.113.4",
            ),
        ];
        for (peer, pairs, trusted, expected) in cases {
            assert_eq!(
                resolve(ip(peer), &headers(&pairs), trusted),
                ip(expected),
                "peer {peer} headers {pairs:?}"
            );
        }
    }

    #[test]
    fn ipv6_groups_by_prefix() {
        let a = limit_key(ip("2001:db8:1:2:aaaa::1"), 64);
        let b = limit_key(ip("2001:db8:1:2:bbbb::9"), 64);
        let c = limit_key(ip("2001:db8:1:3::1"), 64);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.to_string(), "2001:db8:1:2::/64");
        assert_eq!(
            limit_key(ip("203.0.113.9"), 64).to_string(),
            "203.0.113.9/32"
        );
        assert_eq!(limit_key(ip("2001:db8::1"), 128).prefix(), 128);
    }
}
