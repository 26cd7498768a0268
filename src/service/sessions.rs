//! What a realtime session reads besides the operations it shares with HTTP: its credentials,
//! its rooms and their newest seqs, the messages it replays on resume and sync, and whose
//! presence it sees.
//!
//! Each read that concerns one room checks membership as every other operation does, so a user
//! removed from a room between two frames is refused (`room_not_found`) rather than replayed to;
//! replays check it after reading, so no page read after a removal goes out.

use crate::auth::Claims;
use crate::protocol::api::Message;
use crate::protocol::{RoomId, Seq, UserId};
use crate::store::HistoryRequest;

use super::{Error, Result, Services};

/// A room of a session's user, as the session starts.
#[derive(Debug, Clone, Copy)]
pub struct SessionRoom {
    /// The room.
    pub id: RoomId,
    /// Its newest seq.
    pub last_seq: Seq,
    /// How many members it has.
    pub members: i64,
}

impl Services {
    /// The claims of a valid, unexpired access token.
    pub fn verify_access(&self, token: &str) -> Result<Claims> {
        Ok(self.auth.verify_access_token(token)?)
    }

    /// The rooms `user` is a member of, each with its newest seq and its number of members.
    pub async fn rooms_with_seqs(&self, user: UserId) -> Result<Vec<SessionRoom>> {
        let rows = self.store.room_seqs_for_user(user).await?;
        Ok(rows
            .into_iter()
            .map(|(id, last_seq, members)| SessionRoom {
                id,
                last_seq,
                members,
            })
            .collect())
    }

    /// Up to `limit` messages of `room` after `after`, oldest first, and whether more follow.
    pub async fn replay_page(
        &self,
        user: UserId,
        room: RoomId,
        after: Seq,
        limit: i64,
    ) -> Result<(Vec<Message>, bool)> {
        let page = self
            .store
            .history(room, HistoryRequest::After(after), limit)
            .await?;
        // Checked after the read: the user is a member at this moment, so the page is theirs
        // to read; had the removal committed before, it is refused.
        self.require_member(room, user).await?;
        Ok(page)
    }

    /// The newest seq of a room `user` is a member of.
    pub async fn newest_seq(&self, user: UserId, room: RoomId) -> Result<Seq> {
        self.require_member(room, user).await?;
        Ok(self.store.room_last_seq(room).await?.unwrap_or(Seq::ZERO))
    }

    /// Users who share a room of at most `max_members` members with `user` (at most `limit`):
    /// whose presence a session of theirs hears without subscribing.
    pub async fn presence_audience(
        &self,
        user: UserId,
        max_members: i64,
        limit: i64,
    ) -> Result<Vec<UserId>> {
        Ok(self
            .store
            .small_room_co_member_ids(user, max_members, limit)
            .await?)
    }

    /// Those of `users` who are members of `room`, which `user` is a member of: whose presence
    /// `user` may subscribe to there.
    pub async fn members_among(
        &self,
        user: UserId,
        room: RoomId,
        users: &[UserId],
    ) -> Result<Vec<UserId>> {
        self.require_member(room, user).await?;
        let members: std::collections::HashSet<UserId> =
            self.store.member_ids(room).await?.into_iter().collect();
        let mut among: Vec<UserId> = users
            .iter()
            .copied()
            .filter(|u| members.contains(u))
            .collect();
        among.sort_unstable();
        among.dedup();
        Ok(among)
    }

    /// The members of a room `user` is a member of.
    pub async fn member_ids(&self, user: UserId, room: RoomId) -> Result<Vec<UserId>> {
        self.require_member(room, user).await?;
        Ok(self.store.member_ids(room).await?)
    }

    /// Whether `e` says the user is not (or no longer) a member of the room.
    pub fn is_not_member(e: &Error) -> bool {
        matches!(e, Error::NotFound { what: "room" })
    }
}
