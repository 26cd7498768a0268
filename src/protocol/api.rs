//! Resources and request bodies of the HTTP API (`/api/v1`), shared with the WebSocket frames.
//!
//! Resources (`User`, `Room`, `Message`, …) are what the server answers and what events carry; they
//! derive `Deserialize` too so the typed client in [`crate::client`] and the tests read them back.
//! Request bodies hold raw strings: handlers parse them into the validated values of
//! [`super::values`], so a bad field gets its own error code rather than a generic decode failure.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    FileId, MessageId, NotifyLevel, Role, RoomId, RoomKind, Seq, ServerRole, UserId, Visibility,
};

/// A user as others see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Stable id.
    pub id: UserId,
    /// Login name, as typed at registration.
    pub username: String,
    /// Name to show.
    pub display_name: String,
    /// Their role on the server.
    #[serde(default)]
    pub server_role: ServerRole,
    /// A short line they chose to show ("in a meeting"); empty for none.
    #[serde(default)]
    pub status_text: String,
    /// Their picture (square PNG, fetched with the access token), if they set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
}

/// A room as one member sees it: the room itself plus that member's read position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Room {
    /// Stable id.
    pub id: RoomId,
    /// Group room or DM.
    pub kind: RoomKind,
    /// The room's name; for a DM, the other member's display name.
    pub name: String,
    /// The room's topic (empty for none).
    pub topic: String,
    /// When the room was created.
    pub created_at: DateTime<Utc>,
    /// The seq of the newest message (0 when empty).
    pub last_seq: Seq,
    /// The newest seq this member has read.
    pub last_read_seq: Seq,
    /// Messages by others, not deleted and not thread replies, above `last_read_seq`.
    pub unread_count: i64,
    /// The newest message, if any.
    pub last_message: Option<Message>,
    /// How many members the room has.
    pub members_count: i64,
    /// The viewer's role.
    pub role: Role,
    /// For a DM, the other member (for presence and avatars); null for group rooms.
    pub dm_user: Option<User>,
    /// Unread messages (as `unread_count` counts them) that mention this member.
    #[serde(default)]
    pub mention_count: i64,
    /// This member's notification level for the room (their choice, or the default).
    #[serde(default)]
    pub notify: NotifyLevel,
    /// Whether the room is listed in the directory and open to join (DMs: always private).
    #[serde(default)]
    pub visibility: Visibility,
    /// Seconds a member (not a moderator) must wait between two messages; 0 when off.
    #[serde(default)]
    pub slow_mode_secs: i32,
    /// Until when the viewer is timed out here (reads, but cannot post, type or speak).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_until: Option<DateTime<Utc>>,
}

/// One member of a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Who.
    pub user: User,
    /// Their role in this room.
    pub role: Role,
    /// The newest seq they have read (for "seen by").
    pub last_read_seq: Seq,
    /// Until when they are timed out, if they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_until: Option<DateTime<Utc>>,
}

/// A message, live or from history. A deleted one keeps its seq, with `deleted: true` and empty body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Stable id.
    pub id: MessageId,
    /// The room it was posted in.
    pub room_id: RoomId,
    /// Its position in the room.
    pub seq: Seq,
    /// Its author (for a forward: who forwarded it).
    pub sender_id: UserId,
    /// The text; empty when deleted.
    pub body: String,
    /// When it was posted.
    pub created_at: DateTime<Utc>,
    /// When it was last edited, if ever.
    pub edited_at: Option<DateTime<Utc>>,
    /// A tombstone of a deleted message.
    pub deleted: bool,
    /// The sender's idempotency key.
    pub client_id: Option<String>,
    /// The message this one answers, cut to a preview.
    pub reply_to: Option<ReplyPreview>,
    /// Where a forwarded message came from.
    pub forwarded_from: Option<ForwardedFrom>,
    /// Files it carries.
    pub attachments: Vec<Attachment>,
    /// Its reactions, one entry per emoji in the order each was first used.
    #[serde(default)]
    pub reactions: Vec<Reaction>,
    /// Whether it is pinned in its room.
    #[serde(default)]
    pub pinned: bool,
    /// Members it mentions by `@username`, in order of first mention.
    #[serde(default)]
    pub mentions: Vec<UserId>,
    /// It says `@room` (from an owner or admin): it mentions everyone.
    #[serde(default)]
    pub mentions_room: bool,
    /// The root of the thread this message replies in; `None` for the main timeline.
    #[serde(default)]
    pub thread_root: Option<MessageId>,
    /// A root's thread (`None` while it has no live reply). Not filled in a room's
    /// `last_message` preview.
    #[serde(default)]
    pub thread: Option<ThreadSummary>,
    /// Previews of the links it carries, filled in the background after it is posted (see
    /// `message.embeds`); empty when none.
    #[serde(default)]
    pub embeds: Vec<Embed>,
}

/// The preview of a link in a message, read by the server from the page's Open Graph (or
/// Twitter card, or plain HTML) tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Embed {
    /// The link as written in the message.
    pub url: String,
    /// The page's title.
    pub title: Option<String>,
    /// Its description.
    pub description: Option<String>,
    /// The site's name.
    pub site_name: Option<String>,
    /// Its picture, fetched, shrunk and served by this server.
    pub image: Option<EmbedImage>,
}

/// The picture of a link preview, as Confab serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbedImage {
    /// `/api/v1/embeds/{id}/image`: on this server, for members of a room where it appears.
    pub url: String,
    /// Pixels across.
    pub width: i32,
    /// Pixels down.
    pub height: i32,
}

impl Embed {
    /// The longest title kept, in characters.
    pub const MAX_TITLE: usize = 300;
    /// The longest description kept, in characters.
    pub const MAX_DESCRIPTION: usize = 1000;
    /// The longest site name kept, in characters.
    pub const MAX_SITE_NAME: usize = 100;
}

/// One emoji's reactions to a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    /// The emoji: one Unicode emoji, or a custom `:name:`.
    pub emoji: String,
    /// How many people reacted with it (exact).
    pub count: i64,
    /// Who, in the order they reacted: at most [`Reaction::MAX_USER_IDS`] of them.
    pub user_ids: Vec<UserId>,
}

impl Reaction {
    /// How many reactors a reaction lists; `count` says how many there are.
    pub const MAX_USER_IDS: usize = 50;
    /// How many distinct emoji one message may carry.
    pub const MAX_PER_MESSAGE: i64 = 20;
}

/// A pinned message of a room, as `GET /rooms/{id}/pins` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pin {
    /// The message.
    pub message: Message,
    /// Who pinned it (null if that account was deleted since).
    pub pinned_by: Option<UserId>,
    /// When.
    pub pinned_at: DateTime<Utc>,
}

impl Pin {
    /// How many messages one room may have pinned.
    pub const MAX_PER_ROOM: i64 = 50;
}

/// A custom emoji: an image a server admin uploaded, used in reactions as `:name:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomEmoji {
    /// Its name, without colons.
    pub name: String,
    /// Its image (fetched with the access token; any signed-in user may).
    pub url: String,
    /// Who uploaded it (null if that account was deleted since).
    pub created_by: Option<UserId>,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl CustomEmoji {
    /// How many custom emoji one server may have.
    pub const MAX_PER_SERVER: i64 = 200;
}

/// Answer of `GET /emoji`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CustomEmojiList {
    /// In name order.
    pub emoji: Vec<CustomEmoji>,
}

/// Body of `POST /emoji`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateEmojiRequest {
    /// `[a-z0-9_]{2,32}`.
    pub name: String,
    /// An image the caller uploaded.
    pub file_id: FileId,
}

/// Answer of `GET /rooms/{id}/pins`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PinList {
    /// Newest pin first.
    pub pins: Vec<Pin>,
}

/// The quoted message of a reply, its body cut to a preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyPreview {
    /// The quoted message.
    pub id: MessageId,
    /// Its author.
    pub sender_id: UserId,
    /// Its text, cut to [`ReplyPreview::MAX_CHARS`] characters; empty if it was deleted since.
    pub body: String,
    /// True if the quoted message was deleted since.
    pub deleted: bool,
}

impl ReplyPreview {
    /// How much of the quoted body a reply carries.
    pub const MAX_CHARS: usize = 200;
}

/// The original of a forwarded message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardedFrom {
    /// The original message.
    pub message_id: MessageId,
    /// The room it was posted in.
    pub room_id: RoomId,
    /// Its author.
    pub sender_id: UserId,
    /// When it was posted.
    pub created_at: DateTime<Utc>,
}

/// A file carried by a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The file.
    pub id: FileId,
    /// Its sanitized name.
    pub name: String,
    /// Its type, sniffed from the bytes.
    pub content_type: String,
    /// Its size in bytes.
    pub size: i64,
    /// Image width in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<i32>,
    /// Image height in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<i32>,
    /// Audio duration in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
    /// Where to fetch it.
    pub url: String,
    /// Where to fetch its thumbnail (images only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
}

/// Answer of register, login and refresh.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The signed-in user.
    pub user: User,
    /// A short-lived JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// An opaque token for `/auth/refresh`, valid once.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

/// `POST /auth/register`.
#[derive(Debug, Deserialize, Serialize)]
pub struct RegisterRequest {
    /// Wanted login name.
    pub username: String,
    /// Wanted password.
    pub password: String,
    /// Name to show; the username if absent.
    #[serde(default)]
    pub display_name: Option<String>,
    /// An invite: required when the server registers by invite only, and joins its room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite_code: Option<String>,
}

/// `POST /auth/login`.
#[derive(Debug, Deserialize, Serialize)]
pub struct LoginRequest {
    /// Login name, any case.
    pub username: String,
    /// Password.
    pub password: String,
}

/// `POST /auth/refresh` and `POST /auth/logout`.
#[derive(Debug, Deserialize, Serialize)]
pub struct RefreshRequest {
    /// The refresh token to use (and so retire).
    pub refresh_token: String,
}

/// `PATCH /me`.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct UpdateMeRequest {
    /// New name to show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// New status line (empty clears it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_text: Option<String>,
    /// An image the user uploaded (`POST /files`), to crop square and use as their avatar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_file_id: Option<FileId>,
}

/// `POST /me/password`.
#[derive(Debug, Deserialize, Serialize)]
pub struct ChangePasswordRequest {
    /// The password now.
    pub current_password: String,
    /// The one to use from now on.
    pub new_password: String,
}

/// `DELETE /me`.
#[derive(Debug, Deserialize, Serialize)]
pub struct DeleteMeRequest {
    /// The account's password, to confirm.
    pub password: String,
}

/// One login of the user: a sign-in and the refresh tokens rotated from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginSession {
    /// The login's id (what `DELETE /me/sessions/{id}` names).
    pub id: uuid::Uuid,
    /// When it signed in.
    pub created_at: DateTime<Utc>,
    /// When its tokens were last refreshed.
    pub last_used_at: DateTime<Utc>,
    /// The browser or client that signed in, as it said (`User-Agent`).
    pub user_agent: String,
    /// The address it signed in from.
    pub address: String,
    /// The login making this request.
    pub current: bool,
}

/// `GET /users?q=`.
#[derive(Debug, Deserialize)]
pub struct UserSearchQuery {
    /// Prefix of a username or display name.
    #[serde(default)]
    pub q: String,
}

/// `POST /rooms`.
#[derive(Debug, Deserialize, Serialize)]
pub struct CreateRoomRequest {
    /// The room's name.
    pub name: String,
    /// Its topic.
    #[serde(default)]
    pub topic: Option<String>,
    /// `private` (the default) or `public`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<String>,
}

/// `PATCH /rooms/{id}`.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct UpdateRoomRequest {
    /// New name, if changing.
    #[serde(default)]
    pub name: Option<String>,
    /// New topic, if changing.
    #[serde(default)]
    pub topic: Option<String>,
    /// `private` or `public`, if changing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<String>,
    /// Slow mode in seconds (0 to 21,600; 0 turns it off), if changing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_mode_secs: Option<i64>,
}

/// An invite to a room: whoever has the code (or its link) may join, until it expires, is used
/// up or is revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    /// The secret code.
    pub code: String,
    /// The client's page for it: `/invite/{code}` on this server.
    pub url: String,
    /// The room it joins.
    pub room_id: RoomId,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// How many times it may be used; null for unlimited.
    pub max_uses: Option<i32>,
    /// How many times it was used.
    pub uses: i32,
}

/// `POST /rooms/{id}/invites`.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct CreateInviteRequest {
    /// Uses allowed (1 to 10,000); unlimited if absent.
    #[serde(default)]
    pub max_uses: Option<i64>,
    /// Lifetime in seconds (60 to a year); 7 days if absent.
    #[serde(default)]
    pub expires_in_secs: Option<i64>,
}

/// `GET /invites/{code}`, answered without a token: what a visitor sees before joining.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitePreview {
    /// The room's name.
    pub name: String,
    /// Its topic.
    pub topic: String,
    /// How many members it has.
    pub members_count: i64,
}

/// A public room in the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicRoom {
    /// The room.
    pub id: RoomId,
    /// Its name.
    pub name: String,
    /// Its topic.
    pub topic: String,
    /// How many members it has.
    pub members_count: i64,
    /// Whether the viewer is a member already.
    pub joined: bool,
}

/// `GET /rooms/public?q=`.
#[derive(Debug, Default, Deserialize)]
pub struct DirectoryQuery {
    /// Part of a room's name or topic; every public room if empty.
    #[serde(default)]
    pub q: String,
}

/// `PATCH /rooms/{id}/settings`: the viewer's own settings for a room.
#[derive(Debug, Deserialize, Serialize)]
pub struct RoomSettingsRequest {
    /// `all`, `mentions` or `none`.
    pub notify: String,
}

/// `POST /dms` and `POST /rooms/{id}/members`.
#[derive(Debug, Deserialize, Serialize)]
pub struct UserRef {
    /// The other user.
    pub user_id: UserId,
}

/// `PATCH /rooms/{id}/members/{user_id}`: a new role, a timeout, or both.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct SetRoleRequest {
    /// `owner`, `admin` or `member`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Until when the member may read but not post, type or speak; `null` lifts a timeout.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout_until: Option<Option<DateTime<Utc>>>,
}

/// A field that may be absent (`None`), `null` (`Some(None)`) or a value.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `PUT /rooms/{id}/bans/{user_id}`.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct BanRequest {
    /// Why, for the audit log and the ban list (at most 500 characters).
    #[serde(default)]
    pub reason: Option<String>,
}

/// A user kept out of a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ban {
    /// Who.
    pub user: User,
    /// The moderator who banned them.
    pub banned_by: Option<UserId>,
    /// Why.
    pub reason: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// One moderation action, as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Its id (time-ordered).
    pub id: uuid::Uuid,
    /// When.
    pub at: DateTime<Utc>,
    /// The room it happened in, for room actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_id: Option<RoomId>,
    /// Who acted.
    pub actor_id: UserId,
    /// What: `member.remove`, `member.ban`, `member.unban`, `member.timeout`, `message.delete`,
    /// `room.slow_mode`, `room.delete`, `user.suspend`, `user.unsuspend`.
    pub action: String,
    /// Whom it concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_user_id: Option<UserId>,
    /// Which message it concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_message_id: Option<MessageId>,
    /// Why, as the moderator said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /rooms/{id}/messages`; the WebSocket `message.send` carries the same fields.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct SendMessageRequest {
    /// The text.
    #[serde(default)]
    pub body: Option<String>,
    /// Idempotency key chosen by the sender.
    #[serde(default)]
    pub client_id: Option<String>,
    /// A message of the same room to answer.
    #[serde(default)]
    pub reply_to: Option<MessageId>,
    /// A message (of any room the sender can read) to forward.
    #[serde(default)]
    pub forward_of: Option<MessageId>,
    /// Files the sender uploaded, to attach.
    #[serde(default)]
    pub attachments: Option<Vec<FileId>>,
    /// A live main-timeline message of the same room: the reply goes into its thread.
    #[serde(default)]
    pub thread_root: Option<MessageId>,
}

/// `PATCH /messages/{id}`; the WebSocket `message.edit` carries the same field.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct EditMessageRequest {
    /// The new text.
    pub body: String,
}

/// `POST /rooms/{id}/read`; the WebSocket `read` carries the same field.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ReadRequest {
    /// The newest seq read.
    pub seq: Seq,
}

/// `GET /rooms/{id}/messages`.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct HistoryQuery {
    /// Newest messages below this seq.
    #[serde(default)]
    pub before: Option<i64>,
    /// Oldest messages above this seq.
    #[serde(default)]
    pub after: Option<i64>,
    /// Messages centred on this seq (a permalink's target).
    #[serde(default)]
    pub around: Option<i64>,
    /// At most this many (1 to 100, default 50).
    #[serde(default)]
    pub limit: Option<i64>,
}

/// Answer of `GET /rooms/{id}/messages`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryPage {
    /// Oldest first.
    pub messages: Vec<Message>,
    /// True when more exist beyond this page in the direction asked (for `around`: older ones).
    pub has_more: bool,
    /// For `around` only: true when newer messages exist beyond this page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_newer: Option<bool>,
}

/// `GET /search`: full-text search over the messages of the caller's rooms.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct SearchQuery {
    /// Words (matched by stem and prefix) and `"quoted phrases"`; all must match.
    #[serde(default)]
    pub q: String,
    /// Only this room.
    #[serde(default)]
    pub room_id: Option<RoomId>,
    /// Only messages from this user.
    #[serde(default)]
    pub from: Option<UserId>,
    /// `file`, `image` or `link`.
    #[serde(default)]
    pub has: Option<String>,
    /// Only messages sent before this time (RFC 3339).
    #[serde(default)]
    pub before: Option<DateTime<Utc>>,
    /// Only messages sent after this time (RFC 3339).
    #[serde(default)]
    pub after: Option<DateTime<Utc>>,
    /// At most this many (1 to 50, default 20).
    #[serde(default)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// One search result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchResult {
    /// The matching message, as history shows it.
    pub message: Message,
    /// `[start, end)` ranges of `message.body` that matched, in UTF-16 code units (the
    /// indices of a JavaScript string), in order.
    pub highlights: Vec<[usize; 2]>,
}

/// Answer of `GET /search`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchResults {
    /// Newest first.
    pub results: Vec<SearchResult>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Answer of `GET /config`: the limits a client checks before it sends, so that it can refuse at
/// once what the server would refuse only after the bytes crossed the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerConfig {
    /// The largest file one upload may carry, in bytes (`CONFAB_MAX_UPLOAD_MB` MiB).
    pub max_upload_bytes: u64,
    /// What one user may keep in uploads, in bytes (`CONFAB_USER_QUOTA_MB` MiB).
    pub user_quota_bytes: u64,
    /// The longest message body, in characters.
    pub max_message_chars: usize,
    /// The most files one message may carry.
    pub max_attachments: usize,
}

/// The JSON body of every error answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// A stable code and a human sentence.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// snake_case, stable.
    pub code: String,
    /// For people.
    pub message: String,
    /// For `rate_limited`: how long to wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

/// A root message's thread, as the root carries it and `thread.updated` announces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadSummary {
    /// Live (not deleted) replies in the thread.
    pub reply_count: i64,
    /// When the newest live reply was posted.
    pub last_reply_at: DateTime<Utc>,
    /// Authors of live replies, the latest to reply first, at most
    /// [`ThreadSummary::MAX_PARTICIPANTS`].
    pub participant_ids: Vec<UserId>,
}

impl ThreadSummary {
    /// How many participants a summary lists.
    pub const MAX_PARTICIPANTS: usize = 5;
}

/// `GET /messages/{id}/thread`.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct ThreadQuery {
    /// Replies above this seq (0 when absent: from the first).
    #[serde(default)]
    pub after: Option<i64>,
    /// At most this many (1 to 100, default 50).
    #[serde(default)]
    pub limit: Option<i64>,
}

/// Answer of `GET /messages/{id}/thread`: the root (possibly a tombstone) and a page of its
/// replies, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThreadPage {
    /// The thread's root message.
    pub root: Message,
    /// Replies, oldest first.
    pub messages: Vec<Message>,
    /// True when newer replies follow this page.
    pub has_more: bool,
}

/// `GET /threads`.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct ThreadsQuery {
    /// Only this room's threads (all your rooms when absent).
    #[serde(default)]
    pub room_id: Option<RoomId>,
}

/// One followed thread, as `GET /threads` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowedThread {
    /// The root message, with its `thread` summary.
    pub root: Message,
    /// Live replies by others above `last_read_seq`.
    pub unread: i64,
    /// The newest seq of the thread the viewer has read.
    pub last_read_seq: Seq,
}

/// Answer of `GET /threads`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThreadList {
    /// Newest reply first.
    pub threads: Vec<FollowedThread>,
}

/// `POST /push/subscriptions`: what `PushSubscription.toJSON()` gives in a browser.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushSubscribeRequest {
    /// The push service's URL for this browser (https).
    pub endpoint: String,
    /// The browser's encryption keys for this subscription.
    pub keys: PushKeys,
}

/// A subscription's keys, base64url (RFC 8291).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushKeys {
    /// The browser's P-256 public key, uncompressed (65 bytes).
    pub p256dh: String,
    /// The authentication secret (16 bytes).
    pub auth: String,
}

/// `DELETE /push/subscriptions`: which of the caller's subscriptions to end.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushUnsubscribeRequest {
    /// The subscription's endpoint.
    pub endpoint: String,
}

/// One of the caller's push subscriptions, as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushSubscription {
    /// Stable id.
    pub id: uuid::Uuid,
    /// The push service's URL.
    pub endpoint: String,
    /// When it was made (or last renewed).
    pub created_at: DateTime<Utc>,
}

/// `GET /push` and `PATCH /push`: the server's VAPID key and the caller's push settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushSettings {
    /// The server's VAPID public key (uncompressed P-256, base64url): the
    /// `applicationServerKey` of `PushManager.subscribe`.
    pub vapid_public_key: String,
    /// Whether notifications carry the message text (default false: room name and sender only).
    pub include_text: bool,
    /// The caller's subscriptions (one per browser that opted in).
    pub subscriptions: Vec<PushSubscription>,
}

/// `PATCH /push`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpdatePushRequest {
    /// Include the message text in notifications.
    pub include_text: bool,
}

/// What kind of push a [`PushNotification`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushKind {
    /// A message: a DM, a mention, or any message in a room set to `all`.
    Message,
    /// A DM call rings.
    Ring,
}

/// The JSON a push carries (encrypted, RFC 8291) to the browser's service worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushNotification {
    /// `message` or `ring`.
    #[serde(rename = "type")]
    pub kind: PushKind,
    /// The room (the permalink is `#/room/{room_id}/{seq}`).
    pub room_id: RoomId,
    /// `group` or `dm`.
    pub room_kind: RoomKind,
    /// The room's name; for a DM, the sender's display name.
    pub room_name: String,
    /// The sender's (or caller's) display name.
    pub sender: String,
    /// The message's seq; absent for a ring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<Seq>,
    /// The message text (cut to a preview), only if the recipient chose to include it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}
