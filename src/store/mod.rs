//! Persistence: users, refresh tokens, rooms, membership, read positions and messages.
//!
//! One [`Store`] with two backends: an embedded SQLite file (the default) and Postgres. Each
//! operation's SQL is written once, in the dialect both accept (`$N` parameters, `RETURNING`,
//! `ON CONFLICT`), and run against whichever pool is configured through the [`reader!`] and
//! [`writer!`] macros, which expand the same body once per backend with concrete types. SQLite gets a
//! pool of readers and a single writer connection, so writes queue in the pool instead of failing
//! with `SQLITE_BUSY`; Postgres uses one pool for both. Sends are the exception: they go to a
//! committer that writes the ones waiting together ([`commit`]), under SQLite on a connection of
//! its own. Migrations for each backend live in `migrations/<backend>` and run at start.
//!
//! The store enforces integrity (gap-free seq, uniqueness, idempotency) but not permissions: the
//! service layer decides who may do what, then calls in here.

mod accounts;
mod commit;
mod embeds;
mod emoji;
mod files;
mod invites;
mod messages;
mod moderation;
mod pg_sends;
mod pins;
mod push;
mod reactions;
mod rooms;
mod rows;
mod search;
mod sqlite_reads;
mod sqlite_sends;
#[cfg(test)]
pub(crate) mod test_db;
mod threads;
mod users;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::config::DatabaseUrl;

pub use accounts::LoginRecord;
pub use embeds::{CachedPreview, NewPreview};
pub use files::FileRecord;
pub use invites::{InviteRecord, NewInvite};
pub use messages::{HistoryRequest, Mentions, NewMessage, SendOutcome, ThreadParent};
pub use moderation::{NewAuditEntry, PostingLimits};
pub use push::{PushAudience, PushMember, PushSubscriptionRecord};
pub use reactions::ReactionOutcome;
pub use rooms::{NewRoom, RoomSummary};
pub use search::{Has, SearchPage, SearchRequest, Term};
pub use threads::FollowedRow;
pub use users::{NewUser, RefreshOutcome};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such row (or not visible to the caller).
    #[error("not found")]
    NotFound,
    /// A uniqueness rule refused the write; the code names which.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// SQLite failed on the send path's own connection (see `sqlite_sends`).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// True when the database could not be reached (as opposed to refusing a statement).
    pub fn is_unavailable(&self) -> bool {
        use rusqlite::ErrorCode::{CannotOpen, DatabaseBusy, DatabaseLocked, SystemIoFailure};
        match self {
            StoreError::Database(
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed,
            ) => true,
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                DatabaseBusy | DatabaseLocked | SystemIoFailure | CannotOpen
            ),
            _ => false,
        }
    }
}

/// True for a unique-constraint violation, which callers turn into a [`StoreError::Conflict`].
fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// `s` with the `LIKE` wildcards escaped (for `ESCAPE '\\'`), to match literally.
fn like_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

/// The pools of the configured backend.
#[derive(Clone, Debug)]
pub(crate) enum Backend {
    Sqlite {
        read: SqlitePool,
        write: SqlitePool,
        /// The send path's point reads, on the caller's thread (none for an in-memory database).
        inline: Option<std::sync::Arc<sqlite_reads::InlineReads>>,
    },
    Postgres(PgPool),
}

/// Runs `$body` with `$p` bound to the pool for reads of the configured backend.
macro_rules! reader {
    ($store:expr, |$p:ident| $body:expr) => {{
        let started = std::time::Instant::now();
        let result = match &$store.backend {
            $crate::store::Backend::Sqlite { read: $p, .. } => $body,
            $crate::store::Backend::Postgres($p) => $body,
        };
        $crate::metrics::store("read", started.elapsed());
        result
    }};
}

/// Runs `$body` with `$p` bound to the pool for writes of the configured backend.
macro_rules! writer {
    ($store:expr, |$p:ident| $body:expr) => {{
        let started = std::time::Instant::now();
        let result = match &$store.backend {
            $crate::store::Backend::Sqlite { write: $p, .. } => $body,
            $crate::store::Backend::Postgres($p) => $body,
        };
        $crate::metrics::store("write", started.elapsed());
        result
    }};
}

pub(crate) use {reader, writer};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The history store. Cheap to clone: it holds pool handles.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) backend: Backend,
    /// Where sends go to be committed together; `None` in the committer's own store, which
    /// writes them.
    commits: Option<commit::Committer>,
}

impl Store {
    /// Connects to `url`, or to `confab.db` in `data_dir` when no URL is given. Does not migrate.
    pub async fn connect(
        url: Option<&DatabaseUrl>,
        data_dir: &Path,
        max_connections: u32,
    ) -> Result<Store, StoreError> {
        let (backend, sqlite_file) = match url {
            Some(DatabaseUrl::Postgres(url)) => {
                let options = PgConnectOptions::from_str(url)?;
                let pool = PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options)
                    .await?;
                (Backend::Postgres(pool), None)
            }
            Some(DatabaseUrl::Sqlite(url)) => {
                let options = SqliteConnectOptions::from_str(url)?;
                Self::sqlite_pools(options, max_connections).await?
            }
            None => {
                let options = SqliteConnectOptions::new().filename(data_dir.join("confab.db"));
                Self::sqlite_pools(options, max_connections).await?
            }
        };
        let writes = Store {
            backend: backend.clone(),
            commits: None,
        };
        let commits = commit::Committer::start(writes, sqlite_file).map_err(sqlx::Error::Io)?;
        Ok(Store {
            backend,
            commits: Some(commits),
        })
    }

    /// SQLite's pools, and the file the send thread opens beside them (none for an in-memory
    /// database, whose sends then go through the writer pool).
    async fn sqlite_pools(
        options: SqliteConnectOptions,
        max_connections: u32,
    ) -> Result<(Backend, Option<std::path::PathBuf>), StoreError> {
        private_database(options.get_filename()).map_err(sqlx::Error::Io)?;
        let file = options.get_filename();
        let file = (!file.as_os_str().is_empty() && file != Path::new(":memory:"))
            .then(|| file.to_path_buf());
        // WAL lets readers run beside the writer; FULL sync makes an acknowledged message survive
        // a power cut, which is the promise of the ack.
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await?;
        let read = SqlitePoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        let inline = file
            .clone()
            .map(|f| std::sync::Arc::new(sqlite_reads::InlineReads::new(f)));
        Ok((
            Backend::Sqlite {
                read,
                write,
                inline,
            },
            file,
        ))
    }

    /// Under SQLite, answers `read` on this thread (see [`sqlite_reads`]); `None` under Postgres
    /// or when it cannot, and the caller then reads through the pool.
    fn inline<T>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Option<T> {
        let Backend::Sqlite {
            inline: Some(reads),
            ..
        } = &self.backend
        else {
            return None;
        };
        let started = std::time::Instant::now();
        let answer = reads.run(read);
        if answer.is_some() {
            crate::metrics::store("read", started.elapsed());
        }
        answer
    }

    /// The store `config` names, connected and migrated: what every command starts with.
    pub async fn open(config: &crate::config::Config) -> Result<Store, StoreError> {
        let store = Store::connect(
            config.database_url.as_ref(),
            &config.data_dir,
            config.db_max_connections,
        )
        .await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Applies pending migrations of the configured backend.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite { write, .. } => SQLITE_MIGRATIONS.run(write).await?,
            Backend::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// `sqlite` or `postgres`, for logs and `/readyz`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Answers when the database does: the readiness check.
    pub async fn ping(&self) -> Result<(), StoreError> {
        reader!(self, |p| sqlx::query("SELECT 1")
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Closes every connection; waits for in-flight statements.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite { read, write, .. } => {
                read.close().await;
                write.close().await;
            }
            Backend::Postgres(pool) => pool.close().await,
        }
    }

    /// Copies a SQLite database into `dest` while the server runs (`VACUUM INTO` takes a consistent
    /// snapshot without blocking writers for long). Postgres is backed up with `pg_dump`.
    pub async fn backup_sqlite(&self, dest: &Path) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite { read, .. } => {
                let dest = dest.to_string_lossy().into_owned();
                sqlx::query("VACUUM INTO $1")
                    .bind(dest)
                    .execute(read)
                    .await?;
                Ok(())
            }
            Backend::Postgres(_) => Err(StoreError::Conflict("backup_postgres_with_pg_dump")),
        }
    }
}

/// Makes a SQLite database file readable by this user only (it holds password hashes and every
/// DM): created empty with mode 0600 when missing, narrowed when it exists. SQLite gives its
/// `-wal` and `-shm` files the mode of the database, and existing ones are narrowed too.
fn private_database(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let name = path.to_string_lossy();
        if name.is_empty() || name == ":memory:" {
            return Ok(());
        }
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        for suffix in ["", "-wal", "-shm"] {
            let file = std::path::PathBuf::from(format!("{name}{suffix}"));
            match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Now, cut to milliseconds: every backend stores that much, so what is written reads back equal.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(3)
}
