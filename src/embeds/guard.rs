//! Which addresses and URLs the link fetcher may reach.
//!
//! The fetcher runs on the server, inside whatever network the server sits in, at the request
//! of anyone who can post a message: without this guard a link to `http://10.0.0.5/admin` or to
//! a cloud's metadata service would make the server fetch it. So every address a URL leads to
//! (an IP literal, or each address its name resolves to) is checked here before a connection is
//! made, and the connection goes to a checked address only (see [`super::fetch`]). Denied: every
//! range that is not the public internet, in IPv4 and IPv6, and the IPv4 addresses embedded in
//! IPv6 forms that reach them (IPv4-mapped, NAT64). Only `http` and `https`, on ports 80 and 443.
//!
//! Tests fetch from a server on 127.0.0.1 at a random port: [`Guard::allowing`] admits chosen
//! ranges and ports on top of these rules. The production guard, [`Guard::default`], admits
//! nothing extra; the extra ranges are set from test code only (they are no flag or variable).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Why a URL or an address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Not `http` or `https`.
    #[error("scheme {0} is not fetched")]
    Scheme(String),
    /// Not port 80 or 443.
    #[error("port {0} is not fetched")]
    Port(u16),
    /// No host in the URL.
    #[error("no host")]
    NoHost,
    /// An address outside the public internet.
    #[error("address {0} is not public")]
    Address(IpAddr),
}

/// The fetcher's rules: the denied ranges below, plus what tests allow.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    allow: Vec<IpNet>,
    ports: Vec<u16>,
}

/// The ports fetched in production.
const PORTS: [u16; 2] = [80, 443];

impl Guard {
    /// The rules plus `allow` (ranges admitted although denied) and `ports` (admitted besides 80
    /// and 443): for tests against a local server only.
    pub fn allowing(allow: Vec<IpNet>, ports: Vec<u16>) -> Guard {
        Guard { allow, ports }
    }

    /// Whether the fetcher may connect to `ip`.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Refused> {
        if self.allow.iter().any(|net| net.contains(&ip)) || !is_denied(ip) {
            Ok(())
        } else {
            Err(Refused::Address(ip))
        }
    }

    /// Whether the fetcher may fetch `url`: its scheme and port, and its address when the host
    /// is an IP literal (a name is checked when it is resolved).
    pub fn check_url(&self, url: &url::Url) -> Result<(), Refused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused::Scheme(url.scheme().to_owned()));
        }
        let port = url.port_or_known_default().unwrap_or(0);
        if !PORTS.contains(&port) && !self.ports.contains(&port) {
            return Err(Refused::Port(port));
        }
        match url.host() {
            None => Err(Refused::NoHost),
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => Ok(()),
        }
    }
}

/// Whether `ip` is outside the public internet.
pub fn is_denied(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => denied_v4(v4),
        IpAddr::V6(v6) => denied_v6(v6),
    }
}

fn denied_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0 // "this network"
        || a == 10 // private
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || a == 127 // loopback
        || (a == 169 && b == 254) // link-local, cloud metadata (169.254.169.254)
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 192 && b == 168) // private
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224 // multicast, reserved, broadcast
}

fn denied_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // IPv4-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) reach the IPv4 address inside.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return denied_v4(v4);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return denied_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    ip.is_unspecified()
        || ip.is_loopback()
        || s[..4] == [0x100, 0, 0, 0] // discard-only
        || (s[0] & 0xfe00) == 0xfc00 // unique local, incl. fd00:ec2::254 (metadata)
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xff00) == 0xff00 // multicast
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        // IPv4-compatible (::a.b.c.d, deprecated) would reach IPv4 through old stacks.
        || s[..6] == [0, 0, 0, 0, 0, 0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn every_denied_ipv4_range_is_refused_at_both_ends() {
        let ranges = [
            ("0.0.0.0", "0.255.255.255"),
            ("10.0.0.0", "10.255.255.255"),
            ("100.64.0.0", "100.127.255.255"),
            ("127.0.0.0", "127.255.255.255"),
            ("169.254.0.0", "169.254.255.255"),
            ("172.16.0.0", "172.31.255.255"),
            ("192.0.0.0", "192.0.0.255"),
            ("192.0.2.0", "192.0.2.255"),
            ("192.168.0.0", "192.168.255.255"),
            ("198.18.0.0", "198.19.255.255"),
            ("198.51.100.0", "198.51.100.255"),
            ("203.0.113.0", "203.0.113.255"),
            ("224.0.0.0", "239.255.255.255"),
            ("240.0.0.0", "255.255.255.254"),
            ("255.255.255.255", "255.255.255.255"),
        ];
        for (first, last) in ranges {
            assert!(is_denied(ip(first)), "{first}");
            assert!(is_denied(ip(last)), "{last}");
        }
        assert!(is_denied(ip("169.254.169.254")), "cloud metadata");
    }

    #[test]
    fn the_neighbours_of_denied_ipv4_ranges_are_public() {
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.0.3.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "198.51.99.255",
            "203.0.112.255",
            "223.255.255.255",
            "93.184.216.34",
        ] {
            assert!(!is_denied(ip(public)), "{public}");
        }
    }

    #[test]
    fn every_denied_ipv6_range_is_refused() {
        for denied in [
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "::ffff:192.168.1.1",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b::169.254.169.254",
            "fc00::1",
            "fdff:ffff::1",
            "fd00:ec2::254",
            "fe80::1",
            "febf:ffff::1",
            "ff00::1",
            "ff02::1",
            "2001:db8::1",
            "2001:db8:ffff::1",
            "100::1",
            "100::ffff:ffff:ffff:ffff",
            "::127.0.0.1",
        ] {
            assert!(is_denied(ip(denied)), "{denied}");
        }
    }

    #[test]
    fn public_ipv6_and_embedded_public_ipv4_are_allowed() {
        for public in [
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2001:db9::1",
            "fec0::1",
            "100:0:0:1::1",
        ] {
            assert!(!is_denied(ip(public)), "{public}");
        }
    }

    #[test]
    fn urls_need_http_a_standard_port_and_a_public_literal() {
        let guard = Guard::default();
        let check = |u: &str| guard.check_url(&url::Url::parse(u).unwrap());
        assert_eq!(check("https://example.org/x"), Ok(()));
        assert_eq!(check("http://example.org:80/x"), Ok(()));
        assert_eq!(check("https://93.184.216.34/"), Ok(()));
        assert_eq!(
            check("ftp://example.org/"),
            Err(Refused::Scheme("ftp".into()))
        );
        assert_eq!(check("http://example.org:8080/"), Err(Refused::Port(8080)));
        assert_eq!(check("https://example.org:22/"), Err(Refused::Port(22)));
        assert!(matches!(
            check("http://127.0.0.1/"),
            Err(Refused::Address(_))
        ));
        assert!(matches!(check("http://[::1]/"), Err(Refused::Address(_))));
        assert!(matches!(
            check("http://[::ffff:10.0.0.1]/"),
            Err(Refused::Address(_))
        ));
        assert!(matches!(
            check("http://169.254.169.254/latest/meta-data"),
            Err(Refused::Address(_))
        ));
        // The URL parser reads the other spellings of an IPv4 address as that address.
        assert!(matches!(
            check("http://2130706433/"),
            Err(Refused::Address(_))
        ));
        assert!(matches!(check("http://0x7f.1/"), Err(Refused::Address(_))));
    }

    #[test]
    fn a_test_guard_admits_only_what_it_names() {
        let guard = Guard::allowing(vec!["127.0.0.1/32".parse().unwrap()], vec![4567]);
        assert_eq!(guard.check_ip(ip("127.0.0.1")), Ok(()));
        assert!(guard.check_ip(ip("127.0.0.2")).is_err());
        assert!(guard.check_ip(ip("10.0.0.1")).is_err());
        let url = url::Url::parse("http://127.0.0.1:4567/").unwrap();
        assert_eq!(guard.check_url(&url), Ok(()));
        let url = url::Url::parse("http://127.0.0.1:4568/").unwrap();
        assert_eq!(guard.check_url(&url), Err(Refused::Port(4568)));
    }
}
