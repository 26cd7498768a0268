//! The `confab` command: `confab serve` (the default) runs a node; `confab migrate` applies
//! migrations; `confab admin …` manages users and roles; `confab backup` copies the database.

#![warn(clippy::too_many_lines)]

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use confab::config::Config;
use confab::protocol::RoomId;
use confab::store::Store;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "confab",
    version,
    about = "Self-hosted realtime chat server",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(Config),
    /// Apply database migrations, then exit.
    Migrate(Config),
    /// Manage users and roles (the server may be running).
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Exit 0 if the server at URL answers /healthz (for container health checks).
    Health {
        /// The health endpoint; the default fits the container image.
        #[arg(default_value = "http://127.0.0.1:8080/healthz")]
        url: String,
    },
    /// Copy the SQLite database to DEST while the server runs (for Postgres, use pg_dump).
    Backup {
        /// The file to write (must not exist).
        dest: PathBuf,
        #[command(flatten)]
        config: Config,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an account; the password is read from standard input.
    CreateUser {
        /// Login name.
        username: String,
        /// Name to show.
        #[arg(long)]
        display_name: Option<String>,
        #[command(flatten)]
        config: Config,
    },
    /// Set a new password (read from standard input) and sign the user out everywhere.
    ResetPassword {
        /// Login name.
        username: String,
        #[command(flatten)]
        config: Config,
    },
    /// Make a user a server admin or a plain member: admin or member.
    SetServerRole {
        /// The user's login name.
        username: String,
        /// admin or member.
        role: String,
        #[command(flatten)]
        config: Config,
    },
    /// Give a member a role in a room: owner, admin or member.
    SetRole {
        /// The room's id.
        room: RoomId,
        /// The member's login name.
        username: String,
        /// owner, admin or member.
        role: String,
        #[command(flatten)]
        config: Config,
    },
}

fn main() -> ExitCode {
    keep_large_allocations_mapped();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("confab: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            None => serve(cli.serve).await,
            Some(Command::Serve(config)) => serve(config).await,
            Some(Command::Migrate(config)) => migrate(config).await,
            Some(Command::Admin { command }) => admin(command).await,
            Some(Command::Health { url }) => health(&url).await,
            Some(Command::Backup { dest, config }) => {
                let store = open_store(&config).await?;
                confab::service::admin::backup(&store, &dest).await?;
                println!("backed up to {}", dest.display());
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("confab: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Every password hash or check allocates argon2's 19 MiB of blocks. glibc serves such sizes by
/// `mmap` at first, but after the first free raises its threshold above them and from then on
/// keeps them in per-thread arenas that are never returned: measured, 200 registrations left
/// 1.7 GB resident, against 17 MB with the threshold pinned at 4 MiB (above any socket or message
/// buffer, below argon2's blocks).
fn keep_large_allocations_mapped() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tunable of the allocator; it is called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    confab::telemetry::init(&config.log);
    // Every session is a socket: take the whole allowance the hard limit gives (the soft
    // default of 1024 would cap a node at about a thousand sessions).
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::debug!(limit = n, "open file limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the open file limit"),
    }
    let app = confab::App::build(config).await?;
    let shutdown = app.shutdown_token();
    tokio::spawn(wait_for_signal(shutdown));
    println!(
        "confab listening on {}://{}",
        app.scheme(),
        app.local_addr()
    );
    app.run().await?;
    Ok(())
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    confab::telemetry::init(&config.log);
    let store = open_store(&config).await?;
    println!("migrations applied ({})", store.backend_name());
    store.close().await;
    Ok(())
}

/// Checks `url` answers 200 within 3 s. Certificates are not checked: this probes the local
/// process, which may serve a self-signed certificate.
async fn health(url: &str) -> anyhow::Result<()> {
    confab::install_crypto_provider();
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .danger_accept_invalid_certs(true)
        .build()?;
    let status = client.get(url).send().await?.status();
    if !status.is_success() {
        anyhow::bail!("{url} answered {status}");
    }
    Ok(())
}

/// Opens (and migrates) the configured store.
async fn open_store(config: &Config) -> anyhow::Result<Store> {
    config.validate()?;
    std::fs::create_dir_all(&config.data_dir)?;
    Ok(Store::open(config).await?)
}

async fn admin(command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::CreateUser {
            username,
            display_name,
            config,
        } => {
            let store = open_store(&config).await?;
            let password = read_password()?;
            let user = confab::service::admin::create_user(
                &store,
                &username,
                &password,
                display_name.as_deref(),
            )
            .await?;
            println!("created {} ({})", user.username, user.id);
        }
        AdminCommand::ResetPassword { username, config } => {
            let store = open_store(&config).await?;
            let password = read_password()?;
            let user = confab::service::admin::reset_password(&store, &username, &password).await?;
            println!(
                "password of {} reset; their sessions were signed out",
                user.username
            );
        }
        AdminCommand::SetServerRole {
            username,
            role,
            config,
        } => {
            let store = open_store(&config).await?;
            let user = confab::service::admin::set_server_role(&store, &username, &role).await?;
            println!("{} is now a server {role}", user.username);
        }
        AdminCommand::SetRole {
            room,
            username,
            role,
            config,
        } => {
            let store = open_store(&config).await?;
            confab::service::admin::set_role(&store, room, &username, &role).await?;
            println!("{username} is now {role} of room {room}");
        }
    }
    Ok(())
}

/// The first line of standard input (with a prompt when it is a terminal).
fn read_password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password: ");
        std::io::stderr().flush()?;
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        anyhow::bail!("no password given on standard input");
    }
    Ok(password)
}

/// Cancels `shutdown` on SIGINT or SIGTERM.
async fn wait_for_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    shutdown.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown requested");
    shutdown.cancel();
}
