//! After-commit fan-out of table views to WebSocket clients.
//!
//! The store's writer thread calls [`Hub::publish`] with committed views in seq order. `publish` is
//! synchronous and never waits for a client: it records the newest view of each table and drops the
//! view into every interested client's queue, where it *replaces* any older view of the same table
//! (conflation). A client that stops reading therefore costs at most one view per table, and a slow
//! screen can never slow the writer or the other screens.
//!
//! [`Hub::subscribe`] takes the snapshot and registers the client under the same lock `publish`
//! takes, so every view is either in the snapshot or in the queue: there is no gap between them.
//!
//! **Direct writes.** A screen mostly listens, and waking its task to frame and write each update,
//! 500 screens per change, was most of the agent's work on the path to the screens. So a client
//! whose task has nothing left to write hands its socket ([`Sink`]) over
//! ([`Subscription::hand_over`]): from then on a direct writer thread ([`Hub::run_direct_writer`],
//! one per core) writes each new update message (built once at commit) behind a frame header
//! straight into the socket, one non-blocking vectored send per client, and the task stays asleep.
//! The writers share one work list and take a few clients at a time from it, so that when one of
//! them loses its core for a while (to the broker, the SQLite writer, anything else on the box)
//! the others write its share instead of the fan-out waiting for it. When
//! a socket would block (a slow screen), or the task has something else to send (a ping, a
//! snapshot, a close), writing goes back to the task ([`Subscription::take_back`]) with whatever
//! the thread could not write, and the task's own timeouts, conflation and fresh snapshots apply
//! as before. Only one side writes at a time, always whole frames in order, so the byte stream
//! stays valid.
//!
//! Each fan-out starts at a random client: with hundreds of screens the last one written to
//! waits milliseconds longer than the first, and that should not always be the same screen.
//!
//! Lock order: the hub's state, then a client's queue, then the direct writers' list. `publish`
//! holds the hub lock for O(clients) work and never awaits or writes to a socket.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io::IoSlice;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::Notify;

use crate::view::Published;

/// After this many views of a table replaced older ones in a client's queue since it last read, the
/// client is treated as stalled and gets a fresh snapshot instead of its queue.
const CONFLATION_LIMIT: u32 = 1024;

/// The fan-out point. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Hub {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<HubState>,
    /// How many direct writer threads the hub takes.
    writers: usize,
    /// Clients with updates for the direct writers, in the order they are to be written.
    direct: Mutex<DirectList>,
    /// Signals the writers: clients in `direct`, or the hub closed.
    ready: Condvar,
}

impl Default for Inner {
    fn default() -> Inner {
        // Writes to loopback or LAN sockets are kernel work that runs in parallel: one writer per
        // core finishes a fan-out to hundreds of screens that many times sooner.
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Inner {
            state: Mutex::default(),
            writers: cores.clamp(1, MAX_WRITERS),
            direct: Mutex::default(),
            ready: Condvar::new(),
        }
    }
}

/// At most this many direct writer threads.
const MAX_WRITERS: usize = 4;

/// A direct writer takes this many clients from the list at a time: a few tens of microseconds
/// of writes, so a writer that loses its core holds back only that many screens.
const CHUNK: usize = 8;

#[derive(Debug, Default)]
struct DirectList {
    clients: VecDeque<Arc<Client>>,
    /// Direct writers running: clients may hand their sockets over while there is one.
    running: usize,
    closed: bool,
}

#[derive(Debug, Default)]
struct HubState {
    /// The newest committed view of every table.
    latest: BTreeMap<String, Published>,
    /// Connected clients by id.
    clients: HashMap<u64, Arc<Client>>,
    /// The same clients by what they follow, so that `publish` visits only the clients that want a
    /// view instead of asking each of hundreds (a lookup in each client's own table set was most
    /// of its time: a cache miss per client).
    followers: HashMap<String, Vec<Arc<Client>>>,
    /// The clients that follow every table.
    everywhere: Vec<Arc<Client>>,
    /// The clients among them that asked for camera positions: frames arrive up to 30 a second a
    /// table and usually nobody wants them, so they do not walk every client.
    overlays: HashMap<u64, Arc<Client>>,
    next_id: u64,
    closed: bool,
}

/// A client's socket as the direct writer thread sees it.
pub trait Sink: Send + Sync + std::fmt::Debug {
    /// Writes as much of `bufs` as the socket takes now, without waiting; `WouldBlock` if nothing.
    fn try_write(&self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize>;
}

/// One client's side of the queue, shared between the hub and its [`Subscription`].
#[derive(Debug)]
struct Client {
    /// Tables this client follows; `None` = all.
    filter: Option<HashSet<String>>,
    queue: Mutex<Queue>,
    wake: Notify,
    /// Its socket, for direct writes while the task has handed it over.
    sink: Option<Arc<dyn Sink>>,
    /// Signalled when a direct write ends (`Queue::writing`), for a task taking the socket back.
    written: Condvar,
}

#[derive(Debug, Default)]
struct Queue {
    /// The newest unsent view per table, at most one per table. A list, not a map: it holds one
    /// or two tables between reads (a handful in a burst), and publishing to hundreds of clients
    /// then costs no key allocation per client.
    views: Vec<Published>,
    /// The newest unsent positions frame per table.
    positions: HashMap<String, Arc<str>>,
    /// Views replaced before the client read them, since its last read.
    conflated: u32,
    /// The client must get a fresh snapshot next.
    resnapshot: bool,
    closed: bool,
    /// The direct writer thread writes this client's updates (the task handed its socket over).
    direct: bool,
    /// The newest seq the client has been sent. The direct writer only sends views newer than
    /// this; an older one (a view the task's log replay already sent) goes back to the task,
    /// which skips it.
    sent_up_to: u64,
    /// The rest of a frame the direct writer could write only in part: the task writes it first.
    unsent: Option<Vec<u8>>,
    /// On the direct writers' list already.
    listed: bool,
    /// A direct writer is writing to the socket now, without holding this queue's lock (so
    /// `publish` never waits for a socket): nobody else may write until it is done.
    writing: bool,
    /// The task waits on `Client::written` for that write to end (a notification is a syscall,
    /// so the writer only makes it when someone waits).
    awaited: bool,
}

impl Queue {
    /// Queues `published`, replacing the queued view of its table if there is one (`true`).
    fn replace_or_push(&mut self, published: Published) -> bool {
        match self
            .views
            .iter_mut()
            .find(|queued| queued.table() == published.table())
        {
            Some(queued) => {
                *queued = published;
                true
            }
            None => {
                self.views.push(published);
                false
            }
        }
    }
}

impl Client {
    fn wants(&self, table: &str) -> bool {
        self.filter.as_ref().is_none_or(|f| f.contains(table))
    }
}

/// One client's queue. Dropping it unregisters the client.
#[derive(Debug)]
pub struct Subscription {
    id: u64,
    client: Arc<Client>,
    hub: Hub,
}

/// What a subscription yields next.
#[derive(Debug)]
pub enum Next {
    /// Newest views of the tables that changed, in seq order.
    Updates(Vec<Published>),
    /// The client fell behind: a fresh snapshot replaces its queue.
    Resnapshot(Vec<Published>),
    /// Non-durable camera positions (`{"type":"positions",...}` JSON), newest per table.
    Positions(Vec<Arc<str>>),
    /// The hub is shutting down.
    Closed,
}

/// A poisoned lock only means another thread panicked while holding it; the maps stay usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Hub {
        Hub::default()
    }

    /// Records committed views and queues them for every client.
    pub fn publish(&self, batch: &[Published]) {
        if batch.is_empty() {
            return;
        }
        // A group commit can hold thousands of views of a few tables; clients only ever get the
        // newest of each, so reduce first: the fan-out below is then O(tables × clients), not
        // O(views × clients), and a burst is not mistaken for a stalled client.
        let mut newest: HashMap<&str, &Published> = HashMap::new();
        for published in batch {
            newest.insert(published.table(), published);
        }
        let mut state = lock(&self.inner.state);
        for published in newest.values() {
            state
                .latest
                .insert(published.table().to_owned(), (*published).clone());
        }
        let mut direct = Vec::new();
        for published in newest.values() {
            let followers = state.followers.get(published.table()).into_iter().flatten();
            let wanted = state.everywhere.iter().chain(followers);
            // Clients are visited, and then written to, in this order: it starts somewhere else
            // each time, so that no screen is always the last to hear (nor the first).
            let count = wanted.clone().count();
            let start = rand::random_range(0..count.max(1));
            for client in wanted.cycle().skip(start).take(count) {
                let mut queue = lock(&client.queue);
                if queue.replace_or_push((*published).clone()) {
                    queue.conflated = queue.conflated.saturating_add(1);
                    if queue.conflated >= CONFLATION_LIMIT {
                        queue.resnapshot = true;
                    }
                }
                if queue.direct && !queue.resnapshot {
                    if !queue.listed {
                        queue.listed = true;
                        direct.push(client.clone());
                    }
                } else {
                    drop(queue);
                    client.wake.notify_one();
                }
            }
        }
        drop(state);
        if !direct.is_empty() {
            let wake_all = direct.len() > CHUNK;
            lock(&self.inner.direct).clients.extend(direct);
            if wake_all {
                self.inner.ready.notify_all();
            } else {
                self.inner.ready.notify_one();
            }
        }
    }

    /// How many direct writers the hub takes: run [`Hub::run_direct_writer`] on that many threads.
    pub fn direct_writers(&self) -> usize {
        self.inner.writers
    }

    /// A direct writer: writes the queued updates of the clients that handed their sockets over,
    /// until the hub closes or is dropped. Runs on a thread of its own; `sent` is called for each
    /// view written to a client, after the write. Without a writer, clients never hand over.
    pub fn run_direct_writer(self, mut sent: impl FnMut(&Published)) {
        lock(&self.inner.direct).running += 1;
        // Holds the hub only while writing, so that dropping it ends the thread.
        let running = Running(Arc::downgrade(&self.inner));
        drop(self);
        let (mut scratch, mut clients) = (Scratch::default(), Vec::with_capacity(CHUNK));
        while next_direct(&running.0, &mut clients) {
            for client in clients.drain(..) {
                write_direct(&client, &mut scratch, &mut sent);
            }
        }
    }

    /// Non-durable camera positions for a table (`{"type":"positions",...}` JSON), passed through to
    /// the clients following `table`; only the newest frame per table waits in a queue.
    pub fn positions(&self, table: &str, json: String) {
        let json: Arc<str> = json.into();
        let state = lock(&self.inner.state);
        for client in state.overlays.values().filter(|c| c.wants(table)) {
            lock(&client.queue)
                .positions
                .insert(table.to_owned(), json.clone());
            client.wake.notify_one();
        }
    }

    /// The newest view of every table, sorted by table.
    pub fn latest(&self) -> Vec<Published> {
        lock(&self.inner.state).latest.values().cloned().collect()
    }

    /// The newest view of one table.
    pub fn get(&self, table: &str) -> Option<Published> {
        lock(&self.inner.state).latest.get(table).cloned()
    }

    /// Snapshot + subscription with no gap between them; `tables` filters, `None` = all;
    /// `positions` adds the camera position frames (up to 30 a second a table). The snapshot is
    /// sorted by table.
    /// `sink` is the client's socket, for direct writes once the client hands it over.
    pub fn subscribe(
        &self,
        tables: Option<HashSet<String>>,
        positions: bool,
        sink: Option<Arc<dyn Sink>>,
    ) -> (Vec<Published>, Subscription) {
        let mut state = lock(&self.inner.state);
        let snapshot = snapshot_of(&state, tables.as_ref());
        let client = Arc::new(Client {
            filter: tables,
            queue: Mutex::new(Queue {
                closed: state.closed,
                ..Queue::default()
            }),
            wake: Notify::new(),
            sink,
            written: Condvar::new(),
        });
        let id = state.next_id;
        state.next_id += 1;
        if !state.closed {
            state.clients.insert(id, client.clone());
            match &client.filter {
                None => state.everywhere.push(client.clone()),
                Some(tables) => {
                    for table in tables {
                        let followers = state.followers.entry(table.clone()).or_default();
                        followers.push(client.clone());
                    }
                }
            }
            if positions {
                state.overlays.insert(id, client.clone());
            }
        }
        drop(state);
        let subscription = Subscription {
            id,
            client,
            hub: self.clone(),
        };
        (snapshot, subscription)
    }

    /// Shuts the hub: every subscription (present and future) yields [`Next::Closed`]. Views
    /// published afterwards still update [`Hub::latest`].
    pub fn close(&self) {
        let mut state = lock(&self.inner.state);
        state.closed = true;
        state.overlays.clear();
        state.followers.clear();
        state.everywhere.clear();
        for (_, client) in state.clients.drain() {
            lock(&client.queue).closed = true;
            client.wake.notify_one();
        }
        drop(state);
        lock(&self.inner.direct).closed = true;
        self.inner.ready.notify_all();
    }

    /// Connected clients.
    pub fn clients(&self) -> usize {
        lock(&self.inner.state).clients.len()
    }
}

fn snapshot_of(state: &HubState, tables: Option<&HashSet<String>>) -> Vec<Published> {
    match tables {
        None => state.latest.values().cloned().collect(),
        Some(tables) => state
            .latest
            .iter()
            .filter(|(table, _)| tables.contains(*table))
            .map(|(_, published)| published.clone())
            .collect(),
    }
}

/// A running direct writer, counted out of `DirectList::running` when it stops, even by a panic:
/// with no writer left, clients keep writing through their tasks.
struct Running(Weak<Inner>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(inner) = self.0.upgrade() {
            lock(&inner.direct).running -= 1;
        }
    }
}

/// Moves the next few clients with work for a direct writer into `clients`; `false` once the hub
/// is closed or dropped.
fn next_direct(hub: &Weak<Inner>, clients: &mut Vec<Arc<Client>>) -> bool {
    loop {
        let Some(inner) = hub.upgrade() else {
            return false;
        };
        let mut list = lock(&inner.direct);
        if list.closed {
            return false;
        }
        if !list.clients.is_empty() {
            let take = list.clients.len().min(CHUNK);
            clients.extend(list.clients.drain(..take));
            return true;
        }
        // Wakes up now and then without work to notice a dropped hub (in-process tests).
        drop(inner.ready.wait_timeout(list, Duration::from_secs(1)));
    }
}

/// A direct writer's reusable buffers.
#[derive(Default)]
struct Scratch {
    views: Vec<Published>,
    headers: Vec<FrameHeader>,
}

/// Writes `client`'s queued views to its socket as WebSocket text frames in one vectored send, with
/// the queue unlocked meanwhile (`Queue::writing` keeps the task and the other writers off the
/// socket). What the socket does not take goes back to the task, which then owns the socket again.
fn write_direct(client: &Client, scratch: &mut Scratch, sent: &mut impl FnMut(&Published)) {
    let mut queue = lock(&client.queue);
    queue.listed = false;
    let Some(sink) = client.sink.as_ref() else {
        return;
    };
    // Another writer is writing to this client: it takes these views too when it is done.
    if queue.writing {
        return;
    }
    loop {
        if !queue.direct || queue.closed || queue.resnapshot {
            return;
        }
        queue.views.sort_by_key(Published::seq);
        let Some(first) = queue.views.first() else {
            return;
        };
        // A view the client may have had already (from the task's log replay) is the task's to
        // skip.
        if first.seq() <= queue.sent_up_to {
            return give_back(client, queue);
        }
        queue.conflated = 0;
        queue.writing = true;
        let views = &mut scratch.views;
        std::mem::swap(&mut queue.views, views);
        drop(queue);

        let headers = &mut scratch.headers;
        headers.clear();
        headers.extend(views.iter().map(|v| FrameHeader::text(v.update.len())));
        let bufs: Vec<IoSlice<'_>> = (views.iter().zip(headers.iter()))
            .flat_map(|(v, h)| [IoSlice::new(h.bytes()), IoSlice::new(v.update.as_bytes())])
            .collect();
        // Would block, or the socket failed: the task finds out which on its own write.
        let mut written = sink.try_write(&bufs).unwrap_or(0);
        drop(bufs);

        queue = lock(&client.queue);
        queue.writing = false;
        if queue.awaited {
            client.written.notify_all();
        }
        let mut done = 0;
        for (view, header) in views.iter().zip(headers.iter()) {
            if written == 0 {
                break;
            }
            let len = header.bytes().len() + view.update.len();
            if written < len {
                // Part of this frame is on the wire: the rest must follow before anything else.
                let mut unsent = header.bytes().get(written..).unwrap_or_default().to_vec();
                let body = written.saturating_sub(header.bytes().len());
                unsent.extend_from_slice(view.update.as_bytes().get(body..).unwrap_or_default());
                queue.unsent = Some(unsent);
                written = 0;
            } else {
                written -= len;
            }
            sent(view);
            queue.sent_up_to = view.seq();
            done += 1;
        }
        views.drain(..done);
        if views.is_empty() && queue.unsent.is_none() {
            // All written. Views published meanwhile are on the list again, unless another
            // writer took the client off it while this one wrote: then they are this one's.
            if queue.listed {
                return;
            }
            continue;
        }
        // The rest goes back to the queue, unless a newer view of its table arrived meanwhile.
        for view in views.drain(..) {
            if !queue.views.iter().any(|q| q.table() == view.table()) {
                queue.views.push(view);
            }
        }
        if queue.direct {
            give_back(client, queue);
        }
        return;
    }
}

/// Hands the socket back to the client's task, which has something to write.
fn give_back(client: &Client, mut queue: MutexGuard<'_, Queue>) {
    queue.direct = false;
    drop(queue);
    client.wake.notify_one();
}

/// A server's WebSocket frame header for an unfragmented text message (RFC 6455 §5.2: FIN and
/// opcode 1, no mask, the payload length in 1, 3 or 9 bytes).
struct FrameHeader {
    bytes: [u8; 10],
    len: usize,
}

impl FrameHeader {
    fn text(payload: usize) -> FrameHeader {
        let mut bytes = [0u8; 10];
        bytes[0] = 0x81;
        let len = if payload < 126 {
            bytes[1] = payload as u8;
            2
        } else if let Ok(short) = u16::try_from(payload) {
            bytes[1] = 126;
            bytes[2..4].copy_from_slice(&short.to_be_bytes());
            4
        } else {
            bytes[1] = 127;
            bytes[2..10].copy_from_slice(&(payload as u64).to_be_bytes());
            10
        };
        FrameHeader { bytes, len }
    }

    fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl Subscription {
    /// Waits for the next updates. Cancel-safe: nothing is lost if the future is dropped.
    pub async fn next(&mut self) -> Next {
        loop {
            if let Some(next) = self.try_next() {
                return next;
            }
            // `notify_one` stores a permit when nobody waits, so a publish between `try_next` and
            // here still wakes us.
            self.client.wake.notified().await;
        }
    }

    /// What is queued now, if anything.
    pub fn try_next(&mut self) -> Option<Next> {
        let mut queue = lock(&self.client.queue);
        if queue.closed {
            return Some(Next::Closed);
        }
        // Whatever the task takes from here it writes itself, so the direct writer stops: it must
        // not write a newer view before the task's.
        if queue.resnapshot {
            queue.direct = false;
            drop(queue);
            return Some(Next::Resnapshot(self.take_snapshot()));
        }
        if !queue.views.is_empty() {
            queue.direct = false;
            let mut views = std::mem::take(&mut queue.views);
            views.sort_by_key(Published::seq);
            queue.conflated = 0;
            return Some(Next::Updates(views));
        }
        if !queue.positions.is_empty() {
            queue.direct = false;
            return Some(Next::Positions(
                queue.positions.drain().map(|(_, p)| p).collect(),
            ));
        }
        None
    }

    /// Hands the socket to the direct writer if nothing is queued for the task (`true`); the task
    /// has sent everything up to seq `sent_up_to` and its own writes are flushed. `false`: there is
    /// work for the task ([`Subscription::next`] has it), or no direct writer runs or the client
    /// has no [`Sink`].
    pub fn hand_over(&self, sent_up_to: u64) -> bool {
        let running = lock(&self.hub.inner.direct).running > 0;
        if self.client.sink.is_none() || !running {
            return false;
        }
        let mut queue = lock(&self.client.queue);
        if queue.closed
            || queue.resnapshot
            || !queue.views.is_empty()
            || !queue.positions.is_empty()
        {
            return false;
        }
        queue.sent_up_to = queue.sent_up_to.max(sent_up_to);
        queue.direct = true;
        true
    }

    /// Takes the socket back from the direct writer before the task writes to it (blocking until a
    /// write in progress ends); returns the part of a frame the writer left unsent, which must go
    /// out first.
    pub fn take_back(&self) -> Option<Vec<u8>> {
        let mut queue = lock(&self.client.queue);
        queue.direct = false;
        // A non-blocking send in progress: microseconds.
        while queue.writing {
            queue.awaited = true;
            queue = (self.client.written.wait(queue))
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        queue.awaited = false;
        queue.unsent.take()
    }

    /// Asks for a fresh snapshot as the next item (the socket stalled, say); it replaces the queue.
    pub fn request_resnapshot(&self) {
        lock(&self.client.queue).resnapshot = true;
    }

    /// Views waiting in the queue (at most one per table).
    pub fn pending(&self) -> usize {
        lock(&self.client.queue).views.len()
    }

    /// Takes the snapshot and empties the queue under the hub lock, so nothing falls between them.
    fn take_snapshot(&self) -> Vec<Published> {
        let state = lock(&self.hub.inner.state);
        let snapshot = snapshot_of(&state, self.client.filter.as_ref());
        let mut queue = lock(&self.client.queue);
        queue.views.clear();
        queue.conflated = 0;
        queue.resnapshot = false;
        snapshot
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut state = lock(&self.hub.inner.state);
        state.clients.remove(&self.id);
        state.overlays.remove(&self.id);
        let this = |c: &Arc<Client>| !Arc::ptr_eq(c, &self.client);
        match &self.client.filter {
            None => state.everywhere.retain(this),
            Some(tables) => {
                for table in tables {
                    if let Some(followers) = state.followers.get_mut(table) {
                        followers.retain(this);
                        if followers.is_empty() {
                            state.followers.remove(table);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    fn view(table: &str, seq: u64) -> Published {
        Published::idle(table, seq)
    }

    fn seqs(views: &[Published]) -> Vec<(String, u64)> {
        views
            .iter()
            .map(|v| (v.table().to_owned(), v.seq()))
            .collect()
    }

    fn updates(next: Option<Next>) -> Vec<(String, u64)> {
        match next {
            Some(Next::Updates(views)) => seqs(&views),
            other => panic!("expected updates, got {other:?}"),
        }
    }

    #[test]
    fn conflation_keeps_only_the_newest_view_per_table() {
        let hub = Hub::new();
        let (snapshot, mut sub) = hub.subscribe(None, true, None);
        assert!(snapshot.is_empty());
        hub.publish(&[view("t1", 1), view("t2", 2)]);
        hub.publish(&[view("t1", 3)]);
        hub.publish(&[view("t1", 4)]);
        assert_eq!(
            updates(sub.try_next()),
            vec![("t2".to_owned(), 2), ("t1".to_owned(), 4)]
        );
        assert!(sub.try_next().is_none());
        assert_eq!(hub.get("t1").map(|v| v.seq()), Some(4));
        assert_eq!(
            seqs(&hub.latest()),
            vec![("t1".to_owned(), 4), ("t2".to_owned(), 2)]
        );
    }

    #[test]
    fn filters_apply_to_snapshot_and_updates() {
        let hub = Hub::new();
        hub.publish(&[view("a", 1), view("b", 2)]);
        let (snapshot, mut sub) = hub.subscribe(Some(HashSet::from(["b".to_owned()])), true, None);
        assert_eq!(seqs(&snapshot), vec![("b".to_owned(), 2)]);
        hub.publish(&[view("a", 3)]);
        assert!(sub.try_next().is_none());
        hub.publish(&[view("b", 4)]);
        assert_eq!(updates(sub.try_next()), vec![("b".to_owned(), 4)]);
    }

    #[test]
    fn a_subscriber_that_never_reads_holds_at_most_one_view_per_table() {
        let hub = Hub::new();
        let (_, sub) = hub.subscribe(None, true, None);
        for seq in 1..=10_000u64 {
            hub.publish(&[view(&format!("t{}", seq % 7), seq)]);
        }
        assert_eq!(sub.pending(), 7);
    }

    #[test]
    fn a_client_conflated_many_times_gets_a_fresh_snapshot() {
        let hub = Hub::new();
        let (_, mut sub) = hub.subscribe(None, true, None);
        for seq in 1..=u64::from(CONFLATION_LIMIT) + 1 {
            hub.publish(&[view("t1", seq)]);
        }
        hub.publish(&[view("t2", 5000)]);
        match sub.try_next() {
            Some(Next::Resnapshot(views)) => assert_eq!(
                seqs(&views),
                vec![
                    ("t1".to_owned(), u64::from(CONFLATION_LIMIT) + 1),
                    ("t2".to_owned(), 5000)
                ]
            ),
            other => panic!("expected a resnapshot, got {other:?}"),
        }
        assert!(sub.try_next().is_none());
        sub.request_resnapshot();
        assert!(matches!(sub.try_next(), Some(Next::Resnapshot(_))));
    }

    #[test]
    fn positions_go_only_to_clients_that_asked() {
        let hub = Hub::new();
        let (_, mut scoreboard) = hub.subscribe(None, false, None);
        hub.positions("t1", r#"{"type":"positions"}"#.to_owned());
        hub.publish(&[view("t1", 1)]);
        match scoreboard.try_next() {
            Some(Next::Updates(views)) => assert_eq!(views.len(), 1),
            other => panic!("expected only the update, got {other:?}"),
        }
        assert!(scoreboard.try_next().is_none());
    }

    #[test]
    fn positions_pass_through_newest_per_table() {
        let hub = Hub::new();
        let (_, mut sub) = hub.subscribe(Some(HashSet::from(["t1".to_owned()])), true, None);
        hub.positions("t1", r#"{"type":"positions","n":1}"#.to_owned());
        hub.positions("t1", r#"{"type":"positions","n":2}"#.to_owned());
        hub.positions("t2", r#"{"type":"positions","n":3}"#.to_owned());
        match sub.try_next() {
            Some(Next::Positions(frames)) => {
                assert_eq!(frames.len(), 1);
                assert_eq!(&*frames[0], r#"{"type":"positions","n":2}"#);
            }
            other => panic!("expected positions, got {other:?}"),
        }
        assert!(hub.latest().is_empty(), "positions are not durable");
    }

    #[test]
    fn dropping_a_subscription_unregisters_it() {
        let hub = Hub::new();
        let (_, sub) = hub.subscribe(None, true, None);
        let tables = HashSet::from(["t1".to_owned(), "t2".to_owned()]);
        let (_, filtered) = hub.subscribe(Some(tables), false, None);
        assert_eq!(hub.clients(), 2);
        drop(sub);
        drop(filtered);
        assert_eq!(hub.clients(), 0);
        let state = lock(&hub.inner.state);
        assert!(state.everywhere.is_empty() && state.followers.is_empty());
        assert!(state.overlays.is_empty());
    }

    #[test]
    fn a_client_following_several_tables_gets_each_once_per_batch() {
        let hub = Hub::new();
        let tables = HashSet::from(["t1".to_owned(), "t2".to_owned()]);
        let (_, mut sub) = hub.subscribe(Some(tables), false, None);
        hub.publish(&[view("t1", 1), view("t3", 2), view("t2", 3), view("t1", 4)]);
        assert_eq!(
            updates(sub.try_next()),
            vec![("t2".to_owned(), 3), ("t1".to_owned(), 4)]
        );
        assert!(sub.try_next().is_none());
    }

    #[tokio::test]
    async fn close_wakes_every_subscription() {
        let hub = Hub::new();
        let (_, mut sub) = hub.subscribe(None, true, None);
        let waiter = tokio::spawn(async move { matches!(sub.next().await, Next::Closed) });
        tokio::task::yield_now().await;
        hub.close();
        assert!(waiter.await.expect("waiter"));
        let (_, mut late) = hub.subscribe(None, true, None);
        assert!(matches!(late.next().await, Next::Closed));
    }

    #[tokio::test]
    async fn next_wakes_on_publish() {
        let hub = Hub::new();
        let (_, mut sub) = hub.subscribe(None, true, None);
        let publisher = hub.clone();
        std::thread::spawn(move || publisher.publish(&[view("t1", 1)]));
        assert_eq!(
            match sub.next().await {
                Next::Updates(views) => seqs(&views),
                other => panic!("expected updates, got {other:?}"),
            },
            vec![("t1".to_owned(), 1)]
        );
    }

    /// A thread publishes seq 1..=N over a few tables while clients subscribe; every client's
    /// snapshot plus the updates it then receives must end at each table's last seq, with every seq
    /// it sees for a table newer than the one before (no gap, no going back).
    #[test]
    fn snapshot_and_subscribe_have_no_gap_under_concurrent_publish() {
        const N: u64 = 20_000;
        const TABLES: u64 = 5;
        let hub = Hub::new();
        let done = Arc::new(AtomicBool::new(false));
        let publisher = {
            let hub = hub.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                for seq in 1..=N {
                    hub.publish(&[view(&format!("t{}", seq % TABLES), seq)]);
                }
                done.store(true, Ordering::SeqCst);
            })
        };
        let mut subscriptions = Vec::new();
        // Few enough clients that publishing stays cheap, spread over the run.
        while !done.load(Ordering::SeqCst) && subscriptions.len() < 200 {
            let (snapshot, sub) = hub.subscribe(None, true, None);
            let mut last: HashMap<String, u64> = HashMap::new();
            for v in &snapshot {
                last.insert(v.table().to_owned(), v.seq());
            }
            subscriptions.push((last, sub));
            std::thread::sleep(std::time::Duration::from_micros(50));
        }
        publisher.join().expect("publisher");
        assert!(!subscriptions.is_empty());
        for (mut last, mut sub) in subscriptions {
            while let Some(next) = sub.try_next() {
                let views = match next {
                    Next::Updates(views) | Next::Resnapshot(views) => views,
                    other => panic!("unexpected {other:?}"),
                };
                for v in views {
                    let previous = last.insert(v.table().to_owned(), v.seq());
                    assert!(previous.is_none_or(|p| p < v.seq()), "went back");
                }
            }
            for t in 0..TABLES {
                let table = format!("t{t}");
                let expected = (1..=N).rev().find(|s| s % TABLES == t);
                assert_eq!(last.get(&table).copied(), expected, "{table}");
            }
        }
    }

    /// A socket that takes at most `room` more bytes, then would block; records what it took.
    struct Wire {
        taken: Mutex<Vec<u8>>,
        room: Mutex<usize>,
        /// Runs inside the next write, as another thread could.
        during: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    }

    impl std::fmt::Debug for Wire {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Wire").finish_non_exhaustive()
        }
    }

    impl Wire {
        fn with_room(room: usize) -> Arc<Wire> {
            Arc::new(Wire {
                taken: Mutex::new(Vec::new()),
                room: Mutex::new(room),
                during: Mutex::new(None),
            })
        }

        /// Every WebSocket message on the wire, decoded the way a client does.
        fn messages(&self) -> Vec<String> {
            use tokio_tungstenite::tungstenite::protocol::{Role, WebSocket};
            let bytes = lock(&self.taken).clone();
            let mut client =
                WebSocket::from_raw_socket(std::io::Cursor::new(bytes), Role::Client, None);
            let mut messages = Vec::new();
            while let Ok(message) = client.read() {
                messages.push(message.into_text().expect("text frame").as_str().to_owned());
            }
            messages
        }

        fn seqs(&self) -> Vec<u64> {
            self.messages()
                .iter()
                .map(|m| {
                    let m: serde_json::Value = serde_json::from_str(m).expect("update JSON");
                    m["seq"].as_u64().expect("seq")
                })
                .collect()
        }
    }

    impl Sink for Wire {
        fn try_write(&self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
            let during = lock(&self.during).take();
            if let Some(during) = during {
                during();
            }
            let mut room = lock(&self.room);
            if *room == 0 {
                return Err(std::io::ErrorKind::WouldBlock.into());
            }
            let mut taken = lock(&self.taken);
            let mut n = 0;
            for buf in bufs {
                let part = &buf[..buf.len().min(*room - n)];
                taken.extend_from_slice(part);
                n += part.len();
            }
            *room -= n;
            Ok(n)
        }
    }

    /// A hub whose direct writers are driven by the test ([`write_listed`]), not by threads.
    fn direct_hub() -> Hub {
        let hub = Hub::new();
        lock(&hub.inner.direct).running = 1;
        hub
    }

    /// What the direct writer threads would do now; returns the seqs reported sent.
    fn write_listed(hub: &Hub) -> Vec<u64> {
        let mut sent = Vec::new();
        let mut scratch = Scratch::default();
        let clients = std::mem::take(&mut lock(&hub.inner.direct).clients);
        for client in clients {
            write_direct(&client, &mut scratch, &mut |v: &Published| {
                sent.push(v.seq());
            });
        }
        sent
    }

    fn subscribe_direct(hub: &Hub, wire: &Arc<Wire>) -> Subscription {
        let (_, sub) = hub.subscribe(None, false, Some(wire.clone() as Arc<dyn Sink>));
        assert!(sub.hand_over(0), "an idle client hands its socket over");
        sub
    }

    #[test]
    fn a_handed_over_client_gets_whole_frames_in_order_without_its_task() {
        let hub = direct_hub();
        let wire = Wire::with_room(usize::MAX);
        let mut sub = subscribe_direct(&hub, &wire);
        hub.publish(&[view("t1", 1)]);
        assert_eq!(write_listed(&hub), [1]);
        hub.publish(&[view("t2", 2), view("t1", 3)]);
        hub.publish(&[view("t2", 4)]);
        // t2@2 was replaced before the writer came round (conflation), as in a task's queue.
        assert_eq!(write_listed(&hub), [3, 4]);
        assert_eq!(wire.seqs(), [1, 3, 4]);
        assert!(sub.try_next().is_none(), "nothing was left for the task");
        assert_eq!(sub.take_back(), None);
    }

    #[test]
    fn a_socket_that_takes_part_of_a_frame_goes_back_to_the_task_with_the_rest() {
        let hub = direct_hub();
        let first = view("t1", 1).update.len() + 2;
        // The first frame and 5 bytes of the second.
        let wire = Wire::with_room(first + 5);
        let mut sub = subscribe_direct(&hub, &wire);
        hub.publish(&[view("t1", 1), view("t2", 2), view("t3", 3)]);
        assert_eq!(write_listed(&hub), [1, 2]);
        let unsent = sub.take_back().expect("the rest of the second frame");
        lock(&wire.taken).extend_from_slice(&unsent);
        assert_eq!(
            wire.seqs(),
            [1, 2],
            "frames are whole once the task writes the rest"
        );
        assert_eq!(updates(sub.try_next()), vec![("t3".to_owned(), 3)]);
        // The task owns the socket now: new views wait for it.
        hub.publish(&[view("t1", 4)]);
        assert!(write_listed(&hub).is_empty());
        assert_eq!(updates(sub.try_next()), vec![("t1".to_owned(), 4)]);
    }

    #[test]
    fn a_socket_that_would_block_leaves_everything_to_the_task() {
        let hub = direct_hub();
        let wire = Wire::with_room(0);
        let mut sub = subscribe_direct(&hub, &wire);
        hub.publish(&[view("t1", 1), view("t2", 2)]);
        assert!(write_listed(&hub).is_empty());
        assert_eq!(sub.take_back(), None);
        assert_eq!(
            updates(sub.try_next()),
            vec![("t1".to_owned(), 1), ("t2".to_owned(), 2)]
        );
        assert!(wire.messages().is_empty());
    }

    #[test]
    fn views_published_during_a_write_wait_and_replace_what_it_could_not_write() {
        let hub = direct_hub();
        let wire = Wire::with_room(0);
        let mut sub = subscribe_direct(&hub, &wire);
        hub.publish(&[view("t1", 1), view("t2", 2)]);
        // The writer holds no lock while it writes: publish goes on, for the next round.
        let publisher = hub.clone();
        *lock(&wire.during) = Some(Box::new(move || publisher.publish(&[view("t1", 3)])));
        assert!(write_listed(&hub).is_empty(), "the socket took nothing");
        // t1@1 was not written and t1@3 replaces it; t2@2 is still due.
        assert_eq!(
            updates(sub.try_next()),
            vec![("t2".to_owned(), 2), ("t1".to_owned(), 3)]
        );
    }

    #[test]
    fn views_the_task_may_have_sent_are_left_to_it() {
        let hub = direct_hub();
        let wire = Wire::with_room(usize::MAX);
        let (_, mut sub) = hub.subscribe(None, false, Some(wire.clone() as Arc<dyn Sink>));
        // The task's log replay sent up to seq 5; seq 5 is published only now.
        assert!(sub.hand_over(5));
        hub.publish(&[view("t1", 5)]);
        assert!(write_listed(&hub).is_empty());
        assert_eq!(updates(sub.try_next()), vec![("t1".to_owned(), 5)]);
        assert!(sub.hand_over(5));
        hub.publish(&[view("t1", 6)]);
        assert_eq!(write_listed(&hub), [6]);
        assert_eq!(wire.seqs(), [6]);
    }

    #[test]
    fn what_the_task_takes_the_direct_writer_does_not_overtake() {
        let hub = direct_hub();
        let wire = Wire::with_room(usize::MAX);
        let mut sub = subscribe_direct(&hub, &wire);
        hub.publish(&[view("t1", 1)]);
        // The task woke for something else and took the queued view first.
        assert_eq!(updates(sub.try_next()), vec![("t1".to_owned(), 1)]);
        hub.publish(&[view("t1", 2)]);
        assert!(
            write_listed(&hub).is_empty(),
            "t1@2 must not reach the wire before t1@1"
        );
        assert_eq!(updates(sub.try_next()), vec![("t1".to_owned(), 2)]);
    }

    #[test]
    fn no_hand_over_without_a_writer_a_socket_or_with_work_queued() {
        let wire = Wire::with_room(usize::MAX);
        let hub = Hub::new();
        let (_, sub) = hub.subscribe(None, false, Some(wire.clone() as Arc<dyn Sink>));
        assert!(!sub.hand_over(0), "no direct writer runs");
        let hub = direct_hub();
        let (_, sub) = hub.subscribe(None, false, None);
        assert!(!sub.hand_over(0), "no socket");
        let (_, mut sub) = hub.subscribe(None, false, Some(wire as Arc<dyn Sink>));
        hub.publish(&[view("t1", 1)]);
        assert!(!sub.hand_over(0), "the task has a view to send");
        assert_eq!(updates(sub.try_next()), vec![("t1".to_owned(), 1)]);
        assert!(sub.hand_over(1));
    }

    /// A socket whose first write waits until the test opens it, as a writer that lost its core
    /// in the middle of a send.
    #[derive(Debug)]
    struct Gated {
        wire: Arc<Wire>,
        entered: Mutex<Option<std::sync::mpsc::Sender<()>>>,
        open: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
    }

    impl Sink for Gated {
        fn try_write(&self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
            if let Some(entered) = lock(&self.entered).take() {
                entered.send(()).expect("test waits");
                if let Some(open) = lock(&self.open).take() {
                    open.recv().expect("test opens");
                }
            }
            self.wire.try_write(bufs)
        }
    }

    #[test]
    fn a_client_another_writer_is_writing_to_is_left_to_it_and_nothing_is_lost() {
        let hub = direct_hub();
        let wire = Wire::with_room(usize::MAX);
        let (entered_tx, entered) = std::sync::mpsc::channel();
        let (open, open_rx) = std::sync::mpsc::channel();
        let sink = Arc::new(Gated {
            wire: wire.clone(),
            entered: Mutex::new(Some(entered_tx)),
            open: Mutex::new(Some(open_rx)),
        });
        let (_, sub) = hub.subscribe(None, false, Some(sink as Arc<dyn Sink>));
        assert!(sub.hand_over(0));
        hub.publish(&[view("t1", 1)]);
        let clients = std::mem::take(&mut lock(&hub.inner.direct).clients);
        let first = std::thread::spawn(move || {
            let mut sent = Vec::new();
            for client in clients {
                write_direct(&client, &mut Scratch::default(), &mut |v: &Published| {
                    sent.push(v.seq());
                });
            }
            sent
        });
        entered.recv().expect("the first writer is in its write");
        hub.publish(&[view("t1", 2)]);
        hub.publish(&[view("t2", 3)]);
        // A second writer takes the client off the list while the first still writes to it.
        assert_eq!(write_listed(&hub), Vec::<u64>::new(), "it must not write");
        open.send(()).expect("writer waits");
        assert_eq!(first.join().expect("first writer"), [1, 2, 3]);
        assert_eq!(wire.seqs(), [1, 2, 3]);
        assert!(lock(&hub.inner.direct).clients.is_empty());
        drop(sub);
    }

    /// A socket that takes everything and logs which client it belongs to.
    #[derive(Debug)]
    struct Tagged {
        client: usize,
        log: Arc<Mutex<Vec<usize>>>,
    }

    impl Sink for Tagged {
        fn try_write(&self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
            lock(&self.log).push(self.client);
            Ok(bufs.iter().map(|b| b.len()).sum())
        }
    }

    #[test]
    fn no_screen_is_always_written_to_first_or_last() {
        const CLIENTS: usize = 8;
        let hub = direct_hub();
        let log = Arc::new(Mutex::new(Vec::new()));
        let subs: Vec<Subscription> = (0..CLIENTS)
            .map(|client| {
                let sink = Arc::new(Tagged {
                    client,
                    log: log.clone(),
                });
                let (_, sub) = hub.subscribe(None, false, Some(sink as Arc<dyn Sink>));
                sub
            })
            .collect();
        let (mut first, mut last) = (HashSet::new(), HashSet::new());
        for seq in 1..=200 {
            for sub in &subs {
                assert!(sub.hand_over(seq - 1));
            }
            hub.publish(&[view("t1", seq)]);
            assert_eq!(write_listed(&hub).len(), CLIENTS);
            let order = std::mem::take(&mut *lock(&log));
            first.extend(order.first().copied());
            last.extend(order.last().copied());
        }
        let every: HashSet<usize> = (0..CLIENTS).collect();
        assert_eq!(first, every, "every client is sometimes first");
        assert_eq!(last, every, "and sometimes last");
    }

    #[test]
    fn frame_headers_decode_at_every_length_boundary() {
        use tokio_tungstenite::tungstenite::protocol::{Role, WebSocket};
        for len in [0, 1, 125, 126, 127, 65_535, 65_536, 70_000] {
            let payload = "x".repeat(len);
            let mut bytes = FrameHeader::text(len).bytes().to_vec();
            bytes.extend_from_slice(payload.as_bytes());
            let mut client =
                WebSocket::from_raw_socket(std::io::Cursor::new(bytes), Role::Client, None);
            let message = client.read().expect("one frame");
            assert_eq!(
                message.into_text().expect("text").as_str(),
                payload,
                "{len}"
            );
        }
    }

    /// Polls `done` until it holds; fails with `what` after 10 s (a writer thread's start, say).
    fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(std::time::Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn the_direct_writer_thread_writes_and_stops_when_the_hub_closes() {
        let hub = Hub::new();
        let wire = Wire::with_room(usize::MAX);
        let writers: Vec<_> = (0..hub.direct_writers())
            .map(|_| {
                let hub = hub.clone();
                std::thread::spawn(move || hub.run_direct_writer(|_| {}))
            })
            .collect();
        let (_, sub) = hub.subscribe(None, false, Some(wire.clone() as Arc<dyn Sink>));
        wait_until("the writer never started", || sub.hand_over(0));
        hub.publish(&[view("t1", 1)]);
        wait_until("nothing written", || !wire.seqs().is_empty());
        assert_eq!(wire.seqs(), [1]);
        hub.close();
        for writer in writers {
            writer.join().expect("writer thread");
        }
    }

    #[test]
    fn clients_stop_handing_over_when_the_last_writer_dies() {
        let hub = Hub::new();
        let writer = {
            let hub = hub.clone();
            std::thread::spawn(move || hub.run_direct_writer(|_| panic!("a bug in a writer")))
        };
        let wire = Wire::with_room(usize::MAX);
        let (_, sub) = hub.subscribe(None, false, Some(wire.clone() as Arc<dyn Sink>));
        wait_until("the writer never started", || sub.hand_over(0));
        hub.publish(&[view("t1", 1)]);
        assert!(writer.join().is_err(), "the writer panicked");
        let (_, next) = hub.subscribe(None, false, Some(wire as Arc<dyn Sink>));
        assert!(!next.hand_over(1), "no writer is left to take the socket");
    }
}
