//! Custom emoji: server admins add an uploaded image under a `:name:` and take it away; every
//! signed-in user lists them, sees their images and reacts with them.
//!
//! The image is one of the admin's own uploads, and must be an image (by its sniffed type) of at
//! most [`MAX_IMAGE_BYTES`]: an emoji is shown small, beside text, to everyone. A server has at
//! most [`CustomEmoji::MAX_PER_SERVER`] of them. Removing one leaves the reactions made with it
//! (they happened; clients show the name where no image is left) and lets its image expire like
//! any unused upload.

use crate::protocol::api::{CreateEmojiRequest, CustomEmoji};
use crate::protocol::{CustomEmojiName, Emoji, UserId};
use crate::store::StoreError;

use super::{Error, Result, Services};

/// The largest image a custom emoji may have, bytes.
pub const MAX_IMAGE_BYTES: i64 = 512 * 1024;

impl Services {
    /// Every custom emoji, in name order: for any signed-in user.
    pub async fn custom_emoji(&self) -> Result<Vec<CustomEmoji>> {
        Ok(self.store.custom_emoji().await?)
    }

    /// A server admin adds the emoji `:name:` with their upload `file_id` as its image.
    pub async fn add_custom_emoji(
        &self,
        user: UserId,
        req: &CreateEmojiRequest,
    ) -> Result<CustomEmoji> {
        self.require_server_admin(user).await?;
        let name = CustomEmojiName::parse(&req.name)?;
        let file = self
            .store
            .own_files(user, &[req.file_id])
            .await?
            .pop()
            .ok_or(Error::not_found("file"))?;
        if !file.content_type.starts_with("image/") {
            return Err(Error::invalid(
                "not_an_image",
                "a custom emoji must be a PNG, JPEG, WebP or GIF image",
            ));
        }
        if file.size > MAX_IMAGE_BYTES {
            return Err(Error::TooLarge {
                code: "emoji_too_large",
                message: format!(
                    "a custom emoji image is at most {} KiB",
                    MAX_IMAGE_BYTES / 1024
                ),
            });
        }
        let emoji = self
            .store
            .add_custom_emoji(&name, file.id, user, CustomEmoji::MAX_PER_SERVER)
            .await
            .map_err(|e| match e {
                StoreError::Conflict("emoji_exists") => Error::conflict(
                    "emoji_exists",
                    format!("there is already a custom emoji :{}:", name.as_str()),
                ),
                StoreError::Conflict(code) => Error::conflict(
                    code,
                    format!(
                        "a server has at most {} custom emoji; delete one first",
                        CustomEmoji::MAX_PER_SERVER
                    ),
                ),
                e => e.into(),
            })?;
        tracing::info!(name = name.as_str(), by = %user, "custom emoji added");
        Ok(emoji)
    }

    /// A server admin takes the emoji `:name:` away.
    pub async fn delete_custom_emoji(&self, user: UserId, name: &str) -> Result<()> {
        self.require_server_admin(user).await?;
        let name = CustomEmojiName::parse(name).map_err(|_| Error::not_found("emoji"))?;
        let expires_at = chrono::Utc::now().timestamp() + self.file_rules.ttl.as_secs() as i64;
        if !self.store.delete_custom_emoji(&name, expires_at).await? {
            return Err(Error::not_found("emoji"));
        }
        tracing::info!(name = name.as_str(), by = %user, "custom emoji deleted");
        Ok(())
    }

    /// `invalid_emoji` unless `emoji` is a Unicode emoji or a custom emoji that exists.
    pub(super) async fn require_known_emoji(&self, emoji: &Emoji) -> Result<()> {
        match emoji.custom_name() {
            Some(name) if !self.store.custom_emoji_exists(name).await? => Err(Error::invalid(
                "invalid_emoji",
                format!("there is no custom emoji :{name}:"),
            )),
            _ => Ok(()),
        }
    }
}
