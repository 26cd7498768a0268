//! `confab-bench voice` (being written): P WebRTC participants in K rooms against Confab's SFU,
//! and the bare UDP relay baseline.

use clap::Args;

use crate::report::Report;
use crate::{Common, Systems};

/// The voice load shape.
#[derive(Args, Debug, Clone)]
pub struct VoiceArgs {
    /// Participants in all.
    #[arg(long, default_value_t = 20)]
    pub participants: usize,
}

/// Runs the voice benchmark.
pub async fn run(_common: &Common, _args: &VoiceArgs, _systems: Systems) -> anyhow::Result<Report> {
    anyhow::bail!("confab-bench voice is not built yet")
}

/// The baseline UDP relay's process.
pub async fn relay_main() -> anyhow::Result<()> {
    anyhow::bail!("the UDP relay baseline is not built yet")
}
