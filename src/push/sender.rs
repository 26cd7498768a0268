//! One push delivery: encrypt, sign, post, and say what the push service answered.

use std::time::Duration;

use web_push::{ContentEncoding, SubscriptionInfo, WebPushMessageBuilder};

use super::{Subscription, VapidKey};

/// How long one delivery may take before it counts as failed.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// How soon the push service should wake the device (RFC 8030 `Urgency`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    /// Deliver soon, as for chat messages.
    Normal,
    /// Deliver at once, waking the device: an incoming call.
    High,
}

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The push service accepted it.
    Accepted,
    /// The subscription ended (404 or 410): delete it.
    Gone,
    /// Anything else (refused, unreachable, timed out): kept, tried again next time.
    Failed(String),
}

/// Sends pushes signed with this server's VAPID key.
#[derive(Debug, Clone)]
pub struct Pusher {
    key: VapidKey,
    subject: String,
    client: reqwest::Client,
}

impl Pusher {
    /// A sender signing with `key`, naming `subject` (`mailto:` or `https:`) as its contact.
    pub fn new(key: VapidKey, subject: String) -> Pusher {
        let client = reqwest::Client::builder()
            .timeout(SEND_TIMEOUT)
            // A push service answers; it does not send us elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Pusher {
            key,
            subject,
            client,
        }
    }

    /// The VAPID public key browsers subscribe with.
    pub fn public_key(&self) -> &str {
        self.key.public_key()
    }

    /// Delivers `payload` to `sub`: encrypted for it (RFC 8291 `aes128gcm`), with a VAPID token
    /// whose audience is the endpoint's origin, to be kept by the push service for `ttl` at most.
    pub async fn send(
        &self,
        sub: &Subscription,
        payload: &[u8],
        ttl: Duration,
        urgency: Urgency,
    ) -> Delivery {
        let request = match self.request(sub, payload, ttl, urgency) {
            Ok(r) => r,
            Err(e) => return Delivery::Failed(e.to_string()),
        };
        match request.send().await {
            Ok(r) if r.status().is_success() => Delivery::Accepted,
            Ok(r) if matches!(r.status().as_u16(), 404 | 410) => Delivery::Gone,
            Ok(r) => Delivery::Failed(format!("push service answered {}", r.status())),
            Err(e) => Delivery::Failed(e.to_string()),
        }
    }

    /// The encrypted, signed request; `web-push` does the cryptography, `reqwest` the posting.
    fn request(
        &self,
        sub: &Subscription,
        payload: &[u8],
        ttl: Duration,
        urgency: Urgency,
    ) -> Result<reqwest::RequestBuilder, web_push::WebPushError> {
        let info = SubscriptionInfo::new(
            sub.endpoint.as_str(),
            sub.p256dh.as_str(),
            sub.auth.as_str(),
        );
        let origin = sub.origin();
        let mut signature = self.key.signer().add_sub_info(&info);
        signature.add_claim("sub", self.subject.as_str());
        // web-push's default audience drops the port; RFC 8292 wants the origin.
        signature.add_claim("aud", origin.as_str());
        let mut message = WebPushMessageBuilder::new(&info);
        message.set_payload(ContentEncoding::Aes128Gcm, payload);
        message.set_ttl(u32::try_from(ttl.as_secs()).unwrap_or(u32::MAX));
        message.set_urgency(match urgency {
            Urgency::Normal => web_push::Urgency::Normal,
            Urgency::High => web_push::Urgency::High,
        });
        message.set_vapid_signature(signature.build()?);
        let message = message.build()?;
        let mut request = self
            .client
            .post(sub.endpoint.as_str())
            .header("TTL", message.ttl.to_string());
        if let Some(urgency) = message.urgency {
            request = request.header("Urgency", urgency.to_string());
        }
        if let Some(payload) = message.payload {
            request = request
                .header("Content-Encoding", payload.content_encoding.to_str())
                .header("Content-Type", "application/octet-stream");
            for (name, value) in payload.crypto_headers {
                request = request.header(name, value);
            }
            request = request.body(payload.content);
        }
        Ok(request)
    }
}
