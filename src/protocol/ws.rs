//! WebSocket frames of `/api/v1/ws`: one JSON object per text frame, tagged by `type`.
//!
//! A client frame may carry an `id`; the server answers it with `ack` (the result's fields beside
//! `type` and `id`) or `error`. Server events carry no `id`. Parsing goes in two steps so that a bad
//! frame gets an `error` naming the problem and, where it could be read, the frame's `id`:
//! [`parse_client_frame`] first reads `id` and `type`, then the fields of that type.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::api::{
    EditMessageRequest, Message, ReadRequest, Room, SendMessageRequest, ThreadSummary, User,
};
use super::{MessageId, PresenceStatus, RoomId, Seq, SessionId, UserId};

/// In `auth`'s `accepts`: the client reads `presence.batch`. Without it a session is sent one
/// `presence` event per user instead, as the base contract has it.
pub const ACCEPTS_PRESENCE_BATCH: &str = "presence.batch";

/// Most users one `presence.subscribe` may name.
pub const PRESENCE_SUBSCRIBE_MAX: usize = 500;

/// A frame from the client, with the request id it may carry.
#[derive(Debug)]
pub struct ClientEnvelope {
    /// Echoed in the answer.
    pub id: Option<String>,
    /// What the client asks.
    pub frame: ClientFrame,
}

/// Requests a client can make over the socket.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "type")]
pub enum ClientFrame {
    /// First frame: authenticate, optionally resuming rooms from the seqs the client has.
    #[serde(rename = "auth")]
    Auth {
        /// An access token.
        token: String,
        /// Per room, the newest seq the client has.
        #[serde(default)]
        resume: Option<HashMap<RoomId, Seq>>,
        /// Frames beyond the base contract the client understands ([`ACCEPTS_PRESENCE_BATCH`]);
        /// names it does not know are ignored.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        accepts: Vec<String>,
    },
    /// Post a message: the fields of `POST /rooms/{id}/messages` beside the room.
    #[serde(rename = "message.send")]
    MessageSend {
        /// Where.
        room_id: RoomId,
        /// What: text, reply, forward, attachments, idempotency key.
        #[serde(flatten)]
        message: SendMessageRequest,
    },
    /// Change a message's text (author only): the body of `PATCH /messages/{id}`.
    #[serde(rename = "message.edit")]
    MessageEdit {
        /// Which.
        message_id: MessageId,
        /// The new text.
        #[serde(flatten)]
        edit: EditMessageRequest,
    },
    /// Delete a message (author, or a room owner/admin).
    #[serde(rename = "message.delete")]
    MessageDelete {
        /// Which.
        message_id: MessageId,
    },
    /// React to a message: `PUT /messages/{id}/reactions/{emoji}`.
    #[serde(rename = "reaction.add")]
    ReactionAdd {
        /// Which message.
        message_id: MessageId,
        /// One Unicode emoji or a custom `:name:`.
        emoji: String,
    },
    /// Take a reaction back: `DELETE /messages/{id}/reactions/{emoji}`.
    #[serde(rename = "reaction.remove")]
    ReactionRemove {
        /// Which message.
        message_id: MessageId,
        /// The emoji reacted with.
        emoji: String,
    },
    /// Started or stopped typing.
    #[serde(rename = "typing")]
    Typing {
        /// Where.
        room_id: RoomId,
        /// True while typing.
        active: bool,
    },
    /// Read up to `seq`: the body of `POST /rooms/{id}/read`.
    #[serde(rename = "read")]
    Read {
        /// Where.
        room_id: RoomId,
        /// The newest seq read.
        #[serde(flatten)]
        read: ReadRequest,
    },
    /// Replay a room's messages after `after_seq`.
    #[serde(rename = "sync")]
    Sync {
        /// Which room.
        room_id: RoomId,
        /// Newest seq the client has.
        after_seq: Seq,
    },
    /// Set availability.
    #[serde(rename = "presence.set")]
    PresenceSet {
        /// online, away or dnd.
        status: PresenceStatus,
    },
    /// Hear the presence of these members of a large room (the ones a member list on screen
    /// shows), replacing what the session subscribed to before; an empty list ends it.
    #[serde(rename = "presence.subscribe")]
    PresenceSubscribe {
        /// The room the users are members of.
        room_id: RoomId,
        /// Whose presence, at most [`PRESENCE_SUBSCRIBE_MAX`].
        user_ids: Vec<UserId>,
    },
    /// Join a room's voice call.
    #[serde(rename = "voice.join")]
    VoiceJoin {
        /// Which room.
        room_id: RoomId,
    },
    /// Answer the server's offer.
    #[serde(rename = "voice.answer")]
    VoiceAnswer {
        /// Which room.
        room_id: RoomId,
        /// The SDP answer.
        sdp: String,
    },
    /// A trickled ICE candidate.
    #[serde(rename = "voice.candidate")]
    VoiceCandidate {
        /// Which room.
        room_id: RoomId,
        /// RTCIceCandidateInit.
        candidate: IceCandidateInit,
    },
    /// Mute or unmute the microphone.
    #[serde(rename = "voice.mute")]
    VoiceMute {
        /// Which room.
        room_id: RoomId,
        /// True to mute.
        muted: bool,
    },
    /// Deafen or undeafen: while deafened, the server forwards nothing to this participant
    /// and does not forward their microphone either.
    #[serde(rename = "voice.deafen")]
    VoiceDeafen {
        /// Which room.
        room_id: RoomId,
        /// True to deafen.
        deafened: bool,
    },
    /// Start (`active`) or stop sharing your screen: the server's next offer adds (or parks)
    /// a video m-line it receives on, and every other participant's a video m-line carrying
    /// it.
    #[serde(rename = "voice.screen")]
    VoiceScreen {
        /// Which room.
        room_id: RoomId,
        /// True to start sharing.
        active: bool,
    },
    /// Decline a DM call that rings (`voice.ring`).
    #[serde(rename = "voice.decline")]
    VoiceDecline {
        /// Which room.
        room_id: RoomId,
    },
    /// Leave the call.
    #[serde(rename = "voice.leave")]
    VoiceLeave {
        /// Which room.
        room_id: RoomId,
    },
    /// Application keep-alive.
    #[serde(rename = "ping")]
    Ping,
}

/// RTCIceCandidateInit as browsers serialize it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidateInit {
    /// The `candidate:` line (empty for end-of-candidates).
    pub candidate: String,
    /// The media section id.
    #[serde(default)]
    pub sdp_mid: Option<String>,
    /// The media section index.
    #[serde(default, rename = "sdpMLineIndex")]
    pub sdp_m_line_index: Option<u16>,
    /// The ICE ufrag it belongs to.
    #[serde(default)]
    pub username_fragment: Option<String>,
}

/// Why a client frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    /// The frame's `id`, if it could be read.
    pub id: Option<String>,
    /// `invalid_json`, `unknown_type` or `invalid_frame`.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
}

/// Reads a client text frame: `id` and `type` first, then the fields of that type.
pub fn parse_client_frame(text: &str) -> Result<ClientEnvelope, FrameError> {
    let value: Value = serde_json::from_str(text).map_err(|e| FrameError {
        id: None,
        code: "invalid_json",
        message: format!("frame is not valid JSON: {e}"),
    })?;
    let Value::Object(mut map) = value else {
        return Err(FrameError {
            id: None,
            code: "invalid_frame",
            message: "frame must be a JSON object".into(),
        });
    };
    let id = match map.remove("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.len() <= 128 => Some(s),
        Some(_) => {
            return Err(FrameError {
                id: None,
                code: "invalid_frame",
                message: "`id` must be a string of at most 128 characters".into(),
            });
        }
    };
    let fail = |code, message: String| FrameError {
        id: id.clone(),
        code,
        message,
    };
    let ty = match map.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(_) => return Err(fail("invalid_frame", "`type` must be a string".into())),
        None => return Err(fail("invalid_frame", "missing field `type`".into())),
    };
    if !KNOWN_CLIENT_TYPES.contains(&ty.as_str()) {
        return Err(fail("unknown_type", format!("unknown frame type `{ty}`")));
    }
    match serde_json::from_value::<ClientFrame>(Value::Object(map)) {
        Ok(frame) => Ok(ClientEnvelope { id, frame }),
        Err(e) => Err(fail("invalid_frame", format!("bad `{ty}` frame: {e}"))),
    }
}

/// Every `type` a client may send.
pub const KNOWN_CLIENT_TYPES: &[&str] = &[
    "auth",
    "message.send",
    "message.edit",
    "message.delete",
    "reaction.add",
    "reaction.remove",
    "typing",
    "read",
    "sync",
    "presence.set",
    "presence.subscribe",
    "voice.join",
    "voice.answer",
    "voice.candidate",
    "voice.mute",
    "voice.deafen",
    "voice.screen",
    "voice.decline",
    "voice.leave",
    "ping",
];

/// A voice participant as `voice.state` lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoiceParticipant {
    /// Who.
    pub user_id: UserId,
    /// Whether their microphone is muted (by themselves, or because they are deafened).
    pub muted: bool,
    /// Whether they are speaking now.
    pub speaking: bool,
    /// Whether they deafened themselves (they hear nothing, and are muted).
    #[serde(default)]
    pub deafened: bool,
    /// How well their connection carries the call, from loss, jitter and round-trip time.
    #[serde(default)]
    pub quality: CallQuality,
    /// Whether they are sharing their screen.
    #[serde(default)]
    pub screen: bool,
}

/// A participant's call quality as `voice.state` reports it, re-judged at most every 2 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallQuality {
    /// Under 2 % loss, under 30 ms jitter, under 250 ms round trip (also: not yet measured).
    #[default]
    Good,
    /// Between good and poor.
    Fair,
    /// 10 % loss or more, 100 ms jitter or more, or 500 ms round trip or more.
    Poor,
}

/// An ICE server for RTCPeerConnection's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    /// STUN/TURN URLs.
    pub urls: Vec<String>,
    /// TURN username (`expiry:user_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// One user's presence in a `presence.batch`: the fields of a `presence` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceEntry {
    /// Who.
    pub user_id: UserId,
    /// online, away, dnd or offline.
    pub status: PresenceStatus,
    /// When they were last connected (null while connected).
    pub last_seen: Option<DateTime<Utc>>,
}

impl From<PresenceEntry> for ServerFrame {
    /// The `presence` event of one entry.
    fn from(p: PresenceEntry) -> ServerFrame {
        ServerFrame::Presence {
            user_id: p.user_id,
            status: p.status,
            last_seen: p.last_seen,
        }
    }
}

/// Everything the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ServerFrame {
    /// Answer to a request with an `id`; the result's fields sit beside `type` and `id`.
    #[serde(rename = "ack")]
    Ack {
        /// The request's id.
        id: String,
        /// The result.
        #[serde(flatten)]
        result: Map<String, Value>,
    },
    /// A request failed, or a frame could not be read.
    #[serde(rename = "error")]
    Error {
        /// The request's id, if it had one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// snake_case, stable.
        code: String,
        /// For people.
        message: String,
        /// For `rate_limited`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
    /// A message was posted.
    #[serde(rename = "message.new")]
    MessageNew {
        /// The message.
        message: Message,
    },
    /// A message was edited.
    #[serde(rename = "message.edited")]
    MessageEdited {
        /// The message as it is now.
        message: Message,
    },
    /// A message was deleted; it stays as a tombstone at its seq.
    #[serde(rename = "message.deleted")]
    MessageDeleted {
        /// Where.
        room_id: RoomId,
        /// Which.
        message_id: MessageId,
        /// Its seq.
        seq: Seq,
    },
    /// The previews of a message's links are ready (or changed after an edit).
    #[serde(rename = "message.embeds")]
    MessageEmbeds {
        /// Where.
        room_id: RoomId,
        /// Which message.
        message_id: MessageId,
        /// All its previews now, in the order of the links.
        embeds: Vec<crate::protocol::api::Embed>,
    },
    /// Someone reacted to a message.
    #[serde(rename = "reaction.added")]
    ReactionAdded {
        /// Where.
        room_id: RoomId,
        /// Which message.
        message_id: MessageId,
        /// With what (canonical spelling).
        emoji: String,
        /// Who.
        user_id: UserId,
    },
    /// Someone took a reaction back.
    #[serde(rename = "reaction.removed")]
    ReactionRemoved {
        /// Where.
        room_id: RoomId,
        /// Which message.
        message_id: MessageId,
        /// The emoji.
        emoji: String,
        /// Who.
        user_id: UserId,
    },
    /// A message was pinned.
    #[serde(rename = "pin.added")]
    PinAdded {
        /// Where.
        room_id: RoomId,
        /// Which message.
        message_id: MessageId,
        /// Who pinned it.
        user_id: UserId,
    },
    /// A message was unpinned (by someone, or because it was deleted).
    #[serde(rename = "pin.removed")]
    PinRemoved {
        /// Where.
        room_id: RoomId,
        /// Which message.
        message_id: MessageId,
        /// Who unpinned (or deleted) it.
        user_id: UserId,
    },
    /// A thread's summary changed: a reply was posted in it or deleted.
    #[serde(rename = "thread.updated")]
    ThreadUpdated {
        /// Where.
        room_id: RoomId,
        /// The thread's root.
        message_id: MessageId,
        /// The root's summary now (`None` when no live reply is left).
        thread: Option<ThreadSummary>,
    },
    /// Someone started or stopped typing.
    #[serde(rename = "typing")]
    Typing {
        /// Where.
        room_id: RoomId,
        /// Who.
        user_id: UserId,
        /// True while typing.
        active: bool,
    },
    /// Someone's read position moved.
    #[serde(rename = "receipt")]
    Receipt {
        /// Where.
        room_id: RoomId,
        /// Who.
        user_id: UserId,
        /// Their newest read seq.
        seq: Seq,
    },
    /// Someone's presence changed.
    #[serde(rename = "presence")]
    Presence {
        /// Who.
        user_id: UserId,
        /// online, away, dnd or offline.
        status: PresenceStatus,
        /// When they were last connected (null while connected).
        last_seen: Option<DateTime<Utc>>,
    },
    /// Several users' presence at once (changes that came together, or who is online when a
    /// session starts or joins a room): the same as that many `presence` events, in order.
    #[serde(rename = "presence.batch")]
    PresenceBatch {
        /// One entry per user.
        presences: Vec<PresenceEntry>,
    },
    /// A room changed (name, topic), or you were added to it; as you see it.
    #[serde(rename = "room.updated")]
    RoomUpdated {
        /// The room (boxed: the largest frame, kept off the size of every other).
        room: Box<Room>,
    },
    /// Someone joined a room.
    #[serde(rename = "member.joined")]
    MemberJoined {
        /// Where.
        room_id: RoomId,
        /// Who.
        user: User,
    },
    /// Someone you share a room with changed their profile (or deleted their account).
    #[serde(rename = "user.updated")]
    UserUpdated {
        /// As they are now.
        user: User,
    },
    /// Someone left, or was removed from, a room.
    #[serde(rename = "member.left")]
    MemberLeft {
        /// Where.
        room_id: RoomId,
        /// Who.
        user_id: UserId,
    },
    /// Who is in a room's call.
    #[serde(rename = "voice.state")]
    VoiceState {
        /// Which room.
        room_id: RoomId,
        /// Everyone in the call.
        participants: Vec<VoiceParticipant>,
    },
    /// Someone started or stopped speaking.
    #[serde(rename = "voice.speaking")]
    VoiceSpeaking {
        /// Which room.
        room_id: RoomId,
        /// Who.
        user_id: UserId,
        /// True while speaking.
        speaking: bool,
    },
    /// The server's SDP offer (first, or a renegotiation).
    #[serde(rename = "voice.offer")]
    VoiceOffer {
        /// Which room.
        room_id: RoomId,
        /// The offer.
        sdp: String,
    },
    /// A server ICE candidate.
    #[serde(rename = "voice.candidate")]
    VoiceCandidate {
        /// Which room.
        room_id: RoomId,
        /// The candidate.
        candidate: IceCandidateInit,
    },
    /// Someone started a call in a DM with you: ring until `voice.ring_ended`.
    #[serde(rename = "voice.ring")]
    VoiceRing {
        /// The DM.
        room_id: RoomId,
        /// Who calls.
        from: UserId,
    },
    /// A DM call stopped ringing: `answered` (by you, in some session), `declined`,
    /// `cancelled` (the caller left) or `timeout` (30 s without an answer).
    #[serde(rename = "voice.ring_ended")]
    VoiceRingEnded {
        /// The DM.
        room_id: RoomId,
        /// Why.
        reason: String,
    },
    /// This session is no longer in the room's call (it joined from elsewhere, the connection was
    /// lost, the server is stopping); send `voice.join` to take part again.
    #[serde(rename = "voice.ended")]
    VoiceEnded {
        /// Which room.
        room_id: RoomId,
        /// Why, for people.
        reason: String,
    },
}

/// The result of a request, as its `ack` carries it: the fields sit beside `type` and `id`.
/// Each request answers with one of these (see docs/protocol.md); clients read an ack's fields
/// by name, so [`ServerFrame::Ack`] keeps them as a map on the way in.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Ack {
    /// `auth`: who the session is.
    Session {
        /// The authenticated user.
        user: User,
        /// This session's id.
        session_id: SessionId,
        /// Rooms the session hears that the auth's `resume` did not name (only when it had a
        /// `resume`): joined after the client listed its rooms, so it should list them again.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        unknown_rooms: Vec<RoomId>,
    },
    /// `message.send` and `message.edit`: the message as stored (boxed: a message is several
    /// times larger than every other ack).
    Message {
        /// The message.
        message: Box<Message>,
    },
    /// `sync`: the replay is done up to the room's newest seq.
    Synced {
        /// The room.
        room_id: RoomId,
        /// Its newest seq.
        last_seq: Seq,
    },
    /// `voice.join`: the ICE servers to connect with.
    VoiceJoined {
        /// STUN/TURN servers with credentials.
        ice_servers: Vec<IceServer>,
    },
    /// Every other request: done, nothing to report.
    Done {},
}

impl ServerFrame {
    /// The ack of request `id`.
    pub fn ack(id: String, result: &Ack) -> ServerFrame {
        let result = match serde_json::to_value(result) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        ServerFrame::Ack { id, result }
    }

    /// Ephemeral frames may be dropped when a session's queue nears full; messages never are.
    pub fn is_ephemeral(&self) -> bool {
        matches!(
            self,
            ServerFrame::Typing { .. }
                | ServerFrame::Presence { .. }
                | ServerFrame::PresenceBatch { .. }
                | ServerFrame::VoiceSpeaking { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    /// JSON objects shaped like client frames: a known or unknown `type`, an `id` of any kind,
    /// and fields of any JSON type under the names frames use.
    fn frame_like() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| serde_json::json!(f)),
            ".{0,40}".prop_map(Value::String),
            Just(Value::String("00000000-0000-0000-0000-000000000000".into())),
        ];
        let value = leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        });
        let names = prop::sample::select(vec![
            "id",
            "token",
            "resume",
            "room_id",
            "body",
            "client_id",
            "reply_to",
            "forward_of",
            "attachments",
            "message_id",
            "emoji",
            "active",
            "seq",
            "after_seq",
            "status",
            "sdp",
            "candidate",
            "muted",
            "deafened",
        ]);
        let ty = prop_oneof![
            prop::sample::select(KNOWN_CLIENT_TYPES.to_vec()).prop_map(str::to_owned),
            ".{0,12}",
        ];
        (ty, prop::collection::vec((names, value), 0..6)).prop_map(|(ty, fields)| {
            let mut map = Map::new();
            map.insert("type".into(), Value::String(ty));
            for (k, v) in fields {
                map.insert(k.to_owned(), v);
            }
            Value::Object(map).to_string()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn any_text_parses_or_is_refused_with_a_code(text in ".{0,200}") {
            if let Err(e) = parse_client_frame(&text) {
                prop_assert!(!e.code.is_empty() && !e.message.is_empty());
            }
        }

        #[test]
        fn any_frame_like_object_parses_or_is_refused_with_a_code(text in frame_like()) {
            match parse_client_frame(&text) {
                Ok(_) => {}
                Err(e) => prop_assert!(
                    ["invalid_json", "invalid_frame", "unknown_type"].contains(&e.code),
                    "{}", e.code
                ),
            }
        }
    }

    use super::*;

    #[test]
    fn a_send_frame_parses_with_its_id() {
        let env = parse_client_frame(
            r#"{"type":"message.send","id":"7","room_id":"0192a4b0-0000-7000-8000-000000000001","body":"hi"}"#,
        )
        .unwrap();
        assert_eq!(env.id.as_deref(), Some("7"));
        assert!(
            matches!(env.frame, ClientFrame::MessageSend { ref message, .. } if message.body.as_deref() == Some("hi"))
        );
    }

    #[test]
    fn bad_frames_name_the_problem_and_keep_the_id() {
        let e = parse_client_frame("{nope").unwrap_err();
        assert_eq!(e.code, "invalid_json");
        let e = parse_client_frame(r#"{"type":"dance","id":"1"}"#).unwrap_err();
        assert_eq!((e.code, e.id.as_deref()), ("unknown_type", Some("1")));
        let e = parse_client_frame(r#"{"type":"typing","id":"2","active":true}"#).unwrap_err();
        assert_eq!(e.code, "invalid_frame");
        assert!(e.message.contains("room_id"), "{}", e.message);
        let e = parse_client_frame(r#"{"type":"read","room_id":"x","seq":1}"#).unwrap_err();
        assert_eq!(e.code, "invalid_frame");
    }

    #[test]
    fn acks_flatten_their_result_beside_the_id() {
        let f = ServerFrame::ack(
            "9".into(),
            &Ack::Synced {
                room_id: RoomId::new(),
                last_seq: Seq(3),
            },
        );
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["type"], "ack");
        assert_eq!(v["id"], "9");
        assert_eq!(v["last_seq"], 3);
    }
}
