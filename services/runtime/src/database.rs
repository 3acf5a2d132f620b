//! The PostgreSQL connection: the database is created when absent and migrated at start-up,
//! and a service's pool keeps its connections warm (see `Warm`).

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use futures::future::BoxFuture;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// A service's main pool holds at most this many connections.
pub const MAX_CONNECTIONS: u32 = 20;

/// Statements a connection runs once as it opens, before it serves anything: a service's
/// hot statements, with empty input. They leave no rows behind; what they leave is the
/// statement prepared on the connection and its server process's catalog caches filled.
pub type Warmup = for<'c> fn(&'c mut PgConnection) -> BoxFuture<'c, anyhow::Result<()>>;

/// How warm a pool is kept. A new server process pays for its first run of each statement
/// (parsing, planning, reading the catalog for every table and index it names), and a pool
/// that grows under a burst pays that for each connection it opens, on the requests that
/// are waiting: in the benchmark, the first second of 10,000 deliveries/s on a fresh stack
/// opened about 20 connections and fell 150 to 250 ms behind, where a stack whose
/// connections had already served fell about 60 ms behind. So a pool opens `connections` at start and keeps them (sqlx replaces
/// one it retires), and every connection it opens runs `warmup` first.
#[derive(Clone, Copy, Default)]
pub struct Warm {
    /// Connections opened at start and kept open.
    pub connections: usize,
    pub warmup: Option<Warmup>,
}

impl Warm {
    /// Pool options for at most `max` connections, kept warm.
    pub fn pool_options(self, max: u32) -> PgPoolOptions {
        let options = PgPoolOptions::new()
            .max_connections(max)
            .min_connections(u32::try_from(self.connections).unwrap_or(max).min(max))
            .acquire_timeout(Duration::from_secs(5));
        match self.warmup {
            None => options,
            Some(warmup) => options.after_connect(move |conn, _| {
                Box::pin(async move {
                    warmup(conn)
                        .await
                        .map_err(|error| sqlx::Error::Configuration(error.into()))
                })
            }),
        }
    }
}

/// Connects to the database named in `url`, creating it first if it does not exist, applies
/// pending migrations, then opens the service's pool, kept `warm` (its warm-up reads the
/// migrated tables).
pub async fn connect_and_migrate(url: &str, warm: Warm) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(url).context("parsing DATABASE_URL")?;
    create_database_if_absent(&options).await?;
    let mut conn = options
        .connect()
        .await
        .context("connecting to PostgreSQL")?;
    MIGRATOR
        .run(&mut conn)
        .await
        .context("applying database migrations")?;
    conn.close()
        .await
        .context("closing the migration connection")?;
    warm.pool_options(MAX_CONNECTIONS)
        .connect_with(options)
        .await
        .context("connecting to PostgreSQL")
}

/// Opens `warm.connections` of a lazily built `pool` in the background (each running the
/// warm-up as it opens), so that the first work it gets does not wait for them.
pub fn open_in_background(pool: &PgPool, warm: Warm) {
    if warm.connections == 0 {
        return;
    }
    let pool = pool.clone();
    tokio::spawn(async move {
        let opened = futures::future::join_all((0..warm.connections).map(|_| pool.acquire())).await;
        for error in opened.into_iter().filter_map(Result::err) {
            tracing::warn!(%error, "a pool connection did not open ahead of use");
        }
    });
}

async fn create_database_if_absent(options: &PgConnectOptions) -> anyhow::Result<()> {
    let name = options
        .get_database()
        .context("DATABASE_URL names no database")?
        .to_owned();
    let mut admin = options
        .clone()
        .database("postgres")
        .connect()
        .await
        .context("connecting to the PostgreSQL maintenance database")?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await
            .context("checking whether the database exists")?;
    if !exists {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        let created = sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {quoted}")))
            .execute(&mut admin)
            .await;
        // Another process may have won the race; only a database that is still missing fails.
        if let Err(error) = created {
            let duplicate = error
                .as_database_error()
                .and_then(|e| e.code())
                .is_some_and(|code| code == "42P04");
            if !duplicate {
                return Err(error).context(format!("creating database {name:?}"));
            }
        } else {
            tracing::info!(database = %name, "created database");
        }
    }
    admin
        .close()
        .await
        .context("closing maintenance connection")?;
    Ok(())
}
