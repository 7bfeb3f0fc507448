//! Live results: `GET /api/v1/live` WebSocket clients of *every* instance hear each result that any
//! instance ingested. After its PostgreSQL commit, the ingesting instance PUBLISHes the result on
//! `prefix:live`; every instance's subscriber task forwards the channel into a local broadcast that
//! its WebSocket clients read. A client that falls behind skips what it missed (counted) instead of
//! slowing the others. Without Redis a result reaches only the clients of the instance that
//! ingested it (live is a convenience; PostgreSQL and the read API are the record).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use futures_util::StreamExt as _;
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::metrics::Metrics;
use super::redis_link::{DEADLINE, RedisLink};

/// Messages a client may fall behind by before it skips ahead.
const CLIENT_BUFFER: usize = 1024;

/// The local end of the fan-out.
#[derive(Clone, Debug)]
pub struct Live {
    tx: broadcast::Sender<Utf8Bytes>,
    metrics: Arc<Metrics>,
}

impl Live {
    /// An empty fan-out.
    pub fn new(metrics: Arc<Metrics>) -> Live {
        let (tx, _) = broadcast::channel(CLIENT_BUFFER);
        Live { tx, metrics }
    }

    /// Starts the task that forwards `prefix:live` to this instance's clients, (re)subscribing
    /// while Redis comes and goes. Returns once the first subscription is made (or after 2 s), so a
    /// result published after `start` returns reaches this instance.
    pub async fn spawn_subscriber(
        &self,
        redis: RedisLink,
        shutdown: CancellationToken,
    ) -> JoinHandle<()> {
        let (ready_tx, ready_rx) = oneshot::channel();
        let live = self.clone();
        let task = tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            let Some(client) = redis.client().cloned() else {
                drop(ready.take());
                shutdown.cancelled().await;
                return;
            };
            let channel = redis.key("live");
            while !shutdown.is_cancelled() {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = live.subscribe_once(&client, &channel, &redis, &mut ready) => {}
                }
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_millis(250)) => {}
                }
            }
        });
        let _ = tokio::time::timeout(Duration::from_secs(2), ready_rx).await;
        task
    }

    /// One subscription, until the connection fails.
    async fn subscribe_once(
        &self,
        client: &redis::Client,
        channel: &str,
        redis: &RedisLink,
        ready: &mut Option<oneshot::Sender<()>>,
    ) {
        let pubsub = match tokio::time::timeout(DEADLINE, client.get_async_pubsub()).await {
            Ok(Ok(pubsub)) => pubsub,
            Ok(Err(error)) => return redis.down("subscribe", &error.to_string()),
            Err(_) => return redis.down("subscribe", "timed out"),
        };
        let (mut sink, mut stream) = pubsub.split();
        match tokio::time::timeout(DEADLINE, sink.subscribe(channel)).await {
            Ok(Ok(())) => redis.up(),
            Ok(Err(error)) => return redis.down("subscribe", &error.to_string()),
            Err(_) => return redis.down("subscribe", "timed out"),
        }
        match ready.take() {
            Some(ready) => {
                let _ = ready.send(());
            }
            // Not the first subscription: an earlier one was lost, and with it whatever was
            // published in between. Counted so churn shows (`dojo_live_resubscriptions_total`).
            None => self.metrics.live_resubscribed(),
        }
        // A ping now and then notices a connection that died without closing.
        let mut ping = tokio::time::interval(Duration::from_secs(5));
        ping.tick().await;
        loop {
            tokio::select! {
                message = stream.next() => {
                    let Some(message) = message else {
                        return redis.down("subscribe", "connection closed");
                    };
                    if let Ok(text) = message.get_payload::<String>() {
                        let _ = self.tx.send(Utf8Bytes::from(text));
                    }
                }
                _ = ping.tick() => {
                    match tokio::time::timeout(DEADLINE, sink.ping::<redis::Value>()).await {
                        Ok(Ok(reply)) if is_pong(&reply) => {}
                        Ok(Ok(reply)) => {
                            return redis.down("subscribe", &format!("unexpected ping reply {reply:?}"));
                        }
                        Ok(Err(error)) => return redis.down("subscribe", &error.to_string()),
                        Err(_) => return redis.down("subscribe", "ping timed out"),
                    }
                }
            }
        }
    }

    /// Publishes results to every instance; when Redis cannot take them, hands them to this
    /// instance's clients directly.
    pub async fn publish(&self, redis: &RedisLink, messages: Vec<String>) {
        if messages.is_empty() {
            return;
        }
        let channel = redis.key("live");
        let copy = messages.clone();
        let sent: Option<()> = redis
            .run("publish", |mut c| async move {
                let mut pipe = redis::pipe();
                for message in copy {
                    pipe.publish(&channel, message).ignore();
                }
                pipe.query_async(&mut c).await
            })
            .await;
        if sent.is_none() {
            for message in messages {
                let _ = self.tx.send(Utf8Bytes::from(message));
            }
        }
    }

    /// Serves one WebSocket client until it leaves or the instance stops.
    pub(crate) async fn serve(&self, mut socket: WebSocket, shutdown: CancellationToken) {
        let mut rx = self.tx.subscribe();
        self.metrics.live_clients(1);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => {
                    let _ = socket.send(Message::Close(None)).await;
                    break;
                }
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                    Some(Ok(_)) => {}
                },
                message = rx.recv() => match message {
                    Ok(text) => {
                        if socket.send(Message::Text(text)).await.is_err() {
                            break;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => self.metrics.live_lagged(n),
                    Err(broadcast::error::RecvError::Closed) => break,
                },
            }
        }
        self.metrics.live_clients(-1);
    }
}

/// Whether `reply` answers a PING on a subscribed connection: RESP2 answers the array
/// `["pong", ""]` there (not `+PONG`, which only an unsubscribed connection or RESP3 sends).
/// Taking the array for a failure tore the subscription down every ping, losing the results
/// published while it was rebuilt.
fn is_pong(reply: &redis::Value) -> bool {
    use redis::Value;
    let word = |value: &Value| match value {
        Value::SimpleString(text) => text.eq_ignore_ascii_case("pong"),
        Value::BulkString(bytes) => bytes.eq_ignore_ascii_case(b"pong"),
        _ => false,
    };
    match reply {
        Value::Array(items) | Value::Push { data: items, .. } => items.first().is_some_and(word),
        other => word(other),
    }
}

#[cfg(test)]
mod tests {
    use redis::Value;

    use super::is_pong;

    #[test]
    fn a_subscribed_resp2_pong_is_a_pong() {
        let resp2 = Value::Array(vec![
            Value::BulkString(b"pong".to_vec()),
            Value::BulkString(Vec::new()),
        ]);
        assert!(is_pong(&resp2));
        assert!(is_pong(&Value::SimpleString("PONG".into())));
        assert!(!is_pong(&Value::Nil));
        assert!(!is_pong(&Value::Array(vec![Value::BulkString(
            b"message".to_vec()
        )])));
    }
}
