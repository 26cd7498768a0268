//! Blocking another user: they cannot open or write to a DM with the blocker (nor the blocker
//! with them, until unblocked), and the blocker's client shows their messages in shared rooms
//! collapsed. A block is private: the blocked user is told only `403 blocked` on a DM.

use crate::protocol::{RoomId, RoomKind, UserId};

use super::{Error, Result, Services};

fn blocked() -> Error {
    Error::forbidden("blocked", "you cannot message this user")
}

impl Services {
    /// `user` blocks `other`.
    pub async fn block(&self, user: UserId, other: UserId) -> Result<()> {
        if user == other {
            return Err(Error::invalid("invalid_user", "you cannot block yourself"));
        }
        self.user(other).await?;
        Ok(self.store.block(user, other).await?)
    }

    /// `user` lifts their block of `other`.
    pub async fn unblock(&self, user: UserId, other: UserId) -> Result<()> {
        if !self.store.unblock(user, other).await? {
            return Err(Error::not_found("block"));
        }
        Ok(())
    }

    /// Whom `user` blocked.
    pub async fn blocked_users(&self, user: UserId) -> Result<Vec<UserId>> {
        Ok(self.store.blocked_ids(user).await?)
    }

    /// `403 blocked` if either of `a` and `b` blocked the other: before a DM is opened.
    pub(super) async fn require_unblocked(&self, a: UserId, b: UserId) -> Result<()> {
        if self.store.blocked_between(a, b).await? {
            return Err(blocked());
        }
        Ok(())
    }

    /// For a post in a DM: `403 blocked` if its two members are blocked either way. Group rooms
    /// pass (there, blocks only collapse messages in the blocker's client).
    pub(super) async fn require_dm_unblocked(
        &self,
        kind: RoomKind,
        room: RoomId,
        sender: UserId,
    ) -> Result<()> {
        if kind != RoomKind::Dm {
            return Ok(());
        }
        if self.store.blocked_with_member(room, sender).await? {
            return Err(blocked());
        }
        Ok(())
    }
}
