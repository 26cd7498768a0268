//! Registration, login, token refresh and logout, and looking users up.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::auth::{LoginId, hash_refresh_token, new_refresh_token};
use crate::bus::Event;
use crate::config::RegistrationMode;
use crate::protocol::api::{RegisterRequest, TokenResponse, User};
use crate::protocol::{DisplayName, Password, RoomId, UserId, Username};
use crate::store::{NewUser, RefreshOutcome, Store, StoreError};

use super::{Error, Result, Services};

/// Checks the account rules, hashes the password and stores the account: registration and the
/// `confab admin create-user` command both come here.
pub async fn create_account(
    store: &Store,
    hasher: Option<&crate::auth::Auth>,
    username: &str,
    password: &str,
    display_name: Option<&str>,
) -> Result<User> {
    let username = Username::parse(username)?;
    let password = Password::parse(password)?;
    let display_name = match display_name {
        Some(d) => DisplayName::parse(d)?,
        None => DisplayName::from_username(&username),
    };
    let taken = || Error::conflict("username_taken", "that username is taken");
    if store.user_credentials(&username.key()).await?.is_some() {
        return Err(taken());
    }
    if store
        .display_name_taken(display_name.as_str(), &display_name.key())
        .await?
    {
        return Err(Error::conflict(
            "display_name_taken",
            "another user shows this name; choose a different display name",
        ));
    }
    let password_hash = match hasher {
        Some(auth) => auth.hash_password(&password).await?,
        None => crate::auth::hash_password(&password).await?,
    };
    store
        .create_user(NewUser {
            id: UserId::new(),
            username_key: username.key(),
            username: username.into_inner(),
            display_name: display_name.into_inner(),
            password_hash,
            created_at: crate::store::now(),
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => taken(),
            e => e.into(),
        })
}

/// Who is signing in: where from and with what, for the throttles and the list of sessions.
#[derive(Debug, Clone)]
pub struct Client {
    /// The client's address (see `CONFAB_TRUSTED_PROXIES`).
    pub address: IpAddr,
    /// Its `User-Agent`, cut to 200 characters.
    pub user_agent: String,
}

/// How often a node reads the revocations recorded in the store.
pub const REVOCATION_POLL: Duration = Duration::from_secs(2);

fn invalid_credentials() -> Error {
    Error::Unauthenticated {
        code: "invalid_credentials",
        message: "wrong username or password".into(),
    }
}

impl Services {
    /// Creates an account and signs it in; at most so many per address and hour. What the
    /// server's registration mode allows (see [`Services::registration_invite`]); an invite code
    /// also joins its room.
    pub async fn register(&self, req: &RegisterRequest, client: &Client) -> Result<TokenResponse> {
        let from = client.address;
        self.throttles
            .register(from, Instant::now())
            .map_err(super::rate_limited)?;
        let invited = self.registration_invite(req.invite_code.as_deref()).await?;
        let created = create_account(
            &self.store,
            Some(&self.auth),
            &req.username,
            &req.password,
            req.display_name.as_deref(),
        )
        .await;
        let user = match (created, &invited) {
            (Ok(user), _) => user,
            (Err(e), Some((code, _))) => {
                self.store.return_invite_use(code).await?;
                return Err(e);
            }
            (Err(e), None) => return Err(e),
        };
        self.throttles
            .signed_in(&user.username.to_ascii_lowercase(), from, Instant::now());
        tracing::info!(user_id = %user.id, "user registered");
        if let Some((_, room)) = invited {
            self.admit(room, user.id).await?;
        }
        self.sign_in(user, client).await
    }

    /// Whether the registration mode lets an account be created with `invite_code`, and the use
    /// of the invite it takes (returned with the code, so a failed registration gives it back):
    /// `closed` refuses every registration, `invite` requires a usable code, `open` takes one if
    /// given.
    async fn registration_invite(&self, code: Option<&str>) -> Result<Option<(String, RoomId)>> {
        match (self.registration, code) {
            (RegistrationMode::Closed, _) => Err(Error::forbidden(
                "registration_closed",
                "this server does not take new accounts; ask its operator for one",
            )),
            (RegistrationMode::Invite, None) => Err(Error::forbidden(
                "invite_required",
                "this server takes new accounts by invite only",
            )),
            (_, Some(code)) => Ok(Some((code.to_owned(), self.take_invite(code).await?))),
            (RegistrationMode::Open, None) => Ok(None),
        }
    }

    /// Checks a username and password and signs the user in. Unknown users and wrong passwords
    /// get the same answer after the same work. Failures slow the account and the address down
    /// (see [`super::throttle`]).
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        client: &Client,
    ) -> Result<TokenResponse> {
        let from = client.address;
        let account = username.to_ascii_lowercase();
        self.throttles
            .check_login(&account, from, Instant::now())
            .map_err(super::rate_limited)?;
        if password.chars().count() > 1024 {
            self.throttles.login_failed(&account, from, Instant::now());
            return Err(invalid_credentials());
        }
        let found = match Username::parse(username) {
            Ok(u) => self.store.user_credentials(&u.key()).await?,
            Err(_) => None,
        };
        let (user, hash) = match found {
            Some((user, hash)) => (Some(user), Some(hash)),
            None => (None, None),
        };
        let user = match user {
            Some(user) if self.auth.verify_password(hash, password).await => user,
            _ => {
                if user.is_none() {
                    // As long as a wrong password takes (the dummy hash was checked).
                    self.auth.verify_password(None, password).await;
                }
                self.throttles.login_failed(&account, from, Instant::now());
                return Err(invalid_credentials());
            }
        };
        self.throttles.signed_in(&account, from, Instant::now());
        if self.store.is_suspended(user.id).await? {
            return Err(Error::forbidden(
                "account_suspended",
                "this account was suspended by the server's admins",
            ));
        }
        self.sign_in(user, client).await
    }

    /// Trades a refresh token for new tokens. The old one stops working; presenting it again
    /// revokes every token of its login.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenResponse> {
        let old = hash_refresh_token(refresh_token);
        let (token, new) = new_refresh_token();
        let now = chrono::Utc::now().timestamp();
        let outcome = self
            .store
            .rotate_refresh_token(&old, &new, now, now + self.refresh_ttl.as_secs() as i64)
            .await?;
        let (user_id, login) = match outcome {
            RefreshOutcome::Rotated(user, login) => (user, login),
            RefreshOutcome::Reused(user, login) => {
                tracing::warn!("refresh token reused; its login was revoked");
                self.revoked(user, vec![login]);
                return Err(Error::Unauthenticated {
                    code: "refresh_token_reused",
                    message:
                        "this refresh token was already used; the login was revoked, sign in again"
                            .into(),
                });
            }
            RefreshOutcome::Invalid => {
                return Err(Error::Unauthenticated {
                    code: "invalid_refresh_token",
                    message: "refresh token is invalid, expired or revoked; sign in again".into(),
                });
            }
        };
        let user = self
            .store
            .user(user_id)
            .await?
            .ok_or_else(invalid_credentials)?;
        let (access_token, expires_in) = self.auth.issue_access_token(user.id, login);
        Ok(TokenResponse {
            user,
            access_token,
            refresh_token: token,
            expires_in,
        })
    }

    /// Revokes the login a refresh token belongs to: its sockets close and its access tokens
    /// are refused at once, on every node.
    pub async fn logout(&self, refresh_token: &str) -> Result<()> {
        if let Some((user, login)) = self
            .store
            .revoke_refresh_family(&hash_refresh_token(refresh_token))
            .await?
        {
            self.revoked(user, vec![login]);
        }
        Ok(())
    }

    /// Tells every node that `user`'s `logins` were signed out.
    pub(super) fn revoked(&self, user: UserId, logins: Vec<LoginId>) {
        for login in &logins {
            self.auth.revocations().revoke(*login);
        }
        self.publish(Event::Revoked {
            user,
            logins,
            suspended: false,
        });
    }

    /// Learns, until `cancel`, the revocations this node did not hear on the bus: at start, those
    /// recent enough that their access tokens could still be valid; then every
    /// [`REVOCATION_POLL`], those recorded since (a password reset from `confab admin` runs beside
    /// the server, without its bus). One indexed query per poll, none per request.
    pub async fn watch_revocations(self: Arc<Self>, cancel: CancellationToken) {
        let lookback = self.auth.access_ttl().as_secs() as i64 + 60;
        let mut since = chrono::Utc::now().timestamp() - lookback;
        let mut tick = tokio::time::interval(REVOCATION_POLL);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            let now = chrono::Utc::now().timestamp();
            match self.store.revoked_since(since).await {
                Ok(found) => {
                    for (user, login) in found {
                        if self.auth.revocations().revoke(login) {
                            self.publish(Event::Revoked {
                                user,
                                suspended: false,
                                logins: vec![login],
                            });
                        }
                    }
                    // Seconds are coarse and clocks of nodes differ a little: look back a bit.
                    since = now - 5;
                }
                Err(e) => tracing::warn!(error = %e, "cannot read revocations"),
            }
        }
    }

    /// The user an access token names.
    pub fn authenticate(&self, access_token: &str) -> Result<UserId> {
        Ok(self.auth.verify_access_token(access_token)?.sub)
    }

    /// A user by id.
    pub async fn user(&self, id: UserId) -> Result<User> {
        self.store.user(id).await?.ok_or(Error::not_found("user"))
    }

    /// Users whose username or display name starts with `q`; at most 20.
    pub async fn search_users(&self, q: &str) -> Result<Vec<User>> {
        let q = q.trim();
        if q.chars().count() > 64 {
            return Err(Error::invalid(
                "invalid_query",
                "q must be at most 64 characters",
            ));
        }
        Ok(self.store.search_users(q, 20).await?)
    }

    /// Deletes expired refresh tokens every hour, until `cancel`: once expired they can no longer
    /// be presented, so keeping them would only grow the table.
    pub async fn purge_refresh_tokens(self: Arc<Self>, cancel: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            match self
                .store
                .purge_expired_refresh_tokens(chrono::Utc::now().timestamp())
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(count = n, "purged expired refresh tokens"),
                Err(e) => tracing::warn!(error = %e, "purging refresh tokens failed"),
            }
        }
    }

    async fn sign_in(&self, user: User, client: &Client) -> Result<TokenResponse> {
        let login = LoginId::now_v7();
        let (access_token, expires_in) = self.auth.issue_access_token(user.id, login);
        let (refresh_token, hash) = new_refresh_token();
        let expires_at = chrono::Utc::now().timestamp() + self.refresh_ttl.as_secs() as i64;
        self.store
            .insert_refresh_token(
                &hash,
                (user.id, login),
                expires_at,
                (&client.user_agent, &client.address.to_string()),
            )
            .await?;
        Ok(TokenResponse {
            user,
            access_token,
            refresh_token,
            expires_in,
        })
    }
}
