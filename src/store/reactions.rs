//! Reactions: who reacted to which message with which emoji, and the per-message summaries the
//! message resource carries.
//!
//! A reaction is a row per (message, emoji, user); adding one twice is a no-op, so the write is
//! idempotent and the caller learns whether anything changed (and so whether to tell the room).
//! The limit of distinct emoji per message is checked inside the insert's transaction, with the
//! message row locked (an `UPDATE` of it), so two members racing for the last slot cannot both
//! get it.

use std::collections::HashMap;

use super::files::placeholders;
use super::{Store, StoreError, reader, writer};
use crate::protocol::api::{Message, Reaction};
use crate::protocol::{Emoji, MessageId, UserId};

/// What adding a reaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReactionOutcome {
    /// Stored now.
    Added,
    /// The user had already reacted with this emoji: nothing changed.
    Unchanged,
}

impl Store {
    /// `user` reacts to a live message with `emoji`. `NotFound` if the message is gone or
    /// deleted; `Conflict("too_many_reactions")` if it already carries `max_emoji` other emoji.
    pub async fn add_reaction(
        &self,
        message: MessageId,
        emoji: &Emoji,
        user: UserId,
        max_emoji: i64,
    ) -> Result<ReactionOutcome, StoreError> {
        writer!(self, |p| {
            let mut tx = p.begin().await?;
            // Locks the message row (Postgres) for the count below; refuses a tombstone.
            let live = sqlx::query(
                "UPDATE messages SET deleted = deleted WHERE id = $1 AND deleted = FALSE",
            )
            .bind(message)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if live == 0 {
                return Err(StoreError::NotFound);
            }
            let (used, distinct): (i64, i64) = sqlx::query_as(
                "SELECT COUNT(CASE WHEN emoji = $2 THEN 1 END), COUNT(DISTINCT emoji) \
                 FROM message_reactions WHERE message_id = $1",
            )
            .bind(message)
            .bind(emoji.as_str())
            .fetch_one(&mut *tx)
            .await?;
            if used == 0 && distinct >= max_emoji {
                return Err(StoreError::Conflict("too_many_reactions"));
            }
            let added = sqlx::query(
                "INSERT INTO message_reactions (message_id, emoji, user_id, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (message_id, emoji, user_id) DO NOTHING",
            )
            .bind(message)
            .bind(emoji.as_str())
            .bind(user)
            .bind(super::now())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok(if added == 0 {
                ReactionOutcome::Unchanged
            } else {
                ReactionOutcome::Added
            })
        })
    }

    /// Takes `user`'s reaction back; true if there was one.
    pub async fn remove_reaction(
        &self,
        message: MessageId,
        emoji: &Emoji,
        user: UserId,
    ) -> Result<bool, StoreError> {
        let removed = writer!(self, |p| {
            sqlx::query(
                "DELETE FROM message_reactions WHERE message_id = $1 AND emoji = $2 AND user_id = $3",
            )
            .bind(message)
            .bind(emoji.as_str())
            .bind(user)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(removed > 0)
    }

    /// Fills each message's `reactions`, in one query for all of them.
    pub(crate) async fn fill_reactions(&self, messages: &mut [Message]) -> Result<(), StoreError> {
        let wanted: Vec<MessageId> = messages
            .iter()
            .filter(|m| !m.deleted)
            .map(|m| m.id)
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "SELECT message_id, emoji, user_id FROM message_reactions \
             WHERE message_id IN ({}) ORDER BY id",
            placeholders(1, wanted.len())
        );
        let rows: Vec<(MessageId, String, UserId)> = reader!(self, |p| {
            let mut q = sqlx::query_as(&sql);
            for id in &wanted {
                q = q.bind(*id);
            }
            q.fetch_all(p).await
        })?;
        let mut by_message: HashMap<MessageId, Vec<Reaction>> = HashMap::new();
        for (message, emoji, user) in rows {
            add_to_summary(
                by_message.entry(message).or_default(),
                Emoji::from_stored(emoji),
                user,
            );
        }
        for m in messages.iter_mut() {
            if let Some(list) = by_message.remove(&m.id) {
                m.reactions = list;
            }
        }
        Ok(())
    }
}

/// Counts one reaction into a message's summary, kept in first-use order (rows arrive in the
/// order they were made): a new emoji goes last, and each lists its first reactors.
fn add_to_summary(list: &mut Vec<Reaction>, emoji: Emoji, user: UserId) {
    let entry = match list.iter().position(|r| r.emoji == emoji.as_str()) {
        Some(i) => &mut list[i],
        None => {
            list.push(Reaction {
                emoji: emoji.as_str().to_owned(),
                count: 0,
                user_ids: Vec::new(),
            });
            let last = list.len() - 1;
            &mut list[last]
        }
    };
    entry.count += 1;
    if entry.user_ids.len() < Reaction::MAX_USER_IDS {
        entry.user_ids.push(user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_keep_first_use_order_and_cap_the_listed_reactors() {
        let mut list = Vec::new();
        let users: Vec<UserId> = (0..60).map(|_| UserId::new()).collect();
        add_to_summary(&mut list, Emoji::from_stored("🎉".into()), users[0]);
        for u in &users {
            add_to_summary(&mut list, Emoji::from_stored("👍".into()), *u);
        }
        assert_eq!(list[0].emoji, "🎉");
        assert_eq!(list[1].emoji, "👍");
        assert_eq!(list[1].count, 60);
        assert_eq!(list[1].user_ids.len(), Reaction::MAX_USER_IDS);
        assert_eq!(list[1].user_ids[..], users[..Reaction::MAX_USER_IDS]);
    }
}
