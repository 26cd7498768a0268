//! Pinned messages: at most one pin per message, a bounded number per room, listed newest first.
//!
//! A pin is checked in its transaction with the room row locked (an `UPDATE` of it), so two
//! moderators racing for the last free slot cannot both take it; the message must be a live one
//! of that room. Deleting a message unpins it ([`Store::delete_message`]).

use chrono::{DateTime, Utc};

use super::rows::{MessageColumns, into_messages, message_columns, message_joins};
use super::{Store, StoreError, reader, writer};
use crate::protocol::api::Pin;
use crate::protocol::{MessageId, RoomId, UserId};

impl Store {
    /// Pins a live message of `room`; false if it was pinned already. `NotFound` if the message
    /// is not a live message of that room; `Conflict("too_many_pins")` past `max` pins.
    pub async fn pin_message(
        &self,
        room: RoomId,
        message: MessageId,
        user: UserId,
        max: i64,
    ) -> Result<bool, StoreError> {
        writer!(self, |p| {
            let mut tx = p.begin().await?;
            sqlx::query("UPDATE rooms SET last_seq = last_seq WHERE id = $1")
                .bind(room)
                .execute(&mut *tx)
                .await?;
            let (live, pinned, count): (i64, i64, i64) = sqlx::query_as(
                "SELECT \
                 (SELECT COUNT(*) FROM messages WHERE id = $2 AND room_id = $1 AND deleted = FALSE), \
                 (SELECT COUNT(*) FROM room_pins WHERE message_id = $2), \
                 (SELECT COUNT(*) FROM room_pins WHERE room_id = $1)",
            )
            .bind(room)
            .bind(message)
            .fetch_one(&mut *tx)
            .await?;
            if live == 0 {
                return Err(StoreError::NotFound);
            }
            if pinned > 0 {
                return Ok(false);
            }
            if count >= max {
                return Err(StoreError::Conflict("too_many_pins"));
            }
            sqlx::query(
                "INSERT INTO room_pins (room_id, message_id, pinned_by, pinned_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(room)
            .bind(message)
            .bind(user)
            .bind(super::now())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Unpins a message of `room`; false if it was not pinned there.
    pub async fn unpin_message(
        &self,
        room: RoomId,
        message: MessageId,
    ) -> Result<bool, StoreError> {
        let removed = writer!(self, |p| {
            sqlx::query("DELETE FROM room_pins WHERE room_id = $1 AND message_id = $2")
                .bind(room)
                .bind(message)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(removed > 0)
    }

    /// A room's pins, newest first, with their messages complete.
    pub async fn pins(&self, room: RoomId) -> Result<Vec<Pin>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            message: MessageColumns,
            pinned_by: Option<UserId>,
            pinned_at: DateTime<Utc>,
        }
        let sql = concat!(
            "SELECT ",
            message_columns!(),
            ", pn.pinned_by, pn.pinned_at FROM room_pins pn JOIN messages m ON m.id = pn.message_id",
            message_joins!(),
            "WHERE pn.room_id = $1 ORDER BY pn.id DESC"
        );
        let rows: Vec<Row> = reader!(self, |p| sqlx::query_as(sql).bind(room).fetch_all(p).await)?;
        let mut meta = Vec::with_capacity(rows.len());
        let mut columns = Vec::with_capacity(rows.len());
        for r in rows {
            meta.push((r.pinned_by, r.pinned_at));
            columns.push(r.message);
        }
        let (mut messages, counts) = into_messages(columns);
        self.fill_details(&mut messages, &counts).await?;
        Ok(messages
            .into_iter()
            .zip(meta)
            .map(|(message, (pinned_by, pinned_at))| Pin {
                message,
                pinned_by,
                pinned_at,
            })
            .collect())
    }
}
