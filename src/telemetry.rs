//! Logging: one place sets up `tracing` for the binary.
//!
//! Lines go to stderr, one per event, with the span fields (request method and path, session and
//! user ids). What is logged at `info` never includes a token, password or message body.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber with `filter` (overridden by `RUST_LOG` when set). Does nothing
/// if one is already installed (tests that start several apps).
pub fn init(filter: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}
