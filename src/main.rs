//! The `confab` command: `confab serve` (the default) runs a node; `confab migrate` applies
//! database migrations and exits.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use confab::config::Config;
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
}

fn main() -> ExitCode {
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

async fn serve(config: Config) -> anyhow::Result<()> {
    confab::telemetry::init(&config.log);
    let app = confab::App::build(config).await?;
    let shutdown = app.shutdown_token();
    tokio::spawn(wait_for_signal(shutdown));
    println!("confab listening on http://{}", app.local_addr());
    app.run().await?;
    Ok(())
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    confab::telemetry::init(&config.log);
    config.validate()?;
    std::fs::create_dir_all(&config.data_dir)?;
    let store = Store::connect(
        config.database_url.as_ref(),
        &config.data_dir,
        config.db_max_connections,
    )
    .await?;
    store.migrate().await?;
    println!("migrations applied ({})", store.backend_name());
    store.close().await;
    Ok(())
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
