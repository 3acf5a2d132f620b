//! The events table is an immutable log: the database itself refuses to change it.

use serde_json::json;
use sqlx::PgPool;

use crate::helpers::spawn_app;

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn the_database_refuses_to_change_events(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    app.event_type(&key, "order.created").await;
    app.emit(&key, "order.created", json!({ "n": 1 }))
        .await
        .expect(201);

    for statement in [
        "UPDATE events SET payload = '{\"n\": 2}'",
        "UPDATE events SET event_type = 'other'",
        "DELETE FROM events",
        "TRUNCATE events CASCADE",
    ] {
        let error = sqlx::query(statement)
            .execute(&app.pool)
            .await
            .expect_err(statement);
        assert!(
            error.to_string().contains("events are immutable"),
            "{statement}: {error}"
        );
    }
    let payload: serde_json::Value = sqlx::query_scalar("SELECT payload FROM events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(payload, json!({ "n": 1 }));
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn the_database_refuses_illegal_delivery_transitions(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    app.event_type(&key, "order.created").await;
    app.webhook(&key, &[]).await;
    app.emit(&key, "order.created", json!({})).await.expect(201);
    let set = |status: &'static str| {
        let pool = app.pool.clone();
        async move {
            sqlx::query("UPDATE deliveries SET status = $1")
                .bind(status)
                .execute(&pool)
                .await
        }
    };
    for illegal in ["success"] {
        let error = set(illegal).await.expect_err("pending -> success");
        assert!(
            error
                .to_string()
                .contains("cannot go from pending to success"),
            "{error}"
        );
    }
    set("processing").await.expect("pending -> processing");
    set("success").await.expect("processing -> success");
    for illegal in ["pending", "processing", "failed", "success"] {
        let error = set(illegal).await.expect_err(illegal);
        assert!(
            error.to_string().contains("cannot go from success"),
            "{error}"
        );
    }
    let status: String = sqlx::query_scalar("SELECT status FROM deliveries")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        status, "success",
        "a refused transition leaves the row as it was"
    );
}

/// The hot tables carry no foreign keys (migration 0009): their parents are never deleted.
#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn the_database_refuses_to_delete_what_deliveries_point_at(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    app.event_type(&key, "order.created").await;
    app.webhook(&key, &[]).await;
    app.emit(&key, "order.created", json!({})).await.expect(201);

    for (table, statement) in [
        ("deliveries", "DELETE FROM deliveries"),
        ("deliveries", "TRUNCATE deliveries CASCADE"),
        ("webhooks", "DELETE FROM webhooks"),
        ("webhooks", "TRUNCATE webhooks CASCADE"),
        ("tenants", "DELETE FROM tenants"),
        ("tenants", "TRUNCATE tenants CASCADE"),
    ] {
        let error = sqlx::query(statement)
            .execute(&app.pool)
            .await
            .expect_err(statement);
        assert!(
            error
                .to_string()
                .contains(&format!("{table} rows are never deleted")),
            "{statement}: {error}"
        );
    }
    let rows: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM deliveries), (SELECT count(*) FROM webhooks),
                (SELECT count(*) FROM tenants)",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(rows, (1, 1, 1));
}
