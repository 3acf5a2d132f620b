//! A pull loop over one durable consumer: each message handled in turn, acked when handled,
//! NAK'd for a retry when handling failed (the database was down, say).

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::AckKind;
use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::message::Message;
use futures::StreamExt;
use herald_runtime::shutdown::ShutdownToken;

const BATCH: usize = 64;
const EXPIRES: Duration = Duration::from_secs(1);
const RETRY: Duration = Duration::from_secs(5);

pub async fn consume<F, Fut>(consumer: PullConsumer, what: &str, shutdown: ShutdownToken, handle: F)
where
    F: Fn(Message) -> Fut,
    Fut: Future<Output = (Message, anyhow::Result<()>)>,
{
    loop {
        let batch = tokio::select! {
            _ = shutdown.cancelled() => return,
            batch = consumer.fetch().max_messages(BATCH).expires(EXPIRES).messages() => batch,
        };
        let mut batch = match batch {
            Ok(batch) => batch,
            Err(error) => {
                tracing::warn!(what, %error, "fetch failed");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(RETRY) => continue,
                }
            }
        };
        while let Some(Ok(message)) = batch.next().await {
            let (message, handled) = handle(message).await;
            let ack = match handled {
                Ok(()) => AckKind::Ack,
                Err(error) => {
                    tracing::warn!(
                        what,
                        error = format!("{error:#}"),
                        "handling failed; retrying"
                    );
                    AckKind::Nak(Some(RETRY))
                }
            };
            if let Err(error) = message.ack_with(ack).await {
                tracing::warn!(what, %error, "ack not sent; the message will be redelivered");
            }
        }
    }
}
