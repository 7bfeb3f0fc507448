//! The delivery worker: tasks (several per instance, and every instance runs them) that claim due
//! deliveries from the outbox, try each ([`Deliverer::try_deliver`]) outside any transaction and
//! record the outcome. They wake at once when a notification commits (PostgreSQL `LISTEN` on
//! [`super::PG_CHANNEL`], which also feeds the live WebSocket clients) and otherwise poll every
//! second for retries that came due.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::{Notify, broadcast};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::email::Mailer;
use super::outbox::{self, Channel, Delivery, Outcome, RetryPolicy};
use super::{push, webhook};

/// How often an idle worker looks for retries that came due.
pub const POLL: Duration = Duration::from_secs(1);
/// Deliveries one worker claims at a time.
const BATCH: i64 = 8;

/// The notification settings of an instance.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `--smtp-url`; no email without it (email deliveries wait, retried, for a relay).
    pub smtp_url: Option<String>,
    /// `--smtp-from`.
    pub smtp_from: String,
    /// `--webhook-allow-private`: webhooks and push endpoints may be private addresses (tests,
    /// closed networks).
    pub allow_private: bool,
    /// Retries.
    pub retry: RetryPolicy,
    /// Delivery tasks on this instance (0: this instance delivers nothing).
    pub workers: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            smtp_url: None,
            smtp_from: "DojoPool <no-reply@dojopool.invalid>".into(),
            allow_private: false,
            retry: RetryPolicy::default(),
            workers: 2,
        }
    }
}

/// A committed notification: (user id, notification id).
pub type Committed = (Arc<str>, i64);

/// What this instance's workers and live clients wait on (cheap to clone).
#[derive(Clone, Debug)]
pub struct Hub {
    wake: Arc<Notify>,
    committed: broadcast::Sender<Committed>,
    /// Whether webhook and push URLs may be private (`--webhook-allow-private`).
    pub allow_private: bool,
}

impl Hub {
    /// A hub nobody listens to yet.
    pub fn new(allow_private: bool) -> Hub {
        let (committed, _) = broadcast::channel(1024);
        Hub {
            wake: Arc::new(Notify::new()),
            committed,
            allow_private,
        }
    }

    /// Notifications committed from now on, on any instance.
    pub fn subscribe(&self) -> broadcast::Receiver<Committed> {
        self.committed.subscribe()
    }
}

/// Tries deliveries.
#[derive(Clone, Debug)]
pub struct Deliverer {
    pool: sqlx::PgPool,
    http: reqwest::Client,
    mailer: Option<Mailer>,
    public_url: String,
    allow_private: bool,
}

impl Deliverer {
    /// A deliverer with `settings` (a bad SMTP setting is logged and leaves email undelivered,
    /// retried, rather than stopping the service).
    pub fn new(pool: sqlx::PgPool, settings: &Settings, public_url: &str) -> Deliverer {
        let mailer = settings.smtp_url.as_deref().and_then(|url| {
            Mailer::new(url, &settings.smtp_from)
                .inspect_err(|error| tracing::error!(%error, "email notifications are off"))
                .ok()
        });
        Deliverer {
            pool,
            http: webhook::client(settings.allow_private),
            mailer,
            public_url: public_url.to_owned(),
            allow_private: settings.allow_private,
        }
    }

    /// One attempt at `delivery`.
    pub async fn try_deliver(&self, delivery: &Delivery) -> Outcome {
        let result = match delivery.channel {
            Channel::Email => self.email(delivery).await,
            Channel::Webhook => self.webhook(delivery).await,
            Channel::Push => self.push(delivery).await,
        };
        result.unwrap_or_else(|error| Outcome::Retry(format!("database: {error}")))
    }

    async fn email(&self, delivery: &Delivery) -> Result<Outcome, sqlx::Error> {
        let Some(mailer) = &self.mailer else {
            return Ok(Outcome::Retry(
                "no SMTP relay configured (--smtp-url)".into(),
            ));
        };
        let address: Option<(Option<String>,)> =
            sqlx::query_as("SELECT email FROM users WHERE id = $1 AND deleted_at IS NULL")
                .bind(&delivery.user_id)
                .fetch_optional(&self.pool)
                .await?;
        let Some((Some(address),)) = address else {
            return Ok(Outcome::Failed("the account has no email address".into()));
        };
        let message = super::email::render(&delivery.kind, &delivery.payload, &self.public_url);
        Ok(mailer.send(&address, &message).await)
    }

    async fn webhook(&self, delivery: &Delivery) -> Result<Outcome, sqlx::Error> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT url, secret FROM webhooks WHERE id = $1 AND user_id = $2")
                .bind(&delivery.target)
                .bind(&delivery.user_id)
                .fetch_optional(&self.pool)
                .await?;
        let Some((url, secret)) = row else {
            return Ok(Outcome::Failed("the webhook was deleted".into()));
        };
        Ok(webhook::send(&self.http, &url, &secret, delivery, self.allow_private).await)
    }

    async fn push(&self, delivery: &Delivery) -> Result<Outcome, sqlx::Error> {
        let row: Option<(String, String, String)> = sqlx::query_as(
            "SELECT endpoint, p256dh, auth FROM push_subscriptions WHERE id = $1 AND user_id = $2",
        )
        .bind(&delivery.target)
        .bind(&delivery.user_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some((endpoint, p256dh, auth)) = row else {
            return Ok(Outcome::Failed("the push subscription was removed".into()));
        };
        if let Err(error) = webhook::check_url(&endpoint, self.allow_private) {
            return Ok(Outcome::Failed(error.to_string()));
        }
        let Some(keys) = push::decode_keys(&p256dh, &auth) else {
            return Ok(Outcome::Failed(
                "the subscription's keys are invalid".into(),
            ));
        };
        let Some(vapid) = push::load(&self.pool).await? else {
            return Ok(Outcome::Retry(
                "no VAPID key (run `cloud-sync push keygen`)".into(),
            ));
        };
        let text = push::message(delivery, &self.public_url);
        let (outcome, gone) = push::send(
            &self.http,
            &vapid,
            &self.public_url,
            &endpoint,
            &keys,
            &text,
        )
        .await;
        if gone {
            sqlx::query("DELETE FROM push_subscriptions WHERE id = $1")
                .bind(&delivery.target)
                .execute(&self.pool)
                .await?;
        }
        Ok(outcome)
    }
}

/// Starts the listener and `settings.workers` delivery tasks.
pub fn spawn(
    pool: &sqlx::PgPool,
    hub: &Hub,
    settings: &Settings,
    public_url: &str,
    shutdown: &CancellationToken,
) -> Vec<JoinHandle<()>> {
    let mut tasks = vec![tokio::spawn(listen(
        pool.clone(),
        hub.clone(),
        shutdown.clone(),
    ))];
    let deliverer = Deliverer::new(pool.clone(), settings, public_url);
    for _ in 0..settings.workers {
        tasks.push(tokio::spawn(work(
            deliverer.clone(),
            hub.clone(),
            settings.retry,
            shutdown.clone(),
        )));
    }
    tasks
}

/// Forwards PostgreSQL notifications of committed notifications to the workers and live clients.
async fn listen(pool: sqlx::PgPool, hub: Hub, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, "notifications: cannot LISTEN; polling only");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(POLL) => continue,
                }
            }
        };
        if let Err(error) = listener.listen(super::PG_CHANNEL).await {
            tracing::warn!(%error, "notifications: cannot LISTEN; polling only");
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(POLL) => continue,
            }
        }
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                message = listener.recv() => match message {
                    Ok(message) => {
                        hub.wake.notify_waiters();
                        if let Some((id, user)) = message.payload().split_once(' ')
                            && let Ok(id) = id.parse::<i64>()
                        {
                            let _ = hub.committed.send((Arc::from(user), id));
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "notifications: LISTEN connection lost");
                        break;
                    }
                },
            }
        }
    }
}

/// One delivery task.
async fn work(deliverer: Deliverer, hub: Hub, retry: RetryPolicy, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        let mut woken = pin!(hub.wake.notified());
        woken.as_mut().enable();
        let batch = match outbox::claim(&deliverer.pool, BATCH).await {
            Ok(batch) => batch,
            Err(error) => {
                tracing::warn!(%error, "notifications: cannot claim deliveries");
                Vec::new()
            }
        };
        if batch.is_empty() {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = woken => {}
                () = tokio::time::sleep(POLL) => {}
            }
            continue;
        }
        let attempts = batch.iter().map(|delivery| async {
            let outcome = deliverer.try_deliver(delivery).await;
            if let Outcome::Retry(error) | Outcome::Failed(error) = &outcome {
                tracing::info!(delivery = delivery.id, attempt = delivery.attempt, %error,
                    "notification delivery failed");
            }
            if let Err(error) = outbox::record(&deliverer.pool, delivery, &outcome, &retry).await {
                tracing::warn!(%error, delivery = delivery.id,
                    "notifications: cannot record an attempt; the lease will expire and retry");
            }
        });
        futures_util::future::join_all(attempts).await;
    }
}
