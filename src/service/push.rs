//! Web Push: notifying people whose every tab is closed, of DMs, mentions and DM calls.
//!
//! **When.** A message pushes to each other member of its room who has a subscription, has no
//! open WebSocket session on any node (presence, cluster-wide with Redis), has not blocked the
//! sender, and whom it concerns as the web client's own notifications decide: a message that
//! mentions them, or any DM message, never in a room set to `none` (and DMs set to `mentions`
//! only for mentions). A DM call pushes a `ring` to the callee unless they set the DM to `none`. **How.** Never on the send path: the send enqueues a job on a
//! bounded queue ([`QUEUE`]; when it is full the job is dropped and logged, the send never
//! waits) and one worker task, several jobs at a time, reads the store, asks presence, and posts to
//! every subscription of the job at once ([`crate::push::Pusher`]); a subscription the push service calls gone
//! (404/410) is deleted. **What a push says.** [`PushNotification`]: the room's name and the
//! sender's display name, and the text only for someone who chose to include it.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::join_all;
use futures_util::stream::FuturesUnordered;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::bus::Presence;
use crate::protocol::api::{
    Message, PushKind, PushNotification, PushSettings, PushSubscribeRequest, PushSubscription,
};
use crate::protocol::{NotifyLevel, PresenceStatus, RoomId, RoomKind, UserId};
use crate::push::{Delivery, Pusher, Subscription, SubscriptionError, Urgency};
use crate::store::{PushAudience, PushMember, PushSubscriptionRecord};

use super::{Error, Result, Services};

/// Jobs waiting for the worker before new ones are dropped.
pub const QUEUE: usize = 1024;

/// Jobs the worker delivers at once (see [`Services::push_worker`]).
const CONCURRENT_JOBS: usize = 8;
/// How long a push service keeps a message push for a device that is off.
pub const MESSAGE_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long it keeps a ring: as long as a DM call rings (a late ring is noise).
pub const RING_TTL: Duration = Duration::from_secs(30);
/// The longest text a push carries, in bytes (push services take about 4 KiB, encrypted).
pub const MAX_PREVIEW_BYTES: usize = 1000;

/// Something that may push.
#[derive(Debug)]
enum Job {
    /// A message was stored.
    Message(Box<Message>),
    /// `caller` rings `callee` in the DM `room`.
    Ring {
        room: RoomId,
        caller: UserId,
        callee: UserId,
    },
}

/// The jobs the send path queued, for [`Services::push_worker`].
pub struct PushJobs(mpsc::Receiver<Job>);

/// The push side of the services: the sender, presence, and the queue's writing end.
pub struct Push {
    pusher: Pusher,
    presence: Presence,
    allow_insecure: bool,
    queue: mpsc::Sender<Job>,
}

impl Push {
    /// Pushes through `pusher` to whom `presence` shows offline; `allow_insecure` (tests only)
    /// accepts plain-http and local endpoints.
    pub fn new(pusher: Pusher, presence: Presence, allow_insecure: bool) -> (Push, PushJobs) {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let push = Push {
            pusher,
            presence,
            allow_insecure,
            queue,
        };
        (push, PushJobs(jobs))
    }

    fn enqueue(&self, job: Job) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.queue.try_send(job) {
            tracing::warn!("push queue full: a notification was dropped");
        }
    }
}

fn bad_subscription(e: SubscriptionError) -> Error {
    match e {
        SubscriptionError::Endpoint(m) => Error::invalid("invalid_push_endpoint", m),
        SubscriptionError::Keys(m) => Error::invalid("invalid_push_keys", m),
    }
}

fn listed(r: PushSubscriptionRecord) -> PushSubscription {
    PushSubscription {
        id: r.id,
        endpoint: r.endpoint,
        created_at: r.created_at,
    }
}

/// `text` cut to at most [`MAX_PREVIEW_BYTES`], at a character boundary.
fn preview(text: &str) -> String {
    let mut end = text.len().min(MAX_PREVIEW_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

impl Services {
    /// The VAPID key and `user`'s push settings and subscriptions.
    pub async fn push_settings(&self, user: UserId) -> Result<PushSettings> {
        let subscriptions = self
            .store
            .push_subscriptions(user, chrono::Utc::now().timestamp())
            .await?;
        Ok(PushSettings {
            vapid_public_key: self.push.pusher.public_key().to_owned(),
            include_text: self.store.push_include_text(user).await?,
            subscriptions: subscriptions.into_iter().map(listed).collect(),
        })
    }

    /// `user` chooses whether their notifications carry the message text.
    pub async fn set_push_include_text(&self, user: UserId, on: bool) -> Result<PushSettings> {
        self.store.set_push_include_text(user, on).await?;
        self.push_settings(user).await
    }

    /// `user`'s browser subscribes, from the session of `login`.
    pub async fn subscribe_push(
        &self,
        user: UserId,
        login: Option<Uuid>,
        req: &PushSubscribeRequest,
    ) -> Result<PushSubscription> {
        let sub = Subscription::parse(
            &req.endpoint,
            &req.keys.p256dh,
            &req.keys.auth,
            self.push.allow_insecure,
        )
        .map_err(bad_subscription)?;
        let record = self
            .store
            .save_push_subscription(user, login, (&sub.endpoint, &sub.p256dh, &sub.auth))
            .await?;
        Ok(listed(record))
    }

    /// `user`'s browser unsubscribes; `404 push_subscription_not_found` if it was not theirs.
    pub async fn unsubscribe_push(&self, user: UserId, endpoint: &str) -> Result<()> {
        let endpoint = reqwest::Url::parse(endpoint)
            .map(String::from)
            .unwrap_or_else(|_| endpoint.to_owned());
        if !self.store.delete_push_subscription(user, &endpoint).await? {
            return Err(Error::not_found("push_subscription"));
        }
        Ok(())
    }

    /// A message was stored: queue its pushes.
    pub(super) fn push_message(&self, message: &Message) {
        self.push.enqueue(Job::Message(Box::new(message.clone())));
    }

    /// `caller` started a call in the DM `room` and it rings `callee`: queue their push.
    pub fn push_ring(&self, room: RoomId, caller: UserId, callee: UserId) {
        self.push.enqueue(Job::Ring {
            room,
            caller,
            callee,
        });
    }

    /// The worker: delivers queued pushes, up to [`CONCURRENT_JOBS`] jobs at a time (each
    /// job's deliveries at once), until `shutdown`.
    ///
    /// A job mostly waits: on the store for the room's audience, on presence, on the push
    /// services. One job at a time held the worker to one audience read per message, which a
    /// busy server outruns (at 5,000 messages/s on Postgres the queue filled and notifications
    /// were dropped); the jobs' waits now overlap, in this one task.
    pub async fn push_worker(
        self: Arc<Self>,
        PushJobs(mut jobs): PushJobs,
        shutdown: CancellationToken,
    ) {
        let mut running = FuturesUnordered::new();
        // Until shutdown (or the queue's end) new jobs are taken; those begun are finished.
        let mut open = true;
        loop {
            tokio::select! {
                _ = shutdown.cancelled(), if open => open = false,
                job = jobs.recv(), if open && running.len() < CONCURRENT_JOBS => match job {
                    Some(job) => running.push(self.deliver_logged(job)),
                    None => open = false,
                },
                Some(()) = running.next(), if !running.is_empty() => {}
                else => break,
            }
        }
    }

    /// [`Self::deliver`], its failure logged.
    async fn deliver_logged(&self, job: Job) {
        if let Err(e) = self.deliver(job).await {
            tracing::warn!(error = %e, "push not delivered");
        }
    }

    /// Pushes one job to everyone it concerns.
    async fn deliver(&self, job: Job) -> Result<()> {
        let (room, sender) = match &job {
            Job::Message(m) => (m.room_id, m.sender_id),
            Job::Ring { room, caller, .. } => (*room, *caller),
        };
        let Some(audience) = self.store.push_audience(room, sender).await? else {
            return Ok(());
        };
        let mut wanted: Vec<(&PushMember, Urgency)> = audience
            .members
            .iter()
            .filter_map(|m| wants(&job, &audience, m).map(|u| (m, u)))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let users: Vec<UserId> = wanted.iter().map(|(m, _)| m.user_id).collect();
        // Presence unknown (Redis away): push rather than miss a notification.
        let online: Vec<UserId> = self
            .push
            .presence
            .lookup(&users)
            .await
            .into_iter()
            .filter(|c| c.status != PresenceStatus::Offline)
            .map(|c| c.user)
            .collect();
        wanted.retain(|(m, _)| !online.contains(&m.user_id));
        if wanted.is_empty() {
            return Ok(());
        }
        let sender_name = self.user(sender).await?.display_name;
        let room_name = match audience.kind {
            RoomKind::Dm => sender_name.clone(),
            RoomKind::Group => audience.name.clone(),
        };
        let now = chrono::Utc::now().timestamp();
        let mut sends = Vec::new();
        for (member, urgency) in wanted {
            let names = (audience.kind, room_name.as_str(), sender_name.as_str());
            let note = notification(&job, room, names, member.include_text);
            let payload = serde_json::to_vec(&note).unwrap_or_default();
            let ttl = match job {
                Job::Message(_) => MESSAGE_TTL,
                Job::Ring { .. } => RING_TTL,
            };
            for record in self.store.push_subscriptions(member.user_id, now).await? {
                let payload = payload.clone();
                sends.push(async move {
                    let sub = Subscription {
                        endpoint: record.endpoint,
                        p256dh: record.p256dh,
                        auth: record.auth,
                    };
                    let delivery = self.push.pusher.send(&sub, &payload, ttl, urgency).await;
                    (record.id, delivery)
                });
            }
        }
        for (id, delivery) in join_all(sends).await {
            match delivery {
                Delivery::Accepted => crate::metrics::push_sent(),
                Delivery::Gone => {
                    tracing::debug!(subscription = %id, "push subscription gone");
                    self.store.delete_push_subscription_id(id).await?;
                }
                Delivery::Failed(why) => {
                    tracing::info!(subscription = %id, error = %why, "push failed");
                }
            }
        }
        Ok(())
    }
}

/// Whether `member` is pushed `job`, and how urgently; the same rule as the web client's
/// notifications in an open tab: never at level `none`; a message that mentions them; a DM
/// message unless they set the DM to `mentions`; a ring (urgent: someone is waiting).
fn wants(job: &Job, audience: &PushAudience, member: &PushMember) -> Option<Urgency> {
    let level = member
        .notify
        .as_deref()
        .and_then(|n| n.parse().ok())
        .unwrap_or(NotifyLevel::default_for(audience.members_count));
    if level == NotifyLevel::None {
        return None;
    }
    match job {
        Job::Ring { callee, .. } => (*callee == member.user_id).then_some(Urgency::High),
        Job::Message(m) => {
            let mentioned = m.mentions_room || m.mentions.contains(&member.user_id);
            let dm = audience.kind == RoomKind::Dm && level != NotifyLevel::Mentions;
            (mentioned || dm).then_some(Urgency::Normal)
        }
    }
}

/// What `job` tells one recipient.
fn notification(
    job: &Job,
    room: RoomId,
    (room_kind, room_name, sender): (RoomKind, &str, &str),
    include_text: bool,
) -> PushNotification {
    let (kind, seq, body) = match job {
        Job::Message(m) => (
            PushKind::Message,
            Some(m.seq),
            (include_text && !m.body.is_empty()).then(|| preview(&m.body)),
        ),
        Job::Ring { .. } => (PushKind::Ring, None, None),
    };
    PushNotification {
        kind,
        room_id: room,
        room_kind,
        room_name: room_name.to_owned(),
        sender: sender.to_owned(),
        seq,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::preview;

    #[test]
    fn previews_are_cut_at_a_character_boundary() {
        let long = "é".repeat(800);
        let p = preview(&long);
        assert!(p.len() <= super::MAX_PREVIEW_BYTES);
        assert_eq!(p.chars().count(), 500);
        assert_eq!(preview("short"), "short");
    }
}
