//! The in-process bus: one node alone, so publishing is delivering.

use std::sync::Weak;

use super::{Event, Sink};

/// Hands each published event straight to the local hub.
pub struct LocalBus {
    // Weak: the hub owns the bus, and the bus must not keep the hub alive.
    sink: Weak<dyn Sink>,
}

impl LocalBus {
    /// A bus delivering to `sink`.
    pub fn new(sink: Weak<dyn Sink>) -> LocalBus {
        LocalBus { sink }
    }

    /// Delivers `event` now, on the caller's task.
    pub fn publish(&self, event: Event) {
        if let Some(sink) = self.sink.upgrade() {
            sink.deliver(&event);
        }
    }
}
