//! `GET /ws`: live table state for screens.
//!
//! A client first gets a snapshot (or, reconnecting with `?since=SEQ`, what it missed from the event
//! log), then one message per change. It subscribes to the hub *before* reading the log, so a view
//! committed while the log is read arrives through the hub and nothing falls in between; views the
//! log already delivered are skipped by seq.
//!
//! Each client runs in its own task and only ever reads from its own conflated hub queue, so a slow
//! or dead screen costs one view per table and cannot hold up the writer or other screens. A send
//! that takes longer than [`SEND_TIMEOUT`] makes the client's next message a fresh snapshot.
//!
//! What a screen that never reads can make the agent hold is bounded: a log replay is sent one
//! message at a time, within [`SINCE_LIMIT`] views and [`SINCE_BYTES`] reserved from the hub's
//! replay budget (beyond either, or with the budget held by other replays, a fresh snapshot);
//! tungstenite's buffers are small and the kernel's send buffer is fixed
//! ([`SOCKET_SEND_BUFFER`]); three stalled sends in a row end the connection, which frees it all.
//!
//! While a client's task has nothing of its own to write, it hands the socket to the direct
//! writers ([`direct`], when switched on) and sleeps until the screen sends something, a ping is
//! due, or the hub needs it (a socket that would block, a snapshot, shutdown). At the top of the
//! client's loop the task always holds the socket; every branch takes it back before writing.

mod direct;
mod frame;

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{ConnectInfo, Query, State};
use axum::response::Response;
use futures_util::{FutureExt, SinkExt};
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio::sync::broadcast;
use tokio::time::{Instant, MissedTickBehavior, interval_at, timeout};

use super::AppState;
use super::error::ApiError;
use super::socket::Socket;
use crate::hub::{
    Admission, Full, MAX_SCREENS, MAX_SCREENS_PER_ADDRESS, Next, Outlet, Subscription,
};
use crate::metrics::Metrics;
use crate::store::Since;
use crate::view::{Published, update_message};
use direct::DirectSocket;

pub(crate) use direct::spawn_writers as spawn_direct_writers;

/// A send slower than this marks the client as stalled: it gets a fresh snapshot next.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(2);
/// A client stalled this many times in a row is disconnected (it reconnects with `?since=`).
const MAX_STALLS: u32 = 3;
/// How often the server pings.
const PING_EVERY: Duration = Duration::from_secs(20);
/// A client not heard from (pongs included) for this long is disconnected.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// At most this many logged views are replayed to a reconnecting client; beyond, it gets a snapshot.
const SINCE_LIMIT: usize = 2_000;
/// At most this many bytes of logged views are replayed to a reconnecting client; beyond, it gets
/// a snapshot. Reserved from the hub's replay budget ([`crate::hub::REPLAY_BUDGET`]) for the
/// replay's time: with none left, the client gets a snapshot too.
pub(crate) const SINCE_BYTES: usize = 512 * 1024;
/// Largest message a client may send (they only send pings).
const MAX_CLIENT_MESSAGE: usize = 4 * 1024;
/// At most this many tables in `?tables=`.
const MAX_FILTER_TABLES: usize = 256;
/// The kernel's send buffer asked for a screen's socket. Left to itself, Linux grows a socket's
/// send buffer up to megabytes for a client that does not read (memory the kernel holds for us);
/// this is dozens of updates or a venue's snapshot, and a screen that reads keeps it empty.
const SOCKET_SEND_BUFFER: usize = 64 * 1024;

/// `/ws` query parameters.
#[derive(Debug, Deserialize)]
pub(crate) struct WsQuery {
    /// Comma-separated table ids; absent or empty = every table.
    tables: Option<String>,
    /// The last seq the client saw.
    since: Option<u64>,
    /// Also send camera position frames (`positions=true`; stream overlays). Off by default: they
    /// arrive up to 30 times a second per table and scoreboards do not draw them.
    #[serde(default)]
    positions: bool,
}

/// `GET /ws`.
pub(crate) async fn upgrade(
    State(state): State<AppState>,
    query: Result<Query<WsQuery>, QueryRejection>,
    socket: Option<Extension<ConnectInfo<Socket>>>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let tables = parse_tables(query.tables.as_deref())?;
    let (since, positions) = (query.since, query.positions);
    // Counted from before the upgrade until the connection ends.
    let address = (socket.as_ref())
        .and_then(|Extension(ConnectInfo(Socket(stream)))| stream.peer_addr().ok())
        .map(|addr| addr.ip().to_canonical())
        .filter(|ip| *ip != Ipv4Addr::LOCALHOST && *ip != Ipv6Addr::LOCALHOST)
        .map(|ip| super::auth::address_key(Some(ip)));
    let admission = state.hub.admit(address).map_err(|full| match full {
        Full::Agent => ApiError::Unavailable(format!(
            "{MAX_SCREENS} screens are connected: try again later"
        )),
        Full::Address => ApiError::TooManyRequests {
            message: format!(
                "{MAX_SCREENS_PER_ADDRESS} screens are connected from this address already"
            ),
            retry_after_s: 5,
        },
    })?;
    if let Some(Extension(ConnectInfo(Socket(stream)))) = &socket
        && let Err(error) =
            socket2::SockRef::from(&**stream).set_send_buffer_size(SOCKET_SEND_BUFFER)
    {
        tracing::debug!(%error, "cannot size a screen's send buffer");
    }
    // Without direct writers (`--ws-direct-writes off`) the task keeps its socket to itself.
    let direct_writes = state.hub.has_courier();
    // Small socket buffers: a venue has hundreds of screens that mostly listen, and tungstenite's
    // defaults (128 KiB each way) cost more memory per screen than the agent's whole state. The
    // read buffer is smaller still: screens only send pings, and tungstenite zero-fills the whole
    // read buffer before each read attempt, which the loop below makes once per update sent.
    Ok(ws
        .read_buffer_size(512)
        .write_buffer_size(16 * 1024)
        .max_message_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |ws| {
            let direct = (socket.filter(|_| direct_writes))
                .map(|Extension(ConnectInfo(Socket(stream)))| DirectSocket::new(stream));
            serve_client(ws, direct, state, tables, since, positions, admission)
        }))
}

fn parse_tables(tables: Option<&str>) -> Result<Option<HashSet<String>>, ApiError> {
    let Some(tables) = tables else {
        return Ok(None);
    };
    let set: HashSet<String> = tables
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    if set.len() > MAX_FILTER_TABLES || set.iter().any(|t| t.len() > 64) {
        return Err(ApiError::BadRequest(format!(
            "tables: at most {MAX_FILTER_TABLES} table ids of at most 64 characters"
        )));
    }
    Ok((!set.is_empty()).then_some(set))
}

/// `{"type":"snapshot","seq":S,"tables":[...]}`, S = the newest seq among the views (0 if none).
pub(crate) fn snapshot_message(views: &[Published]) -> String {
    let seq = views.iter().map(Published::seq).max().unwrap_or(0);
    let mut message =
        String::with_capacity(48 + views.iter().map(|v| v.json.len() + 1).sum::<usize>());
    message.push_str(r#"{"type":"snapshot","seq":"#);
    message.push_str(&seq.to_string());
    message.push_str(r#","tables":["#);
    for (i, view) in views.iter().enumerate() {
        if i > 0 {
            message.push(',');
        }
        message.push_str(&view.json);
    }
    message.push_str("]}");
    message
}

/// What a client may send: `{"type":"ping"}`; anything else is ignored.
#[derive(Deserialize)]
struct ClientMessage {
    #[serde(rename = "type")]
    kind: String,
}

/// The part of a logged view needed to forward it.
#[derive(Deserialize)]
struct ViewHead {
    table: String,
    seq: u64,
}

/// Why a client's connection ended (for the debug log).
#[derive(Debug)]
enum End {
    ClientLeft,
    Shutdown,
    Stalled,
    Idle,
    Socket(axum::Error),
}

struct Connection {
    socket: WebSocket,
    /// The same socket under the WebSocket layers, for the direct writers; `None` when they are
    /// off or the router is served without [`Socket`] connection info.
    direct: Option<Arc<DirectSocket<Arc<TcpStream>>>>,
    /// Everything the task wrote is flushed: it may hand the socket over.
    clean: bool,
    /// The rest of a frame the direct writer could write only in part: it goes out before anything
    /// else, tungstenite's own writes included.
    unsent: Vec<u8>,
    metrics: Arc<Metrics>,
    /// The newest seq sent per table, to skip what the log replay already delivered.
    sent: HashMap<String, u64>,
    /// Sends in a row that hit [`SEND_TIMEOUT`].
    stalls: u32,
}

/// Decrements the client gauge however the connection ends.
struct ClientCount(Arc<Metrics>);

impl Drop for ClientCount {
    fn drop(&mut self) {
        self.0.ws_clients(-1);
    }
}

async fn serve_client(
    socket: WebSocket,
    direct: Option<Arc<DirectSocket<Arc<TcpStream>>>>,
    state: AppState,
    tables: Option<HashSet<String>>,
    since: Option<u64>,
    positions: bool,
    _admission: Admission,
) {
    state.metrics.ws_clients(1);
    let _count = ClientCount(state.metrics.clone());
    let mut connection = Connection {
        socket,
        direct,
        clean: true,
        unsent: Vec::new(),
        metrics: state.metrics.clone(),
        sent: HashMap::new(),
        stalls: 0,
    };
    let end = match connection.run(&state, tables, since, positions).await {
        Ok(end) | Err(end) => end,
    };
    match end {
        End::Socket(error) => tracing::debug!(%error, "websocket client disconnected"),
        end => tracing::debug!(?end, "websocket client disconnected"),
    }
}

impl Connection {
    async fn run(
        &mut self,
        state: &AppState,
        tables: Option<HashSet<String>>,
        since: Option<u64>,
        positions: bool,
    ) -> Result<End, End> {
        // Notices (announcements, requests to undo, players' messages) come on a channel of their
        // own beside the hub's; subscribed before the ones up now are read, so none is missed.
        let mut notices = state.notices.subscribe();
        let mut notices_open = true;
        let notice_tables = tables.clone();
        // Subscribe first: from here on every commit reaches `subscription`.
        let outlet = (self.direct.clone()).map(|d| d as Arc<dyn Outlet>);
        let (snapshot, mut subscription) = state.hub.subscribe(tables.clone(), positions, outlet);
        let snapshot_seq = snapshot.iter().map(Published::seq).max().unwrap_or(0);
        match since {
            Some(since) if since > 0 && since < snapshot_seq => {
                let outcome = self.replay(state, since, tables).await?;
                state.metrics.ws_replay(outcome);
                if outcome != "replayed" {
                    self.send_snapshot(&snapshot, &subscription).await?;
                }
            }
            // Up to date: nothing committed for these tables after `since`.
            Some(since) if since > 0 && since == snapshot_seq => {
                self.remember(&snapshot);
            }
            _ => self.send_snapshot(&snapshot, &subscription).await?,
        }
        drop(snapshot);
        for notice in state.notices.active(crate::clock::now_ms()) {
            if notice.for_tables(notice_tables.as_ref()) {
                self.send(notice.json.to_string(), &subscription).await?;
            }
        }

        let mut ping = interval_at(Instant::now() + PING_EVERY, PING_EVERY);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_heard = Instant::now();
        loop {
            // The task holds the socket here. Read what already arrived without waiting (reads can
            // write: tungstenite answers pings and closes), then, with nothing of its own left to
            // write, hand the socket to the direct writer.
            let mut heard = false;
            while self.unsent.is_empty()
                && let Some(incoming) = self.socket.recv().now_or_never()
            {
                heard = true;
                if let Some(end) = self.incoming(incoming, &subscription).await? {
                    return Ok(end);
                }
            }
            if heard {
                last_heard = Instant::now();
                // tungstenite answers a ping or a close on the next write or flush.
                let flushed = timeout(SEND_TIMEOUT, self.socket.flush()).await;
                self.stalled(flushed, &subscription)?;
            }
            let direct =
                self.clean && self.unsent.is_empty() && subscription.hand_over(self.newest_sent());
            tokio::select! {
                next = subscription.next() => {
                    self.take_back(&subscription);
                    self.forward(next, &subscription).await?;
                }
                incoming = self.socket.recv(), if !direct && self.unsent.is_empty() => {
                    last_heard = Instant::now();
                    if let Some(end) = self.incoming(incoming, &subscription).await? {
                        return Ok(end);
                    }
                }
                // The screen sent something: take the socket back, write what the direct writer
                // left of a frame, and the loop's top reads.
                () = readable(self.direct.as_ref().filter(|_| direct)) => {
                    self.take_back(&subscription);
                    let written = timeout(SEND_TIMEOUT, self.write(Vec::new())).await;
                    self.stalled(written, &subscription)?;
                }
                notice = notices.recv(), if notices_open => {
                    // The loop's top must hold the socket, whatever the notice.
                    self.take_back(&subscription);
                    match notice {
                        Ok(notice) if notice.for_tables(notice_tables.as_ref()) => {
                            self.send(notice.json.to_string(), &subscription).await?;
                        }
                        Ok(_) => {}
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            tracing::debug!(missed, "a screen fell behind on notices");
                        }
                        Err(broadcast::error::RecvError::Closed) => notices_open = false,
                    }
                }
                _ = ping.tick() => {
                    self.take_back(&subscription);
                    if last_heard.elapsed() > IDLE_TIMEOUT {
                        self.close(close_code::POLICY, "no pong").await;
                        return Err(End::Idle);
                    }
                    self.send_message(Message::Ping(Bytes::new()), &subscription).await?;
                }
            }
        }
    }

    /// What the screen sent: `Some` ends the connection.
    async fn incoming(
        &mut self,
        incoming: Option<Result<Message, axum::Error>>,
        subscription: &Subscription,
    ) -> Result<Option<End>, End> {
        match incoming {
            None | Some(Ok(Message::Close(_))) => return Ok(Some(End::ClientLeft)),
            Some(Err(error)) => return Err(End::Socket(error)),
            Some(Ok(Message::Text(text))) => {
                let ping = serde_json::from_str::<ClientMessage>(text.as_str())
                    .is_ok_and(|m| m.kind == "ping");
                if ping {
                    self.send(r#"{"type":"pong"}"#.to_owned(), subscription)
                        .await?;
                }
            }
            Some(Ok(_)) => {}
        }
        Ok(None)
    }

    /// Takes the socket back from the direct writer, with what it left of a frame.
    fn take_back(&mut self, subscription: &Subscription) {
        subscription.take_back();
        if let Some(direct) = &self.direct {
            direct.take_unsent(&mut self.unsent);
        }
    }

    /// The newest seq this task has sent (the direct writer only sends newer views).
    fn newest_sent(&self) -> u64 {
        self.sent.values().copied().max().unwrap_or(0)
    }

    /// Sends what the client missed since `since` from the log, one message at a time, within
    /// [`SINCE_LIMIT`] views and [`SINCE_BYTES`] reserved from the hub's replay budget. The outcome,
    /// as counted: `replayed`, or why a snapshot must be sent instead (`busy`: the budget is held
    /// by other replays; `too_far_behind`; `too_large`; `unreadable`).
    async fn replay(
        &mut self,
        state: &AppState,
        since: u64,
        tables: Option<HashSet<String>>,
    ) -> Result<&'static str, End> {
        let Some(permit) = state.hub.reserve_replay(SINCE_BYTES) else {
            return Ok("busy");
        };
        let reader = state.reader.clone();
        let filter: Option<Vec<String>> = tables.as_ref().map(|t| {
            let mut t: Vec<String> = t.iter().cloned().collect();
            t.sort();
            t
        });
        let max_bytes = permit.bytes();
        let found = tokio::task::spawn_blocking(move || {
            reader.since(since, filter.as_deref(), SINCE_LIMIT, max_bytes)
        })
        .await;
        let views = match found {
            Ok(Ok(Since::Views(views))) => views,
            Ok(Ok(Since::TooFarBehind)) => return Ok("too_far_behind"),
            Ok(Ok(Since::TooLarge)) => return Ok("too_large"),
            Ok(Err(error)) => {
                tracing::warn!(%error, since, "cannot read the log for a reconnecting client");
                return Ok("unreadable");
            }
            Err(error) => {
                tracing::warn!(%error, since, "log reader task failed");
                return Ok("unreadable");
            }
        };
        // One message at a time: a replay holds its views (within the permit) and one message.
        for json in views {
            match replay_message(since, &json, tables.as_ref(), &mut self.sent) {
                Ok(Some(message)) => self.send_text(message).await?,
                Ok(None) => {}
                Err(()) => {
                    // What was sent is replaced by the snapshot that follows.
                    tracing::warn!(
                        since,
                        "unreadable view in the log; sending a snapshot instead"
                    );
                    return Ok("unreadable");
                }
            }
        }
        drop(permit);
        Ok("replayed")
    }

    async fn forward(&mut self, next: Next, subscription: &Subscription) -> Result<(), End> {
        match next {
            Next::Updates(views) => {
                // Every pending update goes into the socket's buffer, then one flush: one write
                // (syscall) per wake-up instead of one per message.
                let mut messages = Vec::with_capacity(views.len());
                let mut committed = Vec::with_capacity(views.len());
                for view in &views {
                    if self.already_sent(view.table(), view.seq()) {
                        continue;
                    }
                    self.mark_sent(view.table(), view.seq());
                    if let Some(received) = view.received {
                        self.metrics.latency(received.elapsed().as_secs_f64());
                    }
                    committed.extend(view.committed);
                    // The message was built once at commit; every screen shares its bytes.
                    messages.push(Message::Text(view.update.clone()));
                }
                // Stalled (`false`): the rest arrives in the snapshot asked for.
                if self.send_all(messages, subscription).await? {
                    for at in committed {
                        self.metrics.stage_socket(at.elapsed().as_secs_f64());
                    }
                }
            }
            Next::Resnapshot(views) => {
                self.metrics.resnapshot();
                self.send_snapshot(&views, subscription).await?;
            }
            Next::Positions(frames) => {
                for frame in frames {
                    if !self.send(frame.to_string(), subscription).await? {
                        break;
                    }
                }
            }
            Next::Closed => {
                self.close(close_code::AWAY, "the agent is shutting down")
                    .await;
                return Err(End::Shutdown);
            }
        }
        Ok(())
    }

    fn already_sent(&self, table: &str, seq: u64) -> bool {
        already_sent(&self.sent, table, seq)
    }

    /// Records `seq` as the newest sent for `table` (allocating the key only for a new table).
    fn mark_sent(&mut self, table: &str, seq: u64) {
        match self.sent.get_mut(table) {
            Some(newest) => *newest = seq,
            None => {
                self.sent.insert(table.to_owned(), seq);
            }
        }
    }

    fn remember(&mut self, views: &[Published]) {
        self.sent.clear();
        for view in views {
            self.sent.insert(view.table().to_owned(), view.seq());
        }
    }

    async fn send_snapshot(
        &mut self,
        views: &[Published],
        subscription: &Subscription,
    ) -> Result<(), End> {
        // No latency samples here: a snapshot's views may be hours old, and the histogram measures
        // how fast a change reaches a screen.
        self.remember(views);
        self.send(snapshot_message(views), subscription).await?;
        Ok(())
    }

    /// Sends during the log replay, before the client is in the loop; a stall ends the connection.
    async fn send_text(&mut self, text: String) -> Result<(), End> {
        match timeout(SEND_TIMEOUT, self.write(vec![Message::Text(text.into())])).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(End::Socket(error)),
            Err(_) => Err(End::Stalled),
        }
    }

    async fn send(&mut self, text: String, subscription: &Subscription) -> Result<bool, End> {
        self.send_message(Message::Text(text.into()), subscription)
            .await
    }

    /// Feeds every message into the socket, then flushes once; like [`Connection::send_message`]
    /// for the whole batch (`Ok(false)`: stalled, a fresh snapshot comes next).
    async fn send_all(
        &mut self,
        messages: Vec<Message>,
        subscription: &Subscription,
    ) -> Result<bool, End> {
        if messages.is_empty() {
            return Ok(true);
        }
        let sent = timeout(SEND_TIMEOUT, self.write(messages)).await;
        self.stalled(sent, subscription)
    }

    /// Writes what the direct writer left of a frame, then `messages`, then flushes. Cancel-safe:
    /// what is not written yet stays in `unsent` or in tungstenite's buffer.
    async fn write(&mut self, messages: Vec<Message>) -> Result<(), axum::Error> {
        if let Some(direct) = &self.direct {
            direct
                .write_unsent(&mut self.unsent)
                .await
                .map_err(axum::Error::new)?;
        }
        for message in messages {
            self.socket.feed(message).await?;
        }
        self.socket.flush().await
    }

    /// `Ok(false)`: the send stalled and the client will get a fresh snapshot next.
    async fn send_message(
        &mut self,
        message: Message,
        subscription: &Subscription,
    ) -> Result<bool, End> {
        let sent = timeout(SEND_TIMEOUT, self.write(vec![message])).await;
        self.stalled(sent, subscription)
    }

    /// The outcome of a timed send: counts stalls in a row and asks for a fresh snapshot.
    fn stalled(
        &mut self,
        sent: Result<Result<(), axum::Error>, tokio::time::error::Elapsed>,
        subscription: &Subscription,
    ) -> Result<bool, End> {
        match sent {
            Ok(Ok(())) => {
                self.stalls = 0;
                self.clean = true;
                Ok(true)
            }
            Ok(Err(error)) => Err(End::Socket(error)),
            Err(_) => {
                // Part of a message may still sit in tungstenite's buffer.
                self.clean = false;
                self.stalls += 1;
                if self.stalls >= MAX_STALLS {
                    return Err(End::Stalled);
                }
                subscription.request_resnapshot();
                Ok(false)
            }
        }
    }

    async fn close(&mut self, code: u16, reason: &'static str) {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = timeout(SEND_TIMEOUT, self.write(vec![Message::Close(Some(frame))])).await;
    }
}

/// Resolves when `socket` has something to read; never without one.
async fn readable(socket: Option<&Arc<DirectSocket<Arc<TcpStream>>>>) {
    match socket {
        // An error shows on the next read, which this wakes up.
        Some(socket) => socket.readable().await,
        None => std::future::pending().await,
    }
}

fn already_sent(sent: &HashMap<String, u64>, table: &str, seq: u64) -> bool {
    sent.get(table).is_some_and(|&newest| newest >= seq)
}

/// The update message for a view read from the log after `since`, recording it in `sent` so the
/// same view arriving from the hub is skipped; `Ok(None)` if the client does not want it or has it.
/// `Err`: the logged view is unreadable.
fn replay_message(
    since: u64,
    json: &str,
    tables: Option<&HashSet<String>>,
    sent: &mut HashMap<String, u64>,
) -> Result<Option<String>, ()> {
    let head = serde_json::from_str::<ViewHead>(json).map_err(|_| ())?;
    let wanted = tables.is_none_or(|t| t.contains(&head.table));
    if !wanted || head.seq <= since || already_sent(sent, &head.table, head.seq) {
        return Ok(None);
    }
    let message = update_message(head.seq, json);
    sent.insert(head.table, head.seq);
    Ok(Some(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(table: &str, seq: u64) -> Published {
        Published::idle(table, seq)
    }

    #[test]
    fn messages_are_valid_json() {
        let views = [view("t1", 3), view("t2", 7)];
        let snapshot: serde_json::Value =
            serde_json::from_str(&snapshot_message(&views)).expect("snapshot JSON");
        assert_eq!(snapshot["type"], "snapshot");
        assert_eq!(snapshot["seq"], 7);
        assert_eq!(snapshot["tables"][1]["table"], "t2");
        let empty: serde_json::Value =
            serde_json::from_str(&snapshot_message(&[])).expect("empty snapshot JSON");
        assert_eq!(empty["seq"], 0);
        assert_eq!(empty["tables"], serde_json::json!([]));
        let update: serde_json::Value =
            serde_json::from_str(&update_message(3, &views[0].json)).expect("update JSON");
        assert_eq!(update["type"], "update");
        assert_eq!(update["seq"], 3);
        assert_eq!(update["table"]["seq"], 3);
    }

    #[test]
    fn replay_sends_what_was_missed_once() {
        let log: Vec<Arc<str>> = [view("t1", 5), view("t2", 6), view("t1", 7), view("t3", 8)]
            .iter()
            .map(|v| v.json.clone())
            .collect();
        let mut sent = HashMap::new();
        let filter = HashSet::from(["t1".to_owned(), "t2".to_owned()]);
        let mut seqs = Vec::new();
        for json in &log {
            let message = replay_message(5, json, Some(&filter), &mut sent).expect("readable");
            if let Some(message) = message {
                let m: serde_json::Value = serde_json::from_str(&message).expect("JSON");
                seqs.push(m["seq"].as_u64().expect("seq"));
            }
        }
        assert_eq!(seqs, [6, 7]);
        // The hub then delivers t1@7 (committed while the log was read): skipped; t1@9 is new.
        assert!(already_sent(&sent, "t1", 7));
        assert!(!already_sent(&sent, "t1", 9));
        assert!(!already_sent(&sent, "t3", 8));
        assert!(replay_message(0, "{oops", None, &mut sent).is_err());
    }

    #[test]
    fn table_filters() {
        assert_eq!(parse_tables(None).ok(), Some(None));
        assert_eq!(parse_tables(Some("")).ok(), Some(None));
        let set = parse_tables(Some("t1, t2,,t1")).ok().flatten();
        assert_eq!(set, Some(HashSet::from(["t1".to_owned(), "t2".to_owned()])));
        let long = "x".repeat(65);
        assert!(parse_tables(Some(&long)).is_err());
    }
}
