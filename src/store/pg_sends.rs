//! A Postgres batch of plain sends in a fixed number of statements, whatever its size.
//!
//! The committer's batch ([`super::commit`]) went through the database one send at a time
//! inside its transaction: four or five statements per message (the `client_id` check, the
//! seq, the row, the read position), each a round trip and a parse-bind-execute in a Postgres
//! backend, so at 2,000 sends/s Postgres spent most of a core on statements. Here a batch takes
//! six, with the values in arrays (`UNNEST`): the `client_id`s seen before, the senders'
//! memberships, the rooms' row locks in one order, their seqs moved on by each room's count, the
//! rows, and the read positions. The outcomes are the per-message path's: a send refused on
//! its own terms (not a member, a `client_id` seen before, also earlier in the same batch) is
//! found before anything is written and takes no seq; a room's sends take consecutive seqs in
//! arrival order.
//!
//! "Plain" is a send with no attachment, no thread and no member mention: what nearly every
//! send is. A batch holding any other goes the per-message way, which writes those rows too.

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::PgPool;
use uuid::Uuid;

use super::messages::NewMessage;
use super::{SendOutcome, StoreError};
use crate::protocol::{RoomId, Seq, UserId};

/// Whether `m` needs only the rows this path writes (its message row and a read position).
pub(super) fn is_plain(m: &NewMessage) -> bool {
    m.attachments.is_empty() && m.thread.is_none() && m.mentions.users.is_empty()
}

/// The `(sender, client_id)` pairs of the batch that name a message already stored.
const SEEN_CLIENT_IDS: &str = "SELECT m.sender_id, m.client_id FROM messages m \
     JOIN UNNEST($1::uuid[], $2::text[]) AS c(sender_id, client_id) \
     ON m.sender_id = c.sender_id AND m.client_id = c.client_id";
/// Which of the `(room, user)` pairs are memberships.
const MEMBERS: &str = "SELECT rm.room_id, rm.user_id FROM room_members rm \
     JOIN UNNEST($1::uuid[], $2::uuid[]) AS c(room_id, user_id) \
     ON rm.room_id = c.room_id AND rm.user_id = c.user_id";
/// Locks the rooms in id order, as the per-message path does (the committer sorts its batch by
/// room), so two nodes' batches cannot deadlock on them.
const LOCK_ROOMS: &str = "SELECT id FROM rooms WHERE id = ANY($1) ORDER BY id FOR UPDATE";
/// Moves each room's seq on by its count of sends; the new newest seq of each.
const TAKE_SEQS: &str = "UPDATE rooms r SET last_seq = r.last_seq + c.n \
     FROM UNNEST($1::uuid[], $2::bigint[]) AS c(id, n) WHERE r.id = c.id \
     RETURNING r.id, r.last_seq";
/// The message rows (the columns of `messages::INSERT_MESSAGE`).
const INSERT_MESSAGES: &str = "INSERT INTO messages (id, room_id, seq, sender_id, body, \
     created_at, client_id, reply_to_id, fwd_message_id, fwd_room_id, fwd_sender_id, \
     fwd_created_at, attachment_count, mentions_room, thread_root_id) \
     SELECT id, room_id, seq, sender_id, body, created_at, client_id, reply_to_id, \
     fwd_message_id, fwd_room_id, fwd_sender_id, fwd_created_at, 0, mentions_room, NULL \
     FROM UNNEST($1::uuid[], $2::uuid[], $3::bigint[], $4::uuid[], $5::text[], \
     $6::timestamptz[], $7::text[], $8::uuid[], $9::uuid[], $10::uuid[], $11::uuid[], \
     $12::timestamptz[], $13::bool[]) AS v(id, room_id, seq, sender_id, body, created_at, \
     client_id, reply_to_id, fwd_message_id, fwd_room_id, fwd_sender_id, fwd_created_at, \
     mentions_room)";
/// Each sender has read up to their newest send of the batch in each room.
const MOVE_READ_POSITIONS: &str = "UPDATE room_members rm SET last_read_seq = c.seq \
     FROM UNNEST($1::uuid[], $2::uuid[], $3::bigint[]) AS c(room_id, user_id, seq) \
     WHERE rm.room_id = c.room_id AND rm.user_id = c.user_id AND rm.last_read_seq < c.seq";

/// Writes the plain sends `messages` (sorted by room, see [`is_plain`]) in one transaction:
/// each one's outcome, or the database error that rolled them all back.
pub(super) async fn insert_plain_batch(
    pool: &PgPool,
    messages: &[&NewMessage],
) -> Result<Vec<Result<SendOutcome, StoreError>>, StoreError> {
    let mut tx = pool.begin().await?;
    let mut outcomes: Vec<Option<Result<SendOutcome, StoreError>>> =
        messages.iter().map(|_| None).collect();

    // What the per-message path would find, in the same order: a `client_id` stored already
    // or used by a send written earlier in this batch; then membership.
    let (senders, client_ids): (Vec<Uuid>, Vec<&str>) = messages
        .iter()
        .filter_map(|m| Some((m.sender_id.0, m.client_id.as_deref()?)))
        .unzip();
    let mut seen: HashSet<(Uuid, String)> = if senders.is_empty() {
        HashSet::new()
    } else {
        sqlx::query_as::<_, (Uuid, String)>(SEEN_CLIENT_IDS)
            .bind(&senders)
            .bind(&client_ids)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect()
    };
    let (rooms, users): (Vec<Uuid>, Vec<Uuid>) = messages
        .iter()
        .map(|m| (m.room_id.0, m.sender_id.0))
        .unzip();
    let members: HashSet<(Uuid, Uuid)> = sqlx::query_as(MEMBERS)
        .bind(&rooms)
        .bind(&users)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
    let mut writing = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        let key = m.client_id.as_ref().map(|c| (m.sender_id.0, c.clone()));
        if key.as_ref().is_some_and(|k| seen.contains(k)) {
            outcomes[i] = Some(Err(StoreError::Conflict("client_id_seen")));
        } else if !members.contains(&(m.room_id.0, m.sender_id.0)) {
            // Not (or no longer) a member: takes no seq.
            outcomes[i] = Some(Err(StoreError::NotFound));
        } else {
            seen.extend(key);
            writing.push(i);
        }
    }

    if !writing.is_empty() {
        let seqs = take_seqs(&mut tx, messages, &writing).await?;
        insert_rows(&mut tx, messages, &writing, &seqs).await?;
        for (&i, seq) in writing.iter().zip(seqs) {
            outcomes[i] = Some(Ok(SendOutcome::Created(messages[i].created(seq))));
        }
    }
    tx.commit().await?;
    Ok(outcomes
        .into_iter()
        .map(|o| o.unwrap_or(Err(StoreError::NotFound)))
        .collect())
}

/// Gives the sends `writing` (indexes into `messages`) their seqs: each room's next, in
/// arrival order.
async fn take_seqs(
    tx: &mut sqlx::PgConnection,
    messages: &[&NewMessage],
    writing: &[usize],
) -> Result<Vec<Seq>, StoreError> {
    // Each room's count of sends, in room order (the order the rooms are locked in).
    let mut counts: BTreeMap<Uuid, i64> = BTreeMap::new();
    for &i in writing {
        *counts.entry(messages[i].room_id.0).or_default() += 1;
    }
    let (ids, ns): (Vec<Uuid>, Vec<i64>) = counts.iter().map(|(r, n)| (*r, *n)).unzip();
    sqlx::query(LOCK_ROOMS).bind(&ids).execute(&mut *tx).await?;
    let newest: HashMap<Uuid, i64> = sqlx::query_as(TAKE_SEQS)
        .bind(&ids)
        .bind(&ns)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
    // The next free seq of each room, counted up as its sends take them.
    let mut next: HashMap<Uuid, i64> = counts
        .iter()
        .map(|(r, n)| (*r, newest.get(r).copied().unwrap_or(0) - n + 1))
        .collect();
    Ok(writing
        .iter()
        .map(|&i| {
            let at = next.entry(messages[i].room_id.0).or_default();
            let seq = *at;
            *at += 1;
            Seq(seq)
        })
        .collect())
}

/// The message rows of `writing` with their `seqs`, and each sender's read position.
async fn insert_rows(
    tx: &mut sqlx::PgConnection,
    messages: &[&NewMessage],
    writing: &[usize],
    seqs: &[Seq],
) -> Result<(), StoreError> {
    let n = writing.len();
    let mut cols = Columns::with_capacity(n);
    let mut read: HashMap<(RoomId, UserId), i64> = HashMap::new();
    for (&i, seq) in writing.iter().zip(seqs) {
        let m = messages[i];
        cols.push(m, *seq);
        let at = read.entry((m.room_id, m.sender_id)).or_default();
        *at = (*at).max(seq.0);
    }
    sqlx::query(INSERT_MESSAGES)
        .bind(&cols.id)
        .bind(&cols.room_id)
        .bind(&cols.seq)
        .bind(&cols.sender_id)
        .bind(&cols.body)
        .bind(&cols.created_at)
        .bind(&cols.client_id)
        .bind(&cols.reply_to_id)
        .bind(&cols.fwd_message_id)
        .bind(&cols.fwd_room_id)
        .bind(&cols.fwd_sender_id)
        .bind(&cols.fwd_created_at)
        .bind(&cols.mentions_room)
        .execute(&mut *tx)
        .await?;
    let mut rooms = Vec::with_capacity(read.len());
    let mut users = Vec::with_capacity(read.len());
    let mut positions = Vec::with_capacity(read.len());
    for ((room, user), seq) in read {
        rooms.push(room.0);
        users.push(user.0);
        positions.push(seq);
    }
    sqlx::query(MOVE_READ_POSITIONS)
        .bind(&rooms)
        .bind(&users)
        .bind(&positions)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The columns of the rows, one array each, as `INSERT_MESSAGES` binds them.
struct Columns<'a> {
    id: Vec<Uuid>,
    room_id: Vec<Uuid>,
    seq: Vec<i64>,
    sender_id: Vec<Uuid>,
    body: Vec<&'a str>,
    created_at: Vec<chrono::DateTime<chrono::Utc>>,
    client_id: Vec<Option<&'a str>>,
    reply_to_id: Vec<Option<Uuid>>,
    fwd_message_id: Vec<Option<Uuid>>,
    fwd_room_id: Vec<Option<Uuid>>,
    fwd_sender_id: Vec<Option<Uuid>>,
    fwd_created_at: Vec<Option<chrono::DateTime<chrono::Utc>>>,
    mentions_room: Vec<bool>,
}

impl<'a> Columns<'a> {
    fn with_capacity(n: usize) -> Self {
        Columns {
            id: Vec::with_capacity(n),
            room_id: Vec::with_capacity(n),
            seq: Vec::with_capacity(n),
            sender_id: Vec::with_capacity(n),
            body: Vec::with_capacity(n),
            created_at: Vec::with_capacity(n),
            client_id: Vec::with_capacity(n),
            reply_to_id: Vec::with_capacity(n),
            fwd_message_id: Vec::with_capacity(n),
            fwd_room_id: Vec::with_capacity(n),
            fwd_sender_id: Vec::with_capacity(n),
            fwd_created_at: Vec::with_capacity(n),
            mentions_room: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, m: &'a NewMessage, seq: Seq) {
        let fwd = m.forwarded_from.as_ref();
        self.id.push(m.id.0);
        self.room_id.push(m.room_id.0);
        self.seq.push(seq.0);
        self.sender_id.push(m.sender_id.0);
        self.body.push(m.body.as_str());
        self.created_at.push(m.created_at);
        self.client_id.push(m.client_id.as_deref());
        self.reply_to_id.push(m.reply_to.as_ref().map(|r| r.id.0));
        self.fwd_message_id.push(fwd.map(|f| f.message_id.0));
        self.fwd_room_id.push(fwd.map(|f| f.room_id.0));
        self.fwd_sender_id.push(fwd.map(|f| f.sender_id.0));
        self.fwd_created_at.push(fwd.map(|f| f.created_at));
        self.mentions_room.push(m.mentions.room);
    }
}
