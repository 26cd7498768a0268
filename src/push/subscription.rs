//! A browser's push subscription, checked once at the edge: an endpoint this server may post to,
//! and keys of the sizes RFC 8291 fixes.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Url;

/// The longest endpoint accepted (real ones are a few hundred characters).
pub const MAX_ENDPOINT: usize = 2048;

/// Why a subscription was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionError {
    /// The endpoint is not an https URL of a public host.
    #[error("{0}")]
    Endpoint(&'static str),
    /// A key is not base64url of the right length.
    #[error("{0}")]
    Keys(&'static str),
}

/// A subscription that passed the rules; its keys are kept in unpadded base64url.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The push service's URL for this browser.
    pub endpoint: String,
    /// The browser's P-256 public key (65 bytes, uncompressed).
    pub p256dh: String,
    /// The 16-byte authentication secret.
    pub auth: String,
}

impl Subscription {
    /// Checks a subscription as a browser sends it. `allow_insecure` (tests only) accepts
    /// `http://` and loopback or private hosts.
    pub fn parse(
        endpoint: &str,
        p256dh: &str,
        auth: &str,
        allow_insecure: bool,
    ) -> Result<Subscription, SubscriptionError> {
        let endpoint = parse_endpoint(endpoint, allow_insecure)?;
        let p256dh = decode_key(p256dh)
            .filter(|k| k.len() == 65 && k[0] == 4)
            .ok_or(SubscriptionError::Keys(
                "keys.p256dh must be an uncompressed P-256 public key (65 bytes), base64url",
            ))?;
        let auth = decode_key(auth)
            .filter(|k| k.len() == 16)
            .ok_or(SubscriptionError::Keys(
                "keys.auth must be 16 bytes, base64url",
            ))?;
        Ok(Subscription {
            endpoint,
            p256dh: URL_SAFE_NO_PAD.encode(p256dh),
            auth: URL_SAFE_NO_PAD.encode(auth),
        })
    }

    /// The endpoint's origin (`https://host[:port]`): the audience of its VAPID token.
    pub fn origin(&self) -> String {
        Url::parse(&self.endpoint)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default()
    }
}

/// Base64url, with or without padding (browsers send it without).
fn decode_key(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()
}

fn parse_endpoint(raw: &str, allow_insecure: bool) -> Result<String, SubscriptionError> {
    const NOT_HTTPS: &str = "endpoint must be an https:// URL of the browser's push service";
    if raw.len() > MAX_ENDPOINT {
        return Err(SubscriptionError::Endpoint(
            "endpoint is longer than 2048 characters",
        ));
    }
    let url = Url::parse(raw).map_err(|_| SubscriptionError::Endpoint(NOT_HTTPS))?;
    let scheme_ok = url.scheme() == "https" || (allow_insecure && url.scheme() == "http");
    if !scheme_ok || !url.username().is_empty() || url.password().is_some() {
        return Err(SubscriptionError::Endpoint(NOT_HTTPS));
    }
    let Some(host) = url.host_str() else {
        return Err(SubscriptionError::Endpoint(NOT_HTTPS));
    };
    let local = match host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        Ok(ip) => is_local(ip),
        Err(_) => {
            let d = host.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost") || !d.contains('.')
        }
    };
    if local && !allow_insecure {
        return Err(SubscriptionError::Endpoint(
            "endpoint must name a public push service, not a local or private address",
        ));
    }
    Ok(url.to_string())
}

/// Loopback, private, link-local, unspecified or otherwise not a public internet address.
fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_local(IpAddr::V4(v4)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P256DH: &str =
        "BGa4N1PI79lboMR_YrwCiCsgp35DRvedt7opHcf0yM3iOBTSoQYqQLwWxAfRKE6tsDnReWmhsImkhDF_DBdkNSU";
    const AUTH: &str = "EvcWjEgzr4rbvhfi3yds0A";

    fn endpoint(e: &str, insecure: bool) -> Result<Subscription, SubscriptionError> {
        Subscription::parse(e, P256DH, AUTH, insecure)
    }

    #[test]
    fn https_endpoints_of_public_hosts_pass_and_give_their_origin() {
        let s = endpoint("https://fcm.googleapis.com/fcm/send/abc", false).unwrap();
        assert_eq!(s.origin(), "https://fcm.googleapis.com");
        let s = endpoint("https://push.example.org:8443/x", false).unwrap();
        assert_eq!(s.origin(), "https://push.example.org:8443");
    }

    #[test]
    fn plain_http_and_local_hosts_pass_only_when_insecure_is_allowed() {
        for e in [
            "http://push.example.org/x",
            "https://127.0.0.1/x",
            "https://10.1.2.3/x",
            "https://[::1]/x",
            "https://localhost/x",
            "https://intranet/x",
            "https://169.254.169.254/latest",
        ] {
            assert!(
                matches!(endpoint(e, false), Err(SubscriptionError::Endpoint(_))),
                "{e}"
            );
        }
        assert!(endpoint("http://127.0.0.1:9/x", true).is_ok());
        for e in [
            "ftp://push.example.org/x",
            "not a url",
            "https://u:p@push.example.org/",
        ] {
            assert!(endpoint(e, true).is_err(), "{e}");
        }
    }

    #[test]
    fn keys_must_have_their_sizes() {
        let e = "https://push.example.org/x";
        assert!(Subscription::parse(e, P256DH, AUTH, false).is_ok());
        assert!(Subscription::parse(e, &format!("{P256DH}="), &format!("{AUTH}=="), false).is_ok());
        for (p, a) in [
            (&P256DH[..40], AUTH),
            (P256DH, &AUTH[..10]),
            ("not base64!", AUTH),
            (P256DH, ""),
        ] {
            assert!(
                matches!(
                    Subscription::parse(e, p, a, false),
                    Err(SubscriptionError::Keys(_))
                ),
                "{p} {a}"
            );
        }
    }
}
