//! The wire contract in types: ids, validated values, HTTP resources and WebSocket frames.
//!
//! Everything a client sends is parsed here, once, into typed values (`Username`, `MessageBody`, …);
//! the rest of the crate never sees unchecked strings. What the server sends is built from the
//! resource types in [`api`] and the frames in [`ws`], so the JSON shapes live in one place and
//! `docs/protocol.md` describes exactly these types.

pub mod api;
pub mod cluster;
pub mod emoji;
pub mod links;
pub mod mentions;
pub mod values;
pub mod ws;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use emoji::{CustomEmojiName, Emoji};
pub use values::{DisplayName, MessageBody, Password, RoomName, RoomTopic, Username, ValueError};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh id; UUIDv7, so ids sort by creation time and index well.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// A user account.
    UserId
);
id_type!(
    /// A group room or a DM.
    RoomId
);
id_type!(
    /// A message.
    MessageId
);
id_type!(
    /// An uploaded file.
    FileId
);
id_type!(
    /// A link preview (one fetch of one URL, shared by the messages that link it within the hour).
    EmbedId
);
id_type!(
    /// One WebSocket session (a tab, a device).
    SessionId
);

/// A message's position in its room: gap-free and strictly increasing from 1.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type,
)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct Seq(pub i64);

impl Seq {
    /// The seq before the first message: "nothing read", "nothing seen".
    pub const ZERO: Seq = Seq(0);

    /// The following position.
    pub fn next(self) -> Seq {
        Seq(self.0 + 1)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A member's role in a group room. DMs have two members, both `Member`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Created the room; can do everything, including naming admins.
    Owner,
    /// Can add and remove members, edit the room, delete others' messages.
    Admin,
    /// Can read and post.
    Member,
}

impl Role {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    /// Owners and admins moderate: add and remove members, delete others' messages.
    pub fn moderates(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

impl FromStr for Role {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            _ => Err(ValueError::new(
                "invalid_role",
                "role must be owner, admin or member",
            )),
        }
    }
}

/// How much of a room's activity a member wants to hear of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyLevel {
    /// Every message counts as unread and may notify.
    #[default]
    All,
    /// Only messages that mention the member.
    Mentions,
    /// Nothing.
    None,
}

impl NotifyLevel {
    /// Rooms with more members than this default to [`NotifyLevel::Mentions`].
    pub const BUSY_ROOM: i64 = 20;

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyLevel::All => "all",
            NotifyLevel::Mentions => "mentions",
            NotifyLevel::None => "none",
        }
    }

    /// The level of a member who chose none, in a room of `members` people.
    pub fn default_for(members: i64) -> NotifyLevel {
        if members > Self::BUSY_ROOM {
            NotifyLevel::Mentions
        } else {
            NotifyLevel::All
        }
    }
}

impl FromStr for NotifyLevel {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "all" => Ok(NotifyLevel::All),
            "mentions" => Ok(NotifyLevel::Mentions),
            "none" => Ok(NotifyLevel::None),
            _ => Err(ValueError::new(
                "invalid_notify",
                "notify must be all, mentions or none",
            )),
        }
    }
}

/// A user's role on the whole server: admins run it (the first account is one; `confab admin
/// set-server-role` names others), everyone else is a member.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerRole {
    /// Runs the server.
    Admin,
    /// Everyone else.
    #[default]
    Member,
}

impl ServerRole {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ServerRole::Admin => "admin",
            ServerRole::Member => "member",
        }
    }
}

impl FromStr for ServerRole {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(ServerRole::Admin),
            "member" => Ok(ServerRole::Member),
            _ => Err(ValueError::new(
                "invalid_server_role",
                "server role must be admin or member",
            )),
        }
    }
}

/// Who can find and join a group room: `private` rooms are joined by invite or by a moderator
/// adding you; `public` rooms are listed in the directory and anyone signed in may join.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Members only.
    #[default]
    Private,
    /// Listed, open to join.
    Public,
}

impl Visibility {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Private => "private",
            Visibility::Public => "public",
        }
    }
}

impl FromStr for Visibility {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "private" => Ok(Visibility::Private),
            "public" => Ok(Visibility::Public),
            _ => Err(ValueError::new(
                "invalid_visibility",
                "visibility must be private or public",
            )),
        }
    }
}

/// Whether a room is a named group or a two-person DM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomKind {
    /// A named room with owner, admins and members.
    Group,
    /// The one room of a pair of users.
    Dm,
}

impl RoomKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RoomKind::Group => "group",
            RoomKind::Dm => "dm",
        }
    }
}

impl FromStr for RoomKind {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "group" => Ok(RoomKind::Group),
            "dm" => Ok(RoomKind::Dm),
            _ => Err(ValueError::new("invalid_kind", "kind must be group or dm")),
        }
    }
}

/// A user's chosen availability, as the `presence` event carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum PresenceStatus {
    /// Connected and available.
    Online,
    /// Connected, away from the keyboard.
    Away,
    /// Connected, do not disturb.
    Dnd,
    /// No session open anywhere.
    Offline,
}

impl PresenceStatus {
    /// The wire and Redis spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PresenceStatus::Online => "online",
            PresenceStatus::Away => "away",
            PresenceStatus::Dnd => "dnd",
            PresenceStatus::Offline => "offline",
        }
    }
}

impl FromStr for PresenceStatus {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "online" => Ok(PresenceStatus::Online),
            "away" => Ok(PresenceStatus::Away),
            "dnd" => Ok(PresenceStatus::Dnd),
            "offline" => Ok(PresenceStatus::Offline),
            _ => Err(ValueError::new(
                "invalid_status",
                "status must be online, away or dnd",
            )),
        }
    }
}

/// An address or a CIDR range of addresses (`10.0.0.5`, `172.16.0.0/12`, `fd00::/8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpRange(pub ipnet::IpNet);

impl IpRange {
    /// Whether `ip` is in the range (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
            v4 => v4,
        };
        self.0.contains(&ip)
    }
}

impl std::str::FromStr for IpRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Ok(net) = s.parse::<ipnet::IpNet>() {
            return Ok(IpRange(net));
        }
        s.parse::<std::net::IpAddr>()
            .map(|ip| IpRange(ipnet::IpNet::from(ip)))
            .map_err(|_| format!("'{s}' is not an IP address or CIDR range"))
    }
}
