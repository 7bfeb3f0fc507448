//! After-commit fan-out of table views to the clients that follow them.
//!
//! The store's writer thread calls [`Hub::publish`] with committed views in seq order. `publish` is
//! synchronous and never waits for a client: it records the newest view of each table and drops the
//! view into every interested client's queue, where it *replaces* any older view of the same table
//! (conflation). A client that stops reading therefore costs at most one view per table, and a slow
//! client can never slow the writer or the other clients.
//!
//! [`Hub::subscribe`] takes the snapshot and registers the client under the same lock `publish`
//! takes, so every view is either in the snapshot or in the queue: there is no gap between them.
//!
//! **Delegated delivery.** A client's task normally takes its queue ([`Subscription::next`]) and
//! delivers it itself. A task with nothing of its own to deliver may instead hand delivery over
//! ([`Subscription::hand_over`]) to the hub's [`Courier`], if one is installed: `publish` then
//! passes the client to the courier instead of waking the task, and the courier's threads deliver
//! its queue through the client's [`Outlet`] ([`Delegated::deliver`]), while the task sleeps. When
//! the outlet cannot take everything now, or the task has something else to deliver, delivery goes
//! back to the task ([`Subscription::take_back`]). The switch happens under the client's queue
//! lock, and a delivery in progress (which runs without that lock, so that `publish` never waits
//! for it) finishes before the task takes over: only one side delivers at a time, in seq order.
//! The WebSocket direct writers (`api::ws::direct`) are the courier; the hub knows nothing of
//! sockets, frames or threads.
//!
//! Each fan-out starts at a random client: with hundreds of screens the last one written to
//! waits milliseconds longer than the first, and that should not always be the same screen.
//!
//! **What clients are owed, bounded.** A client costs at most one view per table in its queue,
//! and the views are shared, not copied. The one thing that costs bytes per client is a log replay
//! to a screen reconnecting with `?since=` (`api::ws`): it needs a [`ReplayPermit`] for its bytes
//! from the hub's replay budget ([`Hub::reserve_replay`], [`REPLAY_BUDGET`] in all), or it gets a
//! fresh snapshot instead, so however many screens reconnect at once the replays in flight hold at
//! most that much.
//!
//! Screens are admitted ([`Hub::admit`]) within [`MAX_SCREENS`] in all and
//! [`MAX_SCREENS_PER_ADDRESS`] from one address, so one device cannot take every connection.
//!
//! Lock order: the hub's state, then a client's queue, then the courier's own locks. `publish`
//! holds the hub lock for O(clients) work and never awaits or delivers; it calls the courier after
//! releasing it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

use tokio::sync::Notify;

use crate::view::Published;

/// After this many views of a table replaced older ones in a client's queue since it last read, the
/// client is treated as stalled and gets a fresh snapshot instead of its queue.
const CONFLATION_LIMIT: u32 = 1024;

/// The bytes of log replays in flight to reconnecting clients, all together (see the module doc).
pub const REPLAY_BUDGET: usize = 4 * 1024 * 1024;

/// Screens connected at once, in all (the agent's file descriptors are shared with the broker's
/// devices: the default limit is 1,024).
pub const MAX_SCREENS: usize = 768;
/// Screens connected at once from one address other than the appliance's own (`127.0.0.1`,
/// `::1`: a kiosk browser on the appliance, or the benchmarks).
pub const MAX_SCREENS_PER_ADDRESS: usize = 32;

/// Why a screen was not admitted ([`Hub::admit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Full {
    /// [`MAX_SCREENS`] are connected.
    Agent,
    /// [`MAX_SCREENS_PER_ADDRESS`] are connected from this address.
    Address,
}

/// A connected screen, counted until dropped.
#[derive(Debug)]
pub struct Admission {
    address: Option<String>,
    screens: Arc<Mutex<Screens>>,
}

#[derive(Debug, Default)]
struct Screens {
    total: usize,
    by_address: HashMap<String, usize>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut screens = lock(&self.screens);
        screens.total = screens.total.saturating_sub(1);
        if let Some(address) = &self.address
            && let Some(count) = screens.by_address.get_mut(address)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                screens.by_address.remove(address);
            }
        }
    }
}

/// The fan-out point. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Hub {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    state: Mutex<HubState>,
    /// Delivers for the clients that handed delivery over; without one, every task delivers.
    courier: OnceLock<Arc<dyn Courier>>,
    /// Bytes reserved by the [`ReplayPermit`]s alive.
    replaying: Arc<AtomicUsize>,
    /// Screens admitted, in all and per address.
    screens: Arc<Mutex<Screens>>,
}

/// Bytes of the hub's replay budget held by one replay; given back when dropped.
#[derive(Debug)]
pub struct ReplayPermit {
    bytes: usize,
    replaying: Arc<AtomicUsize>,
}

impl ReplayPermit {
    /// The bytes reserved.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for ReplayPermit {
    fn drop(&mut self) {
        self.replaying.fetch_sub(self.bytes, Ordering::AcqRel);
    }
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

/// Delivers the queues of the clients whose tasks handed delivery over, on threads of its own
/// (the WebSocket direct writers). Installed once with [`Hub::set_courier`].
pub trait Courier: Send + Sync + std::fmt::Debug {
    /// Whether it delivers now: while `false`, clients keep delivery to their tasks.
    fn running(&self) -> bool;
    /// Clients with new views, in the order to deliver them; the courier calls
    /// [`Delegated::deliver`] for each. Called by `publish` after it released the hub's lock; a
    /// client comes again only once its `deliver` began.
    fn ready(&self, clients: Vec<Delegated>);
    /// The hub closed: stop delivering.
    fn close(&self);
}

/// Where a courier delivers a client's views while its task is away (for a screen, its socket).
pub trait Outlet: Send + Sync + std::fmt::Debug {
    /// Delivers `views`, in seq order, as far as it can without waiting.
    fn deliver(&self, views: &[Published]) -> Delivered;
}

/// How far an [`Outlet::deliver`] got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivered {
    /// Every view.
    All,
    /// The first `n` views are the outlet's (what it could not finish of the last, it keeps for the
    /// task to finish first); the rest are not, and delivery goes back to the task.
    Part(usize),
}

/// One client's side of the queue, shared between the hub and its [`Subscription`].
#[derive(Debug)]
struct Client {
    /// Tables this client follows; `None` = all.
    filter: Option<HashSet<String>>,
    queue: Mutex<Queue>,
    wake: Notify,
    /// Where the courier delivers while the task has handed delivery over.
    outlet: Option<Arc<dyn Outlet>>,
    /// Signalled when a courier's delivery ends (`Queue::delivering`), for a task taking back.
    delivered: Condvar,
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
    /// The courier delivers this client's views (the task handed delivery over).
    handed_over: bool,
    /// The newest seq the client has been sent. The courier only delivers views newer than
    /// this; an older one (a view the task's log replay already sent) goes back to the task,
    /// which skips it.
    sent_up_to: u64,
    /// Passed to the courier already, and not yet taken by a delivery.
    listed: bool,
    /// A courier is delivering now, without holding this queue's lock (so `publish` never waits
    /// for an outlet): nobody else may deliver until it is done.
    delivering: bool,
    /// The task waits on `Client::delivered` for that delivery to end (a notification is a
    /// syscall, so the courier only makes it when someone waits).
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

/// A client whose task handed delivery over, as the [`Courier`] holds it.
#[derive(Clone, Debug)]
pub struct Delegated(Arc<Client>);

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

    /// Installs the courier that delivers for clients that hand delivery over; `false` if the hub
    /// has one already (it keeps it).
    pub fn set_courier(&self, courier: Arc<dyn Courier>) -> bool {
        self.inner.courier.set(courier).is_ok()
    }

    /// Whether a courier is installed: clients may then hand delivery over (while it runs).
    pub fn has_courier(&self) -> bool {
        self.inner.courier.get().is_some()
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
        let mut handed_over = Vec::new();
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
                if queue.handed_over && !queue.resnapshot {
                    if !queue.listed {
                        queue.listed = true;
                        handed_over.push(Delegated(client.clone()));
                    }
                } else {
                    drop(queue);
                    client.wake.notify_one();
                }
            }
        }
        drop(state);
        if !handed_over.is_empty()
            && let Some(courier) = self.inner.courier.get()
        {
            courier.ready(handed_over);
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
    /// `outlet` is where the courier delivers once the client hands delivery over.
    pub fn subscribe(
        &self,
        tables: Option<HashSet<String>>,
        positions: bool,
        outlet: Option<Arc<dyn Outlet>>,
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
            outlet,
            delivered: Condvar::new(),
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

    /// Shuts the hub: every subscription (present and future) yields [`Next::Closed`], and the
    /// courier stops. Views published afterwards still update [`Hub::latest`].
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
        if let Some(courier) = self.inner.courier.get() {
            courier.close();
        }
    }

    /// Reserves `bytes` of the replay budget for one client's log replay; `None` while the
    /// replays in flight hold too much of it (the client gets a fresh snapshot instead).
    pub fn reserve_replay(&self, bytes: usize) -> Option<ReplayPermit> {
        let replaying = &self.inner.replaying;
        (replaying.fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
            held.checked_add(bytes)
                .filter(|&total| total <= REPLAY_BUDGET)
        }))
        .ok()?;
        Some(ReplayPermit {
            bytes,
            replaying: replaying.clone(),
        })
    }

    /// Admits one more screen from `address` (`None`: the appliance itself, or not known), within
    /// [`MAX_SCREENS`] and [`MAX_SCREENS_PER_ADDRESS`]; it counts until the [`Admission`] drops.
    pub fn admit(&self, address: Option<String>) -> Result<Admission, Full> {
        let mut screens = lock(&self.inner.screens);
        if screens.total >= MAX_SCREENS {
            return Err(Full::Agent);
        }
        if let Some(address) = &address {
            let count = screens.by_address.entry(address.clone()).or_default();
            if *count >= MAX_SCREENS_PER_ADDRESS {
                return Err(Full::Address);
            }
            *count += 1;
        }
        screens.total += 1;
        drop(screens);
        Ok(Admission {
            address,
            screens: self.inner.screens.clone(),
        })
    }

    /// Bytes of the replay budget held now.
    pub fn replaying(&self) -> usize {
        self.inner.replaying.load(Ordering::Acquire)
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

impl Delegated {
    /// Delivers the client's queued views through its outlet, with the queue unlocked meanwhile
    /// (`Queue::delivering` keeps the task and other deliveries off the outlet); `sent` is called
    /// for each view the outlet took, after the delivery. What the outlet does not take goes back
    /// to the task, which then delivers again. `views` is the caller's reusable buffer.
    pub fn deliver(&self, views: &mut Vec<Published>, sent: &mut impl FnMut(&Published)) {
        let client = &*self.0;
        let mut queue = lock(&client.queue);
        queue.listed = false;
        let Some(outlet) = client.outlet.as_ref() else {
            return;
        };
        // Another delivery to this client is under way: it takes these views too when it is done.
        if queue.delivering {
            return;
        }
        loop {
            if !queue.handed_over || queue.closed || queue.resnapshot {
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
            queue.delivering = true;
            views.clear();
            std::mem::swap(&mut queue.views, views);
            drop(queue);

            let delivered = outlet.deliver(views);

            queue = lock(&client.queue);
            queue.delivering = false;
            if queue.awaited {
                client.delivered.notify_all();
            }
            let taken = match delivered {
                Delivered::All => views.len(),
                Delivered::Part(taken) => taken.min(views.len()),
            };
            for view in views.drain(..taken) {
                sent(&view);
                queue.sent_up_to = view.seq();
            }
            if delivered == Delivered::All {
                // All delivered. Views published meanwhile are on the courier's list again, unless
                // another delivery took the client off it meanwhile: then they are this one's.
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
            if queue.handed_over {
                give_back(client, queue);
            }
            return;
        }
    }
}

/// Hands delivery back to the client's task, which has something to deliver.
fn give_back(client: &Client, mut queue: MutexGuard<'_, Queue>) {
    queue.handed_over = false;
    drop(queue);
    client.wake.notify_one();
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
        // Whatever the task takes from here it delivers itself, so the courier stops: it must
        // not deliver a newer view before the task's.
        if queue.resnapshot {
            queue.handed_over = false;
            drop(queue);
            return Some(Next::Resnapshot(self.take_snapshot()));
        }
        if !queue.views.is_empty() {
            queue.handed_over = false;
            let mut views = std::mem::take(&mut queue.views);
            views.sort_by_key(Published::seq);
            queue.conflated = 0;
            return Some(Next::Updates(views));
        }
        if !queue.positions.is_empty() {
            queue.handed_over = false;
            return Some(Next::Positions(
                queue.positions.drain().map(|(_, p)| p).collect(),
            ));
        }
        None
    }

    /// Hands delivery to the courier if nothing is queued for the task (`true`); the task has
    /// sent everything up to seq `sent_up_to` and finished its own deliveries. `false`: there is
    /// work for the task ([`Subscription::next`] has it), or no courier runs, or the client has no
    /// [`Outlet`].
    pub fn hand_over(&self, sent_up_to: u64) -> bool {
        let running = self.hub.inner.courier.get().is_some_and(|c| c.running());
        if self.client.outlet.is_none() || !running {
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
        queue.handed_over = true;
        true
    }

    /// Takes delivery back from the courier before the task delivers (blocking until a delivery
    /// in progress ends); what the outlet kept of an unfinished view must go out first.
    pub fn take_back(&self) {
        let mut queue = lock(&self.client.queue);
        queue.handed_over = false;
        // A non-blocking send in progress: microseconds.
        while queue.delivering {
            queue.awaited = true;
            queue = (self.client.delivered.wait(queue))
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        queue.awaited = false;
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
    fn replays_share_a_bounded_budget_given_back_on_drop() {
        let hub = Hub::new();
        let quarter = REPLAY_BUDGET / 4;
        let permits: Vec<ReplayPermit> = (0..4)
            .map(|_| hub.reserve_replay(quarter).expect("within the budget"))
            .collect();
        assert_eq!(hub.replaying(), REPLAY_BUDGET);
        assert!(hub.reserve_replay(1).is_none(), "the budget is spent");
        assert!(hub.reserve_replay(usize::MAX).is_none());
        drop(permits);
        assert_eq!(hub.replaying(), 0);
        assert!(hub.reserve_replay(REPLAY_BUDGET + 1).is_none());
        assert_eq!(
            hub.reserve_replay(quarter).map(|p| p.bytes()),
            Some(quarter)
        );
        assert_eq!(
            hub.replaying(),
            0,
            "a permit dropped at once gives its bytes back"
        );
    }

    #[test]
    fn screens_are_admitted_within_the_limits_per_address_and_in_all() {
        let hub = Hub::new();
        let from = |a: &str| Some(a.to_owned());
        let mine: Vec<Admission> = (0..MAX_SCREENS_PER_ADDRESS)
            .map(|_| hub.admit(from("10.0.0.7")).expect("admitted"))
            .collect();
        assert_eq!(hub.admit(from("10.0.0.7")).err(), Some(Full::Address));
        assert!(hub.admit(from("10.0.0.8")).is_ok(), "another address");
        drop(mine);
        assert!(
            hub.admit(from("10.0.0.7")).is_ok(),
            "counted out when they leave"
        );
        let local: Vec<Admission> = (0..MAX_SCREENS)
            .map(|_| hub.admit(None).expect("the appliance's own"))
            .collect();
        assert_eq!(hub.admit(from("10.0.0.9")).err(), Some(Full::Agent));
        drop(local);
        assert!(lock(&hub.inner.screens).by_address.is_empty());
        assert_eq!(lock(&hub.inner.screens).total, 0);
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
}
