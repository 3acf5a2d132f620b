//! A service's pool, from `connect_and_migrate`: the database is created and migrated before
//! the pool opens, and the pool opens its `Warm` connections at once, each of which ran the
//! warm-up (which reads the migrated tables) before serving anything.

use futures::future::BoxFuture;
use herald_runtime::database::{Warm, connect_and_migrate};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

/// Marks the connection, reading a migrated table on the way.
fn mark(conn: &mut PgConnection) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        sqlx::query(
            "SELECT set_config('herald.warmed', (SELECT count(*) FROM deliveries)::text, false)",
        )
        .execute(conn)
        .await?;
        Ok(())
    })
}

#[tokio::test]
async fn a_new_database_gets_a_pool_of_warm_connections() {
    let server = std::env::var("DATABASE_URL").expect("DATABASE_URL names the test server");
    let name = format!("herald_warm_{}", Uuid::now_v7().simple());
    let url = format!("{}/{name}", server.rsplit_once('/').unwrap().0);
    let warm = Warm {
        connections: 3,
        warmup: Some(mark),
    };

    let pool = connect_and_migrate(&url, warm).await.unwrap();
    assert_eq!(pool.size(), 3, "opened before the pool is handed over");
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut conn = pool.acquire().await.unwrap();
        let warmed: Option<String> =
            sqlx::query_scalar("SELECT current_setting('herald.warmed', true)")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
        assert_eq!(
            warmed.as_deref(),
            Some("0"),
            "a connection that skipped its warm-up"
        );
        held.push(conn);
    }
    assert_eq!(
        pool.size(),
        3,
        "the three connections served, none opened besides"
    );

    drop(held);
    pool.close().await;
    let mut admin = PgConnection::connect(&server).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
}
