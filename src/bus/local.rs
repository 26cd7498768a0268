//! The in-process bus: one node alone, so publishing is delivering, every call is hosted here,
//! and call state is a map.

use std::collections::HashMap;
use std::sync::{Mutex, Weak};

use super::{Event, Sink};
use crate::protocol::RoomId;
use crate::protocol::ws::VoiceParticipant;

/// Hands each published event straight to the local hub.
pub struct LocalBus {
    node: String,
    // Weak: the hub owns the bus, and the bus must not keep the hub alive.
    sink: Weak<dyn Sink>,
    /// The last participant list of each call.
    calls: Mutex<HashMap<RoomId, Vec<VoiceParticipant>>>,
}

impl LocalBus {
    /// A bus delivering to `sink`.
    pub fn new(node: &str, sink: Weak<dyn Sink>) -> LocalBus {
        LocalBus {
            node: node.to_owned(),
            sink,
            calls: Mutex::new(HashMap::new()),
        }
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Delivers `event` now, on the caller's task.
    pub fn publish(&self, event: Event) {
        if let Some(sink) = self.sink.upgrade() {
            sink.deliver(&event);
        }
    }

    fn calls(&self) -> std::sync::MutexGuard<'_, HashMap<RoomId, Vec<VoiceParticipant>>> {
        // Each update is one insert or remove: a panic cannot leave the map half-changed.
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps (or, when empty, forgets) a call's participant list.
    pub fn save_call_state(&self, room: RoomId, participants: &[VoiceParticipant]) {
        if participants.is_empty() {
            self.calls().remove(&room);
        } else {
            self.calls().insert(room, participants.to_vec());
        }
    }

    /// The kept participant lists of those of `rooms` that have one.
    pub fn call_states(&self, rooms: &[RoomId]) -> Vec<(RoomId, Vec<VoiceParticipant>)> {
        let calls = self.calls();
        rooms
            .iter()
            .filter_map(|r| calls.get(r).map(|p| (*r, p.clone())))
            .collect()
    }
}
