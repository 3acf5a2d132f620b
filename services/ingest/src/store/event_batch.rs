//! Events written in batches across concurrent `POST /events` requests (group commit): each
//! request waits until the batch holding its event is committed, so an event is durable
//! before its 201, as on the one-event path; a batch costs two statements however many
//! events it holds. Events with an `Idempotency-Key` keep the one-event transaction, which
//! claims the key with the event.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use herald_domain::DeliveryId;
use herald_runtime::group_commit::{BatchResult, GroupCommit, Linger, Sizing, SubmitError};
use serde_json::value::RawValue;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// An accepted event waiting for its batch.
#[derive(Debug)]
pub struct PendingEvent {
    pub id: Uuid,
    pub tenant: Uuid,
    pub event_type: String,
    /// The payload's JSON text, stored as it came (see `PayloadText`).
    pub payload: Box<RawValue>,
    pub occurred_at: DateTime<Utc>,
    pub traceparent: Option<String>,
    /// The request body's size, for the batch's byte budget.
    pub size: usize,
}

/// What the batch stored for one event.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub created_at: DateTime<Utc>,
    /// `(delivery, webhook)`, one per matching webhook, by webhook id.
    pub deliveries: Vec<(Uuid, Uuid)>,
}

/// Payload bytes one insert statement carries at most: a batch of large events is split into
/// several statements, written in one transaction.
const STATEMENT_BYTES: usize = 4 * 1024 * 1024;

/// Stores the events and one `pending` delivery per matching enabled webhook, all or none.
pub async fn write(pool: &PgPool, events: Vec<PendingEvent>) -> BatchResult<StoredEvent> {
    let chunks = chunks_by_size(&events, STATEMENT_BYTES);
    if chunks.len() == 1 {
        let mut conn = pool.acquire().await.context("taking a connection")?;
        return write_chunk(&mut conn, &events).await;
    }
    let mut tx = pool
        .begin()
        .await
        .context("starting the events transaction")?;
    let mut stored = Vec::with_capacity(events.len());
    for chunk in chunks {
        stored.extend(write_chunk(&mut tx, &events[chunk]).await?);
    }
    tx.commit().await.context("committing the events")?;
    Ok(stored)
}

/// Consecutive ranges of `events` carrying at most `budget` bytes each (one event at least).
fn chunks_by_size(events: &[PendingEvent], budget: usize) -> Vec<std::ops::Range<usize>> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, event) in events.iter().enumerate() {
        if i > start && bytes + event.size > budget {
            chunks.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += event.size;
    }
    chunks.push(start..events.len());
    chunks
}

async fn write_chunk(
    conn: &mut PgConnection,
    events: &[PendingEvent],
) -> anyhow::Result<Vec<StoredEvent>> {
    let targets = matching_webhooks(&mut *conn, events).await?;
    let mut deliveries: Vec<Vec<(Uuid, Uuid)>> = Vec::with_capacity(events.len());
    let (mut ids, mut tenants, mut event_ids, mut webhooks) = (vec![], vec![], vec![], vec![]);
    for event in events {
        let matched = targets
            .get(&(event.tenant, event.event_type.as_str()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mine: Vec<(Uuid, Uuid)> = matched
            .iter()
            .map(|webhook| (DeliveryId::new().as_uuid(), *webhook))
            .collect();
        for (delivery, webhook) in &mine {
            ids.push(*delivery);
            tenants.push(event.tenant);
            event_ids.push(event.id);
            webhooks.push(*webhook);
        }
        deliveries.push(mine);
    }
    let (created_at, stored_events, stored_deliveries): (DateTime<Utc>, i64, i64) = sqlx::query_as(
        "WITH ev AS (
               INSERT INTO events (id, tenant_id, event_type, payload, occurred_at, traceparent)
               SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[],
                                    $5::timestamptz[], $6::text[])
               RETURNING 1),
             dl AS (
               INSERT INTO deliveries (id, tenant_id, event_id, webhook_id)
               SELECT * FROM unnest($7::uuid[], $8::uuid[], $9::uuid[], $10::uuid[])
               RETURNING 1)
             SELECT now(), (SELECT count(*) FROM ev), (SELECT count(*) FROM dl)",
    )
    .bind(events.iter().map(|e| e.id).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.tenant).collect::<Vec<_>>())
    .bind(
        events
            .iter()
            .map(|e| e.event_type.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(events.iter().map(|e| Json(&*e.payload)).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
    .bind(
        events
            .iter()
            .map(|e| e.traceparent.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(&ids)
    .bind(&tenants)
    .bind(&event_ids)
    .bind(&webhooks)
    .fetch_one(&mut *conn)
    .await
    .context("storing a batch of events")?;
    anyhow::ensure!(
        stored_events == events.len() as i64 && stored_deliveries == ids.len() as i64,
        "a batch of {} events and {} deliveries stored {stored_events} and {stored_deliveries}",
        events.len(),
        ids.len()
    );
    Ok(deliveries
        .into_iter()
        .map(|deliveries| StoredEvent {
            created_at,
            deliveries,
        })
        .collect())
}

/// The ingest pool's warm-up (see `herald_runtime::database::Warm`): an empty batch, which
/// runs the matching and both inserts with nothing to write.
pub fn warm_up(conn: &mut PgConnection) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        write_chunk(conn, &[]).await?;
        Ok(())
    })
}

/// The enabled webhooks of each `(tenant, type)` in the batch, by webhook id.
async fn matching_webhooks<'a>(
    conn: &mut PgConnection,
    events: &'a [PendingEvent],
) -> anyhow::Result<HashMap<(Uuid, &'a str), Vec<Uuid>>> {
    let mut pairs: Vec<(Uuid, &str)> = events
        .iter()
        .map(|e| (e.tenant, e.event_type.as_str()))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let rows: Vec<(i64, Uuid)> = sqlx::query_as(
        "SELECT p.n, w.id
         FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS p (tenant_id, event_type, n)
         JOIN webhooks w ON w.tenant_id = p.tenant_id AND w.enabled AND w.deleted_at IS NULL
              AND (cardinality(w.event_types) = 0 OR p.event_type = ANY (w.event_types))
         ORDER BY p.n, w.id",
    )
    .bind(pairs.iter().map(|(tenant, _)| *tenant).collect::<Vec<_>>())
    .bind(pairs.iter().map(|(_, kind)| *kind).collect::<Vec<_>>())
    .fetch_all(conn)
    .await
    .context("finding the batch's matching webhooks")?;
    let mut targets: HashMap<(Uuid, &str), Vec<Uuid>> = HashMap::new();
    for (n, webhook) in rows {
        let pair = usize::try_from(n - 1)
            .ok()
            .and_then(|i| pairs.get(i))
            .context("a matching row names no pair of the batch")?;
        targets.entry(*pair).or_default().push(webhook);
    }
    Ok(targets)
}

/// The most events one batch write takes.
const MAX_BATCH: usize = 500;
/// Batch writes in flight at once: while one commits, the next batch forms and a second
/// writer can already send it.
pub(crate) const WRITERS: usize = 4;
/// Under load (an event every 4 ms or more often), a batch waits this long for more events
/// to share its two statements: a caller waits up to 2 ms longer for its 201, and PostgreSQL
/// spends a statement on several events instead of one each. At a quiet moment an event is
/// written at once.
const LINGER: Duration = Duration::from_millis(2);

/// The group commit of events, started on first use (inside the runtime).
pub struct EventWriter {
    pool: PgPool,
    queue: usize,
    commit: OnceLock<GroupCommit<PendingEvent, StoredEvent>>,
}

impl EventWriter {
    /// `queue`: events that may wait for a batch; past it, `write` refuses at once.
    pub fn new(pool: PgPool, queue: usize) -> Self {
        Self {
            pool,
            queue,
            commit: OnceLock::new(),
        }
    }

    /// Stores the event in the next batch and waits for that batch's commit.
    pub async fn write(&self, event: PendingEvent) -> Result<StoredEvent, SubmitError> {
        self.commit().try_submit(event).await
    }

    fn commit(&self) -> &GroupCommit<PendingEvent, StoredEvent> {
        self.commit.get_or_init(|| {
            let pool = self.pool.clone();
            let sizing = Sizing {
                queue: self.queue,
                max_batch: MAX_BATCH,
                writers: WRITERS,
                linger: Linger::WhenBusy(LINGER),
            };
            GroupCommit::spawn("event write", sizing, move |events| {
                let pool = pool.clone();
                async move { write(&pool, events).await }
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sized(sizes: &[usize]) -> Vec<PendingEvent> {
        sizes
            .iter()
            .map(|&size| PendingEvent {
                id: Uuid::nil(),
                tenant: Uuid::nil(),
                event_type: "t".into(),
                payload: RawValue::from_string("{}".into()).unwrap(),
                occurred_at: Utc::now(),
                traceparent: None,
                size,
            })
            .collect()
    }

    /// The warm-up writes nothing, and leaves the batch's two statements prepared.
    #[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
    async fn the_warm_up_prepares_the_batch_and_writes_nothing(pool: PgPool) {
        let mut conn = pool.acquire().await.unwrap();
        warm_up(&mut conn).await.unwrap();
        let prepared: Vec<String> = sqlx::query_scalar(
            "SELECT statement FROM pg_prepared_statements
             WHERE statement NOT LIKE '%pg_prepared_statements%' ORDER BY prepare_time",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        assert_eq!(prepared.len(), 2, "{prepared:?}");
        assert!(
            prepared[0].contains("JOIN webhooks") && prepared[1].contains("INSERT INTO events")
        );
        let rows: (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM deliveries),
                    (SELECT count(*) FROM event_outbox)",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        assert_eq!(rows, (0, 0, 0));
    }

    #[test]
    fn a_batch_is_split_by_its_payload_bytes() {
        assert_eq!(chunks_by_size(&sized(&[1, 2, 3]), 10), vec![0..3]);
        assert_eq!(chunks_by_size(&sized(&[6, 5, 4, 1]), 10), vec![0..1, 1..4]);
        // An event over the budget still goes, alone.
        assert_eq!(chunks_by_size(&sized(&[20, 1]), 10), vec![0..1, 1..2]);
        assert_eq!(chunks_by_size(&sized(&[]), 10), vec![0..0]);
    }
}
