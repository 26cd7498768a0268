//! Link previews: the per-URL cache of fetches and the previews each message shows.
//!
//! A fetch of a URL is one `link_previews` row, kept whether it found something to show or not,
//! so the same URL is fetched at most once an hour however often it is linked (and the answer
//! survives a restart). A message's previews are `message_embeds` rows pointing at those, in
//! the order of its links; they are written only while the message still has the body the
//! links were read from (the row is locked by an `UPDATE`, as reactions do), so a fetch that
//! finishes after an edit or a delete changes nothing. Pictures are kept in the row: a preview's
//! picture is shrunk to a few tens of kilobytes.

use std::collections::HashMap;

use super::files::placeholders;
use super::{Store, StoreError, reader, writer};
use crate::protocol::api::{Embed, EmbedImage, Message};
use crate::protocol::{EmbedId, MessageId, UserId};

/// What a fetch of a URL found, to cache.
#[derive(Debug, Clone, Default)]
pub struct NewPreview {
    /// The page's title.
    pub title: Option<String>,
    /// Its description.
    pub description: Option<String>,
    /// Its site's name.
    pub site_name: Option<String>,
    /// The shrunk picture: bytes, type, width, height.
    pub image: Option<(Vec<u8>, &'static str, i32, i32)>,
}

/// A cached fetch of a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CachedPreview {
    /// It found something: this preview.
    Found(EmbedId),
    /// It found nothing to show.
    Nothing,
}

#[derive(sqlx::FromRow)]
struct EmbedRow {
    message_id: MessageId,
    id: EmbedId,
    url: String,
    title: Option<String>,
    description: Option<String>,
    site_name: Option<String>,
    image_width: Option<i32>,
    image_height: Option<i32>,
}

impl EmbedRow {
    fn into_embed(self) -> Embed {
        let image = match (self.image_width, self.image_height) {
            (Some(width), Some(height)) => Some(EmbedImage {
                url: format!("/api/v1/embeds/{}/image", self.id),
                width,
                height,
            }),
            _ => None,
        };
        Embed {
            url: self.url,
            title: self.title,
            description: self.description,
            site_name: self.site_name,
            image,
        }
    }
}

impl Store {
    /// The fetch of `url` made at or after `since` (unix seconds), newest first.
    pub async fn cached_preview(
        &self,
        url: &str,
        since: i64,
    ) -> Result<Option<CachedPreview>, StoreError> {
        let row: Option<(EmbedId, bool)> = reader!(self, |p| {
            sqlx::query_as(
                "SELECT id, found FROM link_previews WHERE url = $1 AND fetched_at >= $2 \
                 ORDER BY fetched_at DESC LIMIT 1",
            )
            .bind(url)
            .bind(since)
            .fetch_optional(p)
            .await
        })?;
        Ok(row.map(|(id, found)| {
            if found {
                CachedPreview::Found(id)
            } else {
                CachedPreview::Nothing
            }
        }))
    }

    /// Caches a fetch of `url` made at `now` (`None`: nothing to show), and forgets fetches from
    /// before `expired` that no message shows.
    pub async fn insert_preview(
        &self,
        url: &str,
        found: Option<&NewPreview>,
        now: i64,
        expired: i64,
    ) -> Result<CachedPreview, StoreError> {
        let id = EmbedId::new();
        let image = found.and_then(|f| f.image.as_ref());
        writer!(self, |p| {
            let mut tx = p.begin().await?;
            sqlx::query(
                "DELETE FROM link_previews WHERE fetched_at < $1 AND NOT EXISTS \
                 (SELECT 1 FROM message_embeds me WHERE me.preview_id = link_previews.id)",
            )
            .bind(expired)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO link_previews (id, url, fetched_at, found, title, description, \
                 site_name, image, image_type, image_width, image_height) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(id)
            .bind(url)
            .bind(now)
            .bind(found.is_some())
            .bind(found.and_then(|f| f.title.as_deref()))
            .bind(found.and_then(|f| f.description.as_deref()))
            .bind(found.and_then(|f| f.site_name.as_deref()))
            .bind(image.map(|i| i.0.as_slice()))
            .bind(image.map(|i| i.1))
            .bind(image.map(|i| i.2))
            .bind(image.map(|i| i.3))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })?;
        Ok(match found {
            Some(_) => CachedPreview::Found(id),
            None => CachedPreview::Nothing,
        })
    }

    /// Makes `previews` (in order) the previews of `message`, if it is live and its body is
    /// still `body`; the previews as the message now shows them, or `None` if it changed.
    pub async fn set_embeds(
        &self,
        message: MessageId,
        body: &str,
        previews: &[EmbedId],
    ) -> Result<Option<Vec<Embed>>, StoreError> {
        writer!(self, |p| {
            let mut tx = p.begin().await?;
            let live = sqlx::query(
                "UPDATE messages SET deleted = deleted WHERE id = $1 AND deleted = FALSE AND body = $2",
            )
            .bind(message)
            .bind(body)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if live == 0 {
                return Ok(None);
            }
            sqlx::query("DELETE FROM message_embeds WHERE message_id = $1")
                .bind(message)
                .execute(&mut *tx)
                .await?;
            for (position, preview) in previews.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO message_embeds (message_id, position, preview_id) VALUES ($1, $2, $3)",
                )
                .bind(message)
                .bind(position as i32)
                .bind(*preview)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })?;
        Ok(Some(
            self.embeds_of(&[message])
                .await?
                .remove(&message)
                .unwrap_or_default(),
        ))
    }

    /// Drops a message's previews (its links changed); true if it had any.
    pub async fn clear_embeds(&self, message: MessageId) -> Result<bool, StoreError> {
        let removed = writer!(self, |p| {
            sqlx::query("DELETE FROM message_embeds WHERE message_id = $1")
                .bind(message)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(removed > 0)
    }

    /// The picture of preview `id` and its type, if `viewer` is a member of a room where a live
    /// message shows it.
    pub async fn embed_image(
        &self,
        id: EmbedId,
        viewer: UserId,
    ) -> Result<Option<(Vec<u8>, String)>, StoreError> {
        let row: Option<(Option<Vec<u8>>, Option<String>)> = reader!(self, |p| {
            sqlx::query_as(
                "SELECT lp.image, lp.image_type FROM link_previews lp WHERE lp.id = $1 AND EXISTS \
                 (SELECT 1 FROM message_embeds me JOIN messages m ON m.id = me.message_id \
                  JOIN room_members rm ON rm.room_id = m.room_id AND rm.user_id = $2 \
                  WHERE me.preview_id = lp.id AND m.deleted = FALSE)",
            )
            .bind(id)
            .bind(viewer)
            .fetch_optional(p)
            .await
        })?;
        Ok(match row {
            Some((Some(bytes), Some(kind))) => Some((bytes, kind)),
            _ => None,
        })
    }

    /// Fills each message's `embeds`, in one query for all of them.
    pub(crate) async fn fill_embeds(&self, messages: &mut [Message]) -> Result<(), StoreError> {
        let wanted: Vec<MessageId> = messages
            .iter()
            .filter(|m| !m.deleted)
            .map(|m| m.id)
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let mut by_message = self.embeds_of(&wanted).await?;
        for m in messages.iter_mut() {
            if let Some(list) = by_message.remove(&m.id) {
                m.embeds = list;
            }
        }
        Ok(())
    }

    async fn embeds_of(
        &self,
        messages: &[MessageId],
    ) -> Result<HashMap<MessageId, Vec<Embed>>, StoreError> {
        let sql = format!(
            "SELECT me.message_id, lp.id, lp.url, lp.title, lp.description, lp.site_name, \
             lp.image_width, lp.image_height FROM message_embeds me \
             JOIN link_previews lp ON lp.id = me.preview_id \
             WHERE me.message_id IN ({}) ORDER BY me.message_id, me.position",
            placeholders(1, messages.len())
        );
        let rows: Vec<EmbedRow> = reader!(self, |p| {
            let mut q = sqlx::query_as(&sql);
            for id in messages {
                q = q.bind(*id);
            }
            q.fetch_all(p).await
        })?;
        let mut by_message: HashMap<MessageId, Vec<Embed>> = HashMap::new();
        for row in rows {
            by_message
                .entry(row.message_id)
                .or_default()
                .push(row.into_embed());
        }
        Ok(by_message)
    }
}
