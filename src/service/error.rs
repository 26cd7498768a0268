//! The one error of the service layer, which both transports translate: HTTP into a status and a
//! JSON body, the WebSocket into an `error` frame. Each error carries a stable snake_case `code`.

use crate::auth::AuthError;
use crate::protocol::ValueError;
use crate::sfu::SfuError;
use crate::store::StoreError;

/// The broad class of an error, which decides its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400: the request is malformed or breaks a rule.
    Invalid,
    /// 401: no valid credentials.
    Unauthenticated,
    /// 403: known, but not allowed.
    Forbidden,
    /// 404: no such thing, or not visible to the caller.
    NotFound,
    /// 409: clashes with the current state.
    Conflict,
    /// 410: existed, but is no longer usable (an expired, used-up or revoked invite).
    Gone,
    /// 413: too big.
    TooLarge,
    /// 408: the request took too long to arrive.
    TimedOut,
    /// 429: slow down.
    RateLimited,
    /// 503: a dependency is down; try again.
    Unavailable,
    /// 500: our fault.
    Internal,
}

/// What went wrong, for the client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A rule of the request was broken.
    #[error("{message}")]
    Invalid {
        /// Stable code.
        code: &'static str,
        /// For people.
        message: String,
    },
    /// Missing, invalid or expired credentials.
    #[error("{message}")]
    Unauthenticated {
        /// Stable code.
        code: &'static str,
        /// For people.
        message: String,
    },
    /// The caller may not do this.
    #[error("{message}")]
    Forbidden {
        /// Stable code.
        code: &'static str,
        /// For people.
        message: String,
    },
    /// No such thing, or the caller cannot see it (a non-member asking about a room).
    #[error("{what} not found")]
    NotFound {
        /// What was looked for: `room`, `message`, `user`, …
        what: &'static str,
    },
    /// The request clashes with the current state.
    #[error("{message}")]
    Conflict {
        /// Stable code.
        code: &'static str,
        /// For people.
        message: String,
    },
    /// It existed but is spent.
    #[error("{message}")]
    Gone {
        /// Stable code.
        code: &'static str,
        /// For people.
        message: String,
    },
    /// Too large.
    #[error("{message}")]
    TooLarge {
        /// Stable code.
        code: &'static str,
        /// For people.
        message: String,
    },
    /// The request (its body) arrived too slowly.
    #[error("the request took too long to arrive")]
    TimedOut,
    /// Sending too fast.
    #[error("too many requests; retry in {retry_after_ms} ms")]
    RateLimited {
        /// When to try again.
        retry_after_ms: u64,
    },
    /// A dependency is down.
    #[error("service temporarily unavailable")]
    Unavailable,
    /// A bug or an unexpected failure; details go to the log, not the client.
    #[error("internal error")]
    Internal(String),
}

impl Error {
    /// A 400 with its code.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Error {
        Error::Invalid {
            code,
            message: message.into(),
        }
    }

    /// A 403 with its code.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Error {
        Error::Forbidden {
            code,
            message: message.into(),
        }
    }

    /// A 409 with its code.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Error {
        Error::Conflict {
            code,
            message: message.into(),
        }
    }

    /// A 404 for `what`.
    pub fn not_found(what: &'static str) -> Error {
        Error::NotFound { what }
    }

    /// Its class.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Invalid { .. } => ErrorKind::Invalid,
            Error::Unauthenticated { .. } => ErrorKind::Unauthenticated,
            Error::Forbidden { .. } => ErrorKind::Forbidden,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Conflict { .. } => ErrorKind::Conflict,
            Error::Gone { .. } => ErrorKind::Gone,
            Error::TooLarge { .. } => ErrorKind::TooLarge,
            Error::TimedOut => ErrorKind::TimedOut,
            Error::RateLimited { .. } => ErrorKind::RateLimited,
            Error::Unavailable => ErrorKind::Unavailable,
            Error::Internal(_) => ErrorKind::Internal,
        }
    }

    /// Its stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Invalid { code, .. }
            | Error::Unauthenticated { code, .. }
            | Error::Forbidden { code, .. }
            | Error::Conflict { code, .. }
            | Error::Gone { code, .. }
            | Error::TooLarge { code, .. } => code,
            Error::NotFound { what } => match *what {
                "room" => "room_not_found",
                "message" => "message_not_found",
                "user" => "user_not_found",
                "member" => "member_not_found",
                "file" => "file_not_found",
                "invite" => "invite_not_found",
                "ban" => "ban_not_found",
                "session" => "session_not_found",
                "avatar" => "avatar_not_found",
                "block" => "block_not_found",
                "emoji" => "emoji_not_found",
                "push_subscription" => "push_subscription_not_found",
                "embed" => "embed_not_found",
                "route" => "route_not_found",
                "voice call" => "not_in_call",
                _ => "not_found",
            },
            Error::TimedOut => "request_timeout",
            Error::RateLimited { .. } => "rate_limited",
            Error::Unavailable => "unavailable",
            Error::Internal(_) => "internal",
        }
    }

    /// For `rate_limited`: how long to wait.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            Error::RateLimited { retry_after_ms } => Some(*retry_after_ms),
            _ => None,
        }
    }
}

impl From<ValueError> for Error {
    fn from(e: ValueError) -> Error {
        Error::Invalid {
            code: e.code,
            message: e.message,
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        match e {
            StoreError::NotFound => Error::not_found("resource"),
            StoreError::Conflict(code) => Error::Conflict {
                code,
                message: code.replace('_', " "),
            },
            e if e.is_unavailable() => {
                tracing::warn!(error = %e, "store unavailable");
                Error::Unavailable
            }
            e => {
                tracing::error!(error = %e, "store failure");
                Error::Internal(e.to_string())
            }
        }
    }
}

impl From<AuthError> for Error {
    fn from(e: AuthError) -> Error {
        match e {
            AuthError::Expired => Error::Unauthenticated {
                code: "token_expired",
                message: "access token expired; refresh it".into(),
            },
            AuthError::Invalid => Error::Unauthenticated {
                code: "invalid_token",
                message: "invalid access token".into(),
            },
            AuthError::Revoked => Error::Unauthenticated {
                code: "token_revoked",
                message: "this login was signed out; sign in again".into(),
            },
            AuthError::Hashing(msg) => Error::Internal(msg),
        }
    }
}

impl From<SfuError> for Error {
    fn from(e: SfuError) -> Error {
        let code = e.code();
        let message = e.to_string();
        match e {
            SfuError::Full { .. } | SfuError::ScreenLimit { .. } | SfuError::NoOfferPending => {
                Error::Conflict { code, message }
            }
            SfuError::NotInCall { .. } => Error::not_found("voice call"),
            SfuError::BadSdp(_) | SfuError::BadCandidate(_) => Error::Invalid { code, message },
            SfuError::Closed => Error::Unavailable,
            SfuError::Config(_) | SfuError::Io(_) | SfuError::Internal(_) => {
                tracing::error!(error = %message, "sfu failure");
                Error::Internal(message)
            }
        }
    }
}

/// The result of a service call.
pub type Result<T, E = Error> = std::result::Result<T, E>;
