//! The systems under test as child processes: `confab` nodes started for the run (or a server
//! named by `--url`), and the baseline servers (this same binary, re-run with a hidden
//! subcommand) so that every server's CPU time and memory are read the same way, from `/proc`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use confab::protocol::UserId;
use confab::protocol::api::{Room, TokenResponse};
use confab_testkit::Api;
use futures_util::StreamExt;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// CPU time and memory of a set of processes at one instant.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// User plus system CPU seconds since the processes started.
    pub cpu_secs: f64,
    /// Resident memory now, KiB.
    pub rss_kib: u64,
    /// Peak resident memory, KiB.
    pub peak_rss_kib: u64,
}

/// Resident memory gained between two readings, per `n` (sessions, participants), in KiB: NaN
/// when either reading is missing, `n` is 0, or the server shrank meanwhile (an allocator
/// returning what an earlier burst used), where a 0 would read as a measurement.
pub fn rss_growth_per(before: Option<Usage>, after: Option<Usage>, n: u64) -> f64 {
    match (before, after) {
        (Some(b), Some(a)) if n > 0 && a.rss_kib >= b.rss_kib => {
            (a.rss_kib - b.rss_kib) as f64 / n as f64
        }
        _ => f64::NAN,
    }
}

/// Reads the usage of `pids`, summed (None when one of them cannot be read).
pub fn usage(pids: &[u32]) -> Option<Usage> {
    let ticks = procfs::ticks_per_second() as f64;
    let mut total = Usage::default();
    for pid in pids {
        let process = procfs::process::Process::new(i32::try_from(*pid).ok()?).ok()?;
        let stat = process.stat().ok()?;
        let status = process.status().ok()?;
        total.cpu_secs += (stat.utime + stat.stime) as f64 / ticks;
        total.rss_kib += status.vmrss.unwrap_or(0);
        total.peak_rss_kib += status.vmhwm.unwrap_or(0);
    }
    Some(total)
}

/// Allocations between two readings of [`Servers::allocations`] per unit of work done between
/// them; `None` from a build that does not count them (`--features count-allocations`) or when
/// nothing was done.
pub fn allocations_per(start: Option<u64>, end: Option<u64>, done: u64) -> Option<f64> {
    match (start, end) {
        (Some(a), Some(b)) if done > 0 => Some(b.saturating_sub(a) as f64 / done as f64),
        _ => None,
    }
}

/// Servers this run started (killed when dropped), or none for `--url`.
pub struct Servers {
    /// Each server's base URL (`http://host:port`).
    pub urls: Vec<String>,
    children: Vec<Child>,
    _data: Vec<tempfile::TempDir>,
}

impl Servers {
    /// A server someone else runs: no CPU or memory figures.
    pub fn remote(url: &str) -> Servers {
        Servers {
            urls: vec![url.trim_end_matches('/').to_owned()],
            children: Vec::new(),
            _data: Vec::new(),
        }
    }

    /// The data directory of each server this run started.
    pub fn data_dirs(&self) -> Vec<&std::path::Path> {
        self._data.iter().map(|d| d.path()).collect()
    }

    /// Process ids of the servers this run started.
    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().filter_map(Child::id).collect()
    }

    /// Usage of the local servers (None for a remote one).
    pub fn usage(&self) -> Option<Usage> {
        let pids = self.pids();
        if pids.is_empty() { None } else { usage(&pids) }
    }

    /// Heap allocations of the local servers so far, summed from their `/metrics`; `None`
    /// unless every one counts them (a confab built with `--features count-allocations`).
    pub async fn allocations(&self) -> Option<u64> {
        if self.children.is_empty() {
            return None;
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .ok()?;
        let mut total = 0;
        for url in &self.urls {
            let text = client
                .get(format!("{url}/metrics"))
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            total += text
                .lines()
                .find_map(|l| l.strip_prefix("confab_allocations_total "))?
                .trim()
                .parse::<u64>()
                .ok()?;
        }
        Some(total)
    }

    /// Starts `nodes` confab nodes on loopback ports chosen by the system. More than one node
    /// needs a shared `database_url` and `redis_url`.
    pub async fn confab(
        binary: &PathBuf,
        nodes: usize,
        database_url: Option<&str>,
        redis_url: Option<&str>,
    ) -> anyhow::Result<Servers> {
        if nodes > 1 && (database_url.is_none() || redis_url.is_none()) {
            bail!("--nodes above 1 needs --database-url and --redis-url (the nodes share them)");
        }
        let mut servers = Servers {
            urls: Vec::new(),
            children: Vec::new(),
            _data: Vec::new(),
        };
        for node in 0..nodes {
            let data = tempfile::tempdir().context("creating a data directory")?;
            let mut cmd = Command::new(binary);
            cmd.arg("serve")
                .arg("--listen")
                .arg("127.0.0.1:0")
                .arg("--data-dir")
                .arg(data.path())
                .env("CONFAB_LOG", "warn")
                .env("CONFAB_RTC_UDP_PORT", "0")
                .env("CONFAB_RTC_BIND_IP", "127.0.0.1")
                .env("CONFAB_NODE_ID", format!("bench-{node}"))
                // The load is the point: the per-user send allowance would pace it, and every
                // simulated user registers from this one address.
                .env("CONFAB_SEND_RATE", "100000")
                .env("CONFAB_SEND_BURST", "100000")
                .env("CONFAB_REGISTRATIONS_PER_HOUR", "1000000")
                .env("CONFAB_VOICE_MAX_PARTICIPANTS", "1000")
                .env_remove("DATABASE_URL")
                .env_remove("REDIS_URL");
            if let Some(db) = database_url {
                cmd.env("DATABASE_URL", db);
            }
            if let Some(redis) = redis_url {
                cmd.env("REDIS_URL", redis);
            }
            if nodes > 1 {
                // Nodes of one cluster must sign and accept the same tokens.
                cmd.env("CONFAB_JWT_SECRET", shared_secret(&servers._data, &data)?);
            }
            let (child, url) = spawn_reporting_url(cmd, "confab listening on ")
                .await
                .with_context(|| format!("starting {}", binary.display()))?;
            servers.children.push(child);
            servers.urls.push(url);
            servers._data.push(data);
        }
        Ok(servers)
    }

    /// Starts a baseline server: this binary with `subcommand`, which prints
    /// `baseline listening on ADDR` once bound.
    pub async fn baseline(subcommand: &str, extra: &[String]) -> anyhow::Result<Servers> {
        let me = std::env::current_exe().context("finding confab-bench's own path")?;
        let mut cmd = Command::new(me);
        cmd.arg(subcommand).args(extra);
        let (child, url) = spawn_reporting_url(cmd, "baseline listening on ").await?;
        Ok(Servers {
            urls: vec![url],
            children: vec![child],
            _data: Vec::new(),
        })
    }

    /// Registers `n` fresh accounts on the first server (random names, so runs against a
    /// long-lived server never collide). Password hashing is the server's slowest call: a few at
    /// a time keep both cores busy.
    pub async fn register(&self, n: usize) -> anyhow::Result<Vec<TokenResponse>> {
        let api = Api::new(&self.urls[0]);
        let run: String = (0..6)
            .map(|_| char::from(b'a' + rand::random_range(0..26u8)))
            .collect();
        let accounts: Vec<_> = futures_util::stream::iter(0..n)
            .map(|u| {
                let api = api.clone();
                let name = format!("b{run}_{u}");
                async move { api.register(&name, "bench-password-1").await }
            })
            .buffered(8)
            .collect()
            .await;
        accounts
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .context("registering the bench accounts")
    }

    /// Creates a group room as `owner` and adds `members` to it (a few calls at a time).
    pub async fn group_room(
        &self,
        owner: &TokenResponse,
        name: &str,
        members: &[UserId],
    ) -> anyhow::Result<Room> {
        let owner = Api::new(&self.urls[0]).as_user(&owner.access_token);
        let room = owner.create_room(name).await.context("creating a room")?;
        let added: Vec<_> = futures_util::stream::iter(members)
            .map(|m| owner.add_member(room.id, *m))
            .buffer_unordered(16)
            .collect()
            .await;
        added
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .context("adding members")?;
        Ok(room)
    }

    /// Stops the servers.
    pub async fn stop(mut self) {
        for child in &mut self.children {
            let _ = child.kill().await;
        }
    }
}

/// One secret for all nodes of a cluster, kept in the first node's data directory.
fn shared_secret(
    earlier: &[tempfile::TempDir],
    this: &tempfile::TempDir,
) -> anyhow::Result<String> {
    let dir = earlier.first().unwrap_or(this);
    let path = dir.path().join("bench-jwt-secret");
    if let Ok(s) = std::fs::read_to_string(&path) {
        return Ok(s);
    }
    let secret: String = (0..48)
        .map(|_| char::from(b'a' + rand::random_range(0..26u8)))
        .collect();
    std::fs::write(&path, &secret).context("writing the cluster's secret")?;
    Ok(secret)
}

/// Spawns `cmd` and waits (30 s at most) for the stdout line that names its address.
async fn spawn_reporting_url(mut cmd: Command, prefix: &str) -> anyhow::Result<(Child, String)> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(rest) = line.strip_prefix(prefix) {
                return Ok(Some(rest.trim().to_owned()));
            }
        }
        Ok::<_, std::io::Error>(None)
    })
    .await;
    let addr = match found {
        Ok(Ok(Some(addr))) => addr,
        Ok(Ok(None)) => bail!("the server exited before it was listening"),
        Ok(Err(e)) => bail!("reading the server's output: {e}"),
        Err(_) => bail!("the server did not start listening within 30 s"),
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let url = if addr.contains("://") {
        addr
    } else {
        format!("http://{addr}")
    };
    Ok((child, url))
}

#[cfg(test)]
mod tests {
    use super::{Usage, rss_growth_per};

    fn at(rss_kib: u64) -> Option<Usage> {
        Some(Usage {
            rss_kib,
            ..Usage::default()
        })
    }

    #[test]
    fn memory_growth_is_a_figure_only_when_the_server_grew() {
        assert_eq!(rss_growth_per(at(1_000), at(3_000), 4), 500.0);
        assert!(rss_growth_per(at(3_000), at(1_000), 4).is_nan());
        assert!(rss_growth_per(at(1_000), at(3_000), 0).is_nan());
        assert!(rss_growth_per(None, at(3_000), 4).is_nan());
    }
}
