//! Link previews of messages: queued on send and edit, fetched in the background, kept with the
//! message and told to its room as `message.embeds`.
//!
//! A send never waits for a preview: it puts a job on a bounded queue ([`QUEUE`]) with
//! `try_send`, and when the queue is full the job is dropped (the message simply shows no
//! preview). [`WORKERS`] tasks take jobs off it. For each of the message's links (at most three,
//! `protocol::links`) a worker uses the fetch of that URL made within the last hour, whether it
//! found something or not, if there is one; the cache is in the store, so it survives a restart
//! and is shared by the nodes of a cluster. Otherwise it fetches (`embeds::Previewer`) and caches
//! the result. The previews are then written to the message only if it still has the body the
//! links came from, so a fetch that ends after an edit or a delete changes nothing; when
//! written, they go to the room on every node over the bus.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

use crate::bus::Event;
use crate::embeds::{Preview, Previewer};
use crate::protocol::links::preview_links;
use crate::protocol::ws::ServerFrame;
use crate::protocol::{EmbedId, MessageId, RoomId, UserId};
use crate::store::{CachedPreview, NewPreview};

use super::{Error, Result, Services};

/// Jobs waiting at most; past that, new messages get no preview until the workers catch up.
pub const QUEUE: usize = 256;
/// Previews fetched at once.
pub const WORKERS: usize = 4;
/// How long a fetch of a URL is reused.
pub const CACHE_SECS: i64 = 3600;

/// A message whose links to preview.
#[derive(Debug)]
struct Job {
    room: RoomId,
    message: MessageId,
    /// The body the links were read from.
    body: String,
    links: Vec<String>,
}

/// The queue of previews to fetch, and the fetcher; off when previews are.
pub struct LinkPreviews {
    queue: Option<mpsc::Sender<Job>>,
    jobs: Mutex<Option<mpsc::Receiver<Job>>>,
    previewer: Option<Previewer>,
}

impl LinkPreviews {
    /// Previews fetched by `previewer`, or none at all.
    pub fn new(previewer: Option<Previewer>) -> LinkPreviews {
        let (tx, rx) = match previewer {
            Some(_) => {
                let (tx, rx) = mpsc::channel(QUEUE);
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };
        LinkPreviews {
            queue: tx,
            jobs: Mutex::new(rx),
            previewer,
        }
    }
}

impl Services {
    /// Queues the previews of a message just posted (or edited): never waits.
    pub(super) fn queue_previews(&self, room: RoomId, message: MessageId, body: &str) {
        let Some(queue) = &self.previews.queue else {
            return;
        };
        let links = preview_links(body);
        if links.is_empty() {
            return;
        }
        let job = Job {
            room,
            message,
            body: body.to_owned(),
            links,
        };
        if queue.try_send(job).is_err() {
            tracing::warn!(message_id = %message, "link preview queue full; no preview");
        }
    }

    /// After an edit: whether the message's links changed, so its previews must be dropped and
    /// fetched again.
    pub(super) fn links_changed(old: &str, new: &str) -> bool {
        preview_links(old) != preview_links(new)
    }

    /// Runs the preview workers until `cancel`; returns at once when previews are off.
    pub async fn run_link_previews(self: Arc<Self>, cancel: CancellationToken) {
        let Some(rx) = self.previews.jobs.lock().await.take() else {
            return;
        };
        let rx = Arc::new(Mutex::new(rx));
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| {
                let (this, rx, cancel) = (self.clone(), rx.clone(), cancel.clone());
                tokio::spawn(async move { this.preview_worker(rx, cancel).await })
            })
            .collect();
        for w in workers {
            let _ = w.await;
        }
    }

    async fn preview_worker(
        &self,
        jobs: Arc<Mutex<mpsc::Receiver<Job>>>,
        cancel: CancellationToken,
    ) {
        loop {
            let job = tokio::select! {
                _ = cancel.cancelled() => return,
                job = async { jobs.lock().await.recv().await } => job,
            };
            let Some(job) = job else { return };
            tokio::select! {
                _ = cancel.cancelled() => return,
                result = self.preview_job(&job) => if let Err(e) = result {
                    tracing::warn!(message_id = %job.message, error = %e, "link previews failed");
                }
            }
        }
    }

    /// Previews a message's links and, if it is unchanged, attaches them and tells its room.
    async fn preview_job(&self, job: &Job) -> Result<()> {
        let fetches = job.links.iter().map(|url| self.cached_or_fetched(url));
        let found: Vec<EmbedId> = futures_util::future::join_all(fetches)
            .await
            .into_iter()
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .collect();
        if found.is_empty() {
            return Ok(());
        }
        let Some(embeds) = self
            .store
            .set_embeds(job.message, &job.body, &found)
            .await?
        else {
            return Ok(());
        };
        self.publish(Event::Room {
            room: job.room,
            frame: ServerFrame::MessageEmbeds {
                room_id: job.room,
                message_id: job.message,
                embeds,
            },
        });
        Ok(())
    }

    /// The preview of `url`: fetched within the hour, or now.
    async fn cached_or_fetched(&self, url: &str) -> Result<Option<EmbedId>> {
        let now = chrono::Utc::now().timestamp();
        let since = now - CACHE_SECS;
        let cached = match self.store.cached_preview(url, since).await? {
            Some(c) => c,
            None => {
                let Some(previewer) = &self.previews.previewer else {
                    return Ok(None);
                };
                let fetched = previewer.preview(url).await.map(into_new_preview);
                let now = chrono::Utc::now().timestamp();
                self.store
                    .insert_preview(url, fetched.as_ref(), now, now - CACHE_SECS)
                    .await?
            }
        };
        Ok(match cached {
            CachedPreview::Found(id) => Some(id),
            CachedPreview::Nothing => None,
        })
    }

    /// The picture of preview `id`, for a member of a room where a message shows it; to anyone
    /// else `embed_not_found`, as if there were none.
    pub async fn embed_image(&self, user: UserId, id: EmbedId) -> Result<(Vec<u8>, String)> {
        self.store
            .embed_image(id, user)
            .await?
            .ok_or(Error::not_found("embed"))
    }
}

fn into_new_preview(p: Preview) -> NewPreview {
    NewPreview {
        title: p.title,
        description: p.description,
        site_name: p.site_name,
        image: p.image.and_then(|(bytes, kind, w, h)| {
            Some((bytes, kind, i32::try_from(w).ok()?, i32::try_from(h).ok()?))
        }),
    }
}

/// How long a browser may keep a preview's picture: its bytes never change under its id.
pub const IMAGE_MAX_AGE: Duration = Duration::from_secs(86_400);
