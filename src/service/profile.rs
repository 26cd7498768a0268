//! What a user does with their own account: their profile, their password, their logins
//! (sessions) and deleting the account.
//!
//! Changing the password revokes every other login; signing one session out revokes that login.
//! Both go through the revocation path every node acts on (sockets close with 4001 at once).
//! A deleted account becomes a tombstone: its messages stay, shown as by "Deleted user".

use std::net::IpAddr;

use tokio::time::Instant;

use crate::auth::LoginId;
use crate::bus::Event;
use crate::protocol::api::{LoginSession, UpdateMeRequest, User};
use crate::protocol::ws::ServerFrame;
use crate::protocol::{DisplayName, FileId, Password, UserId};

use super::{Error, Result, Services};

/// The longest status line.
const MAX_STATUS_CHARS: usize = 140;
/// How many people who share a room hear of a profile change (as for presence).
const AUDIENCE: i64 = 5_000;

fn wrong_password() -> Error {
    Error::Unauthenticated {
        code: "invalid_credentials",
        message: "wrong password".into(),
    }
}

/// A status line, checked: trimmed, at most 140 characters, no control characters.
fn parse_status(raw: &str) -> Result<String> {
    let s = raw.trim();
    if s.chars().count() > MAX_STATUS_CHARS || s.chars().any(char::is_control) {
        return Err(Error::invalid(
            "invalid_status_text",
            "a status is at most 140 characters, on one line",
        ));
    }
    Ok(s.to_owned())
}

impl Services {
    /// Changes `user`'s display name and/or status; everyone who shares a room hears
    /// `user.updated`.
    pub async fn update_me(&self, user: UserId, change: &UpdateMeRequest) -> Result<User> {
        let me = self.user(user).await?;
        let name = change
            .display_name
            .as_deref()
            .map(DisplayName::parse)
            .transpose()?;
        let status = change
            .status_text
            .as_deref()
            .map(parse_status)
            .transpose()?;
        if name.is_none() && status.is_none() && change.avatar_file_id.is_none() {
            return Err(Error::invalid(
                "invalid_request",
                "give a display_name, a status_text or an avatar_file_id",
            ));
        }
        if let Some(file) = change.avatar_file_id {
            self.set_avatar(user, file).await?;
        }
        if let Some(n) = name.as_ref().filter(|n| n.as_str() != me.display_name)
            && self.store.display_name_taken(n.as_str(), &n.key()).await?
            && n.key() != me.display_name.to_lowercase()
        {
            return Err(Error::conflict(
                "display_name_taken",
                "another user shows this name; choose a different display name",
            ));
        }
        self.store
            .update_profile(
                user,
                name.as_ref().map(DisplayName::as_str),
                status.as_deref(),
            )
            .await?;
        let updated = self.user(user).await?;
        self.announce_profile(&updated).await?;
        Ok(updated)
    }

    /// Makes `user`'s own uploaded image `file` their avatar: cropped square, 256 pixels.
    async fn set_avatar(&self, user: UserId, file: FileId) -> Result<()> {
        let not_an_image = || {
            Error::invalid(
                "invalid_avatar",
                "an avatar must be a PNG, JPEG, WebP or GIF image you uploaded",
            )
        };
        let record = self
            .store
            .file_for(file, user)
            .await?
            .filter(|f| f.uploader_id == user && f.content_type.starts_with("image/"))
            .ok_or_else(not_an_image)?;
        let bytes = self.blobs.read_all(&record.sha256).await?;
        let png = tokio::task::spawn_blocking(move || crate::files::media::square_avatar(&bytes))
            .await
            .map_err(|e| Error::Internal(e.to_string()))?
            .ok_or_else(not_an_image)?;
        let at = chrono::Utc::now().timestamp_millis();
        self.store.set_avatar(user, &png, at).await?;
        Ok(())
    }

    /// A user's avatar PNG (any signed-in user may fetch it, as they may look the user up).
    pub async fn avatar(&self, user: UserId) -> Result<Vec<u8>> {
        self.store
            .avatar(user)
            .await?
            .ok_or(Error::not_found("avatar"))
    }

    /// Tells `user`'s own sessions and everyone who shares a room with them how they look now.
    async fn announce_profile(&self, user: &User) -> Result<()> {
        let mut audience = self.store.co_member_ids(user.id, AUDIENCE).await?;
        audience.push(user.id);
        for id in audience {
            self.publish(Event::User {
                user: id,
                frame: ServerFrame::UserUpdated { user: user.clone() },
            });
        }
        Ok(())
    }

    /// Checks `password` is `user`'s, within the login throttles of the account and address.
    async fn confirm_password(&self, user: &User, password: &str, from: IpAddr) -> Result<()> {
        let account = user.username.to_ascii_lowercase();
        self.throttles
            .check_login(&account, from, Instant::now())
            .map_err(super::rate_limited)?;
        let hash = self.store.password_hash(user.id).await?;
        if hash.is_none() || !self.auth.verify_password(hash, password).await {
            self.throttles.login_failed(&account, from, Instant::now());
            return Err(wrong_password());
        }
        Ok(())
    }

    /// Changes `user`'s password; every login but `current` (the one asking) is signed out.
    pub async fn change_password(
        &self,
        user: UserId,
        current: Option<LoginId>,
        (old, new): (&str, &str),
        from: IpAddr,
    ) -> Result<()> {
        let me = self.user(user).await?;
        let new = Password::parse(new)?;
        self.confirm_password(&me, old, from).await?;
        let hash = self.auth.hash_password(&new).await?;
        let others = self.store.set_password(user, &hash, current).await?;
        tracing::info!(user_id = %user, signed_out = others.len(), "password changed");
        self.revoked(user, others);
        Ok(())
    }

    /// `user`'s logins that can still refresh, the one asking (`current`) marked.
    pub async fn sessions(
        &self,
        user: UserId,
        current: Option<LoginId>,
    ) -> Result<Vec<LoginSession>> {
        let logins = self
            .store
            .logins(user, chrono::Utc::now().timestamp())
            .await?;
        Ok(logins
            .into_iter()
            .map(|l| LoginSession {
                current: Some(l.id) == current,
                id: l.id,
                created_at: l.created_at,
                last_used_at: l.last_used_at,
                user_agent: l.user_agent,
                address: l.address,
            })
            .collect())
    }

    /// Signs one of `user`'s logins out: its tokens stop working and its sockets close at once.
    pub async fn sign_out_session(&self, user: UserId, login: LoginId) -> Result<()> {
        if !self.store.revoke_login(user, login).await? {
            return Err(Error::not_found("session"));
        }
        self.revoked(user, vec![login]);
        Ok(())
    }

    /// Deletes `user`'s account after checking their password: it leaves every group room,
    /// every login ends, and what they wrote stays under "Deleted user".
    pub async fn delete_account(&self, user: UserId, password: &str, from: IpAddr) -> Result<()> {
        let me = self.user(user).await?;
        self.confirm_password(&me, password, from).await?;
        let tombstone = format!("deleted-{}", &user.0.simple().to_string()[..24]);
        let (rooms, logins) = self.store.tombstone_user(user, &tombstone).await?;
        // While still in their rooms: everyone there learns the author is now "Deleted user".
        let gone = self.user(user).await?;
        self.announce_profile(&gone).await?;
        for room in rooms {
            self.expel(room, user).await?;
        }
        self.revoked(user, logins);
        tracing::info!(user_id = %user, "account deleted");
        Ok(())
    }
}
