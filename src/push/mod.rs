//! Web Push: delivering a notification to a browser whose tab is closed (RFC 8030), encrypted
//! for that browser (RFC 8291, `aes128gcm`) and signed with this server's VAPID key (RFC 8292).
//!
//! **What it owns.** The server's VAPID key pair ([`vapid`], generated into the data directory on
//! first start, like the JWT signing key), the rules a subscription must meet ([`Subscription`]),
//! and the one HTTP request per delivery ([`Pusher::send`]): the `web-push` crate encrypts the
//! payload and signs the VAPID token, and the server's own `reqwest` client posts it.
//! **What it does not.** Decide who is notified of what, or store subscriptions: that is
//! `service::push`, which hands this module a subscription and the bytes to deliver and acts on
//! the [`Delivery`] (a gone subscription is deleted).

mod sender;
mod subscription;
pub mod vapid;

pub use sender::{Delivery, Pusher, Urgency};
pub use subscription::{Subscription, SubscriptionError};
pub use vapid::VapidKey;
