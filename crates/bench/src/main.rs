//! `confab-bench`: a load generator that drives a real `confab` only through the public contract
//! and measures, in the same invocation and with the same load shape, a bare baseline of the same
//! transport, so every figure reads as a ratio to what the machine itself can do.
//!
//! - `text`: WebSocket sessions in one big room, many DMs, or a mix; sends at set rates and
//!   measures send→deliver latency, throughput, CPU per delivery and memory per session.
//!   The baseline is a minimal tokio-tungstenite broadcast server (no auth, no storage).
//! - `voice`: real WebRTC participants (ICE, DTLS-SRTP) publishing Opus-sized RTP; measures
//!   forwarding rate, loss, jitter, added delay and server CPU per forwarded packet. The baseline
//!   is a bare UDP relay (plain datagrams, no SRTP).
//! - `limit text|voice`: the baselines alone, with the same flags.
//!
//! Sessions are held by worker processes (this binary again, `worker`), each below the file
//! limit, with source addresses spread over 127.0.0.0/8 so ephemeral ports never run out.
//! Every run is bounded: each step lasts `--secs`, and draining waits `--drain-secs` at most.

mod report;
mod search;
mod server;
mod text;
mod voice;
mod wire;
mod worker;
mod wsbase;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "confab-bench",
    version,
    about = "Load generator and benchmark for confab"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Text chat over WebSocket: Confab, then the baseline broadcast server.
    Text {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: text::TextArgs,
    },
    /// Group voice over WebRTC: Confab's SFU, then the baseline UDP relay.
    Voice {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: voice::VoiceArgs,
    },
    /// Message search over a large history: the first page's latency (no baseline).
    Search {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: search::SearchArgs,
    },
    /// The baselines alone, with the same load shape as `text` or `voice`.
    Limit {
        #[command(subcommand)]
        mode: LimitMode,
    },
    /// (internal) Holds a slice of the text sessions; driven over stdin/stdout.
    #[command(hide = true)]
    Worker,
    /// (internal) The baseline WebSocket broadcast server.
    #[command(hide = true)]
    WsBaseline,
    /// (internal) The baseline UDP relay.
    #[command(hide = true)]
    UdpBaseline,
}

#[derive(Subcommand)]
enum LimitMode {
    /// The WebSocket broadcast baseline with `text`'s load shape.
    Text {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: text::TextArgs,
    },
    /// The UDP relay baseline with `voice`'s load shape.
    Voice {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: voice::VoiceArgs,
    },
}

/// Which systems a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Systems {
    /// Confab, then the baseline.
    Both,
    /// Confab only (`--no-baseline`).
    ConfabOnly,
    /// The baseline only (`limit`).
    BaselineOnly,
}

/// Flags every mode shares: where the server is and how to report.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Target a running confab at this base URL instead of starting one (no CPU or memory
    /// figures then, as the server is not ours to read).
    #[arg(long)]
    pub url: Option<String>,
    /// The confab binary to start (default: `confab` beside this binary).
    #[arg(long)]
    pub confab_bin: Option<PathBuf>,
    /// How many confab nodes to start (above 1 needs --database-url and --redis-url).
    #[arg(long, default_value_t = 1)]
    pub nodes: usize,
    /// PostgreSQL for the started nodes (default: each node's own SQLite file).
    #[arg(long)]
    pub database_url: Option<String>,
    /// Redis for the started nodes (default: in-process fanout).
    #[arg(long)]
    pub redis_url: Option<String>,
    /// Skip the baseline.
    #[arg(long)]
    pub no_baseline: bool,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also draw latency against load into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
}

impl Common {
    /// The confab binary to start.
    pub fn confab_binary(&self) -> anyhow::Result<PathBuf> {
        if let Some(p) = &self.confab_bin {
            return Ok(p.clone());
        }
        let me = std::env::current_exe()?;
        Ok(me.with_file_name("confab"))
    }

    /// Starts (or names) the confab servers of a run.
    pub async fn confab_servers(&self) -> anyhow::Result<server::Servers> {
        match &self.url {
            Some(url) => Ok(server::Servers::remote(url)),
            None => {
                server::Servers::confab(
                    &self.confab_binary()?,
                    self.nodes.max(1),
                    self.database_url.as_deref(),
                    self.redis_url.as_deref(),
                )
                .await
            }
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Thousands of sockets per process: take the whole allowance the hard limit gives.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("confab-bench: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    confab::install_crypto_provider();
    let result = runtime.block_on(async move {
        let (common, report) = match cli.command {
            Command::Worker => return worker::main().await.map(|()| true),
            Command::WsBaseline => return wsbase::main().await.map(|()| true),
            Command::UdpBaseline => return voice::relay_main().await.map(|()| true),
            Command::Text { common, args } => {
                let systems = systems(&common);
                let r = text::run(&common, &args, systems).await?;
                (common, r)
            }
            Command::Voice { common, args } => {
                let systems = systems(&common);
                let r = voice::run(&common, &args, systems).await?;
                (common, r)
            }
            Command::Search { common, args } => {
                let r = search::run(&common, &args).await?;
                (common, r)
            }
            Command::Limit {
                mode: LimitMode::Text { common, args },
            } => {
                let r = text::run(&common, &args, Systems::BaselineOnly).await?;
                (common, r)
            }
            Command::Limit {
                mode: LimitMode::Voice { common, args },
            } => {
                let r = voice::run(&common, &args, Systems::BaselineOnly).await?;
                (common, r)
            }
        };
        if common.json {
            println!("{}", serde_json::to_string_pretty(&report.json())?);
        } else {
            print!("{}", report.table());
        }
        if let Some(path) = &common.plot {
            report.plot(path)?;
        }
        Ok::<bool, anyhow::Error>(report.problems.is_empty())
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("confab-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn systems(common: &Common) -> Systems {
    if common.no_baseline {
        Systems::ConfabOnly
    } else {
        Systems::Both
    }
}
