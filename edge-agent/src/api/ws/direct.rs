//! Direct writes: update frames written straight into idle screens' sockets by a few threads.
//!
//! A screen mostly listens, and waking its task to frame and write each update, 500 screens per
//! change, was most of the agent's work on the path to the screens. So a client whose task has
//! nothing left to write hands delivery over to the hub's courier ([`crate::hub`], "Delegated
//! delivery"), and the courier here is a few writer threads ([`Writers`], `ws-direct-N`, one per
//! core up to [`MAX_WRITERS`]): each writes every new update message (built once at commit) behind
//! a frame header ([`super::frame`]) straight into the socket ([`DirectSocket`]), one non-blocking
//! vectored `sendmsg` per client, and the task stays asleep. The writers share one work list and
//! take a few clients at a time from it, so that when one of them loses its core for a while (to
//! the broker, the SQLite writer, anything else on the box) the others write its share instead of
//! the fan-out waiting for it.
//!
//! When a socket would block (a slow screen), or the task has something else to send (a ping, a
//! snapshot, a close), writing goes back to the task with whatever the thread could not write of a
//! frame ([`DirectSocket::take_unsent`]), and the task's own timeouts, conflation and fresh
//! snapshots apply as before. Only one side writes at a time, always whole frames in order, so the
//! byte stream stays valid: the hub switches sides under the client's queue lock and lets a write
//! in progress finish first.
//!
//! The socket is shared with hyper (`api::socket`): hyper's side uses tokio's `&self`
//! methods, the writers a plain non-blocking send, bypassing tokio's readiness bookkeeping (a
//! check and a shared cache line per write, hundreds of writes per update): that bookkeeping
//! belongs to the client's task. After a `WouldBlock` here the task takes the socket back, and its
//! own write finds out again and waits for room as usual.
//!
//! Direct writes are switched by `--ws-direct-writes` (on by default); off, no writer runs and
//! every screen's task writes its own updates.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::net::TcpStream;

use super::frame::FrameHeader;
use crate::hub::{Courier, Delegated, Delivered, Hub, Outlet};
use crate::metrics::Metrics;
use crate::view::Published;

/// At most this many direct writer threads.
const MAX_WRITERS: usize = 4;

/// A direct writer takes this many clients from the list at a time: a few tens of microseconds
/// of writes, so a writer that loses its core holds back only that many screens.
const CHUNK: usize = 8;

/// A poisoned lock only means another thread panicked while holding it; the list stays usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A client's socket as the direct writers see it.
pub(crate) trait Sink: Send + Sync + std::fmt::Debug {
    /// Writes as much of `bufs` as the socket takes now, without waiting; `WouldBlock` if nothing.
    fn try_write(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
}

/// A plain non-blocking `sendmsg` (see the module doc for why not tokio's).
impl Sink for TcpStream {
    fn try_write(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        socket2::SockRef::from(self).send_vectored(bufs)
    }
}

impl<S: Sink + ?Sized> Sink for Arc<S> {
    fn try_write(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (**self).try_write(bufs)
    }
}

/// A screen's socket under its WebSocket layers, as the hub's [`Outlet`]: the writers frame and
/// write updates into it, and keep what they could write of a frame only in part for the task.
#[derive(Debug)]
pub(crate) struct DirectSocket<S> {
    sink: S,
    /// The rest of a frame a writer could write only in part: the task writes it first.
    unsent: Mutex<Vec<u8>>,
}

impl<S> DirectSocket<S> {
    pub(crate) fn new(sink: S) -> Arc<DirectSocket<S>> {
        Arc::new(DirectSocket {
            sink,
            unsent: Mutex::new(Vec::new()),
        })
    }

    /// Appends to `into` what a writer left of a frame; call it after
    /// [`crate::hub::Subscription::take_back`], before the task writes anything else.
    pub(crate) fn take_unsent(&self, into: &mut Vec<u8>) {
        let mut unsent = lock(&self.unsent);
        into.extend_from_slice(&unsent);
        unsent.clear();
    }
}

impl<S: Sink> Outlet for DirectSocket<S> {
    /// Writes `views` as WebSocket text frames in one vectored send.
    fn deliver(&self, views: &[Published]) -> Delivered {
        let headers: Vec<FrameHeader> = (views.iter())
            .map(|v| FrameHeader::text(v.update.len()))
            .collect();
        let bufs: Vec<IoSlice<'_>> = (views.iter().zip(headers.iter()))
            .flat_map(|(v, h)| [IoSlice::new(h.bytes()), IoSlice::new(v.update.as_bytes())])
            .collect();
        // Would block, or the socket failed: the task finds out which on its own write.
        let mut written = self.sink.try_write(&bufs).unwrap_or(0);
        for (i, (view, header)) in views.iter().zip(headers.iter()).enumerate() {
            let len = header.bytes().len() + view.update.len();
            if written >= len {
                written -= len;
                continue;
            }
            if written == 0 {
                return Delivered::Part(i);
            }
            // Part of this frame is on the wire: the rest must follow before anything else.
            let mut unsent = lock(&self.unsent);
            unsent.extend_from_slice(header.bytes().get(written..).unwrap_or_default());
            let body = written.saturating_sub(header.bytes().len());
            unsent.extend_from_slice(view.update.as_bytes().get(body..).unwrap_or_default());
            return Delivered::Part(i + 1);
        }
        Delivered::All
    }
}

impl DirectSocket<Arc<TcpStream>> {
    /// Writes `unsent` straight into the socket, waiting for room as needed, removing what is
    /// written: if the future is dropped, `unsent` holds exactly what is left.
    pub(crate) async fn write_unsent(&self, unsent: &mut Vec<u8>) -> io::Result<()> {
        while !unsent.is_empty() {
            self.sink.writable().await?;
            match TcpStream::try_write(&self.sink, unsent) {
                Ok(n) => {
                    unsent.drain(..n);
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Resolves when the screen has sent something (or the socket failed: the next read says).
    pub(crate) async fn readable(&self) {
        let _ = self.sink.readable().await;
    }
}

/// The direct writer threads' shared work list: the hub's [`Courier`].
#[derive(Debug, Default)]
pub(crate) struct Writers {
    list: Mutex<List>,
    /// Signals the writers: clients in the list, or the hub closed.
    ready: Condvar,
}

#[derive(Debug, Default)]
struct List {
    /// Clients with updates to write, in the order they are to be written.
    clients: VecDeque<Delegated>,
    /// Writers running: clients may hand their sockets over while there is one.
    running: usize,
    closed: bool,
}

impl Courier for Writers {
    fn running(&self) -> bool {
        lock(&self.list).running > 0
    }

    fn ready(&self, clients: Vec<Delegated>) {
        let wake_all = clients.len() > CHUNK;
        lock(&self.list).clients.extend(clients);
        if wake_all {
            self.ready.notify_all();
        } else {
            self.ready.notify_one();
        }
    }

    fn close(&self) {
        lock(&self.list).closed = true;
        self.ready.notify_all();
    }
}

/// How many writer threads to run. Writes to loopback or LAN sockets are kernel work that runs in
/// parallel: one writer per core finishes a fan-out to hundreds of screens that many times sooner.
fn threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    cores.clamp(1, MAX_WRITERS)
}

/// Makes new writers `hub`'s courier; `None` if it has one already.
fn install(hub: &Hub) -> Option<Arc<Writers>> {
    let writers = Arc::new(Writers::default());
    hub.set_courier(writers.clone()).then_some(writers)
}

/// Starts the direct writers for `hub`, a thread each, until the hub closes or is dropped,
/// recording for each view written what the client's task records for the views it writes.
pub(crate) fn spawn_writers(hub: &Hub, metrics: &Arc<Metrics>) {
    let Some(writers) = install(hub) else {
        tracing::warn!("the hub has its direct writers already");
        return;
    };
    for writer in 0..threads() {
        let (writers, metrics) = (Arc::downgrade(&writers), metrics.clone());
        let started = std::thread::Builder::new()
            .name(format!("ws-direct-{writer}"))
            .spawn(move || {
                run(&writers, |view| {
                    if let Some(received) = view.received {
                        metrics.latency(received.elapsed().as_secs_f64());
                    }
                    if let Some(committed) = view.committed {
                        metrics.stage_socket(committed.elapsed().as_secs_f64());
                    }
                });
            });
        if let Err(error) = started {
            // The other writers take its share; with none, screens get every update through
            // their tasks.
            tracing::warn!(%error, "cannot start a WebSocket direct writer thread");
        }
    }
}

/// One writer: writes the queued updates of the clients that handed their sockets over, until
/// the hub closes or is dropped; `sent` is called for each view written to a client, after the
/// write. Holds the writers only while writing, so that dropping the hub ends the thread.
fn run(writers: &Weak<Writers>, mut sent: impl FnMut(&Published)) {
    let Some(started) = writers.upgrade() else {
        return;
    };
    lock(&started.list).running += 1;
    drop(started);
    let _running = Running(writers.clone());
    let (mut views, mut clients) = (Vec::new(), Vec::with_capacity(CHUNK));
    while next(writers, &mut clients) {
        for client in clients.drain(..) {
            client.deliver(&mut views, &mut sent);
        }
    }
}

/// A running writer, counted out of `List::running` when it stops, even by a panic: with no
/// writer left, clients keep writing through their tasks.
struct Running(Weak<Writers>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(writers) = self.0.upgrade() {
            lock(&writers.list).running -= 1;
        }
    }
}

/// Moves the next few clients with work into `clients`; `false` once the hub is closed or dropped.
fn next(writers: &Weak<Writers>, clients: &mut Vec<Delegated>) -> bool {
    loop {
        let Some(writers) = writers.upgrade() else {
            return false;
        };
        let mut list = lock(&writers.list);
        if list.closed {
            return false;
        }
        if !list.clients.is_empty() {
            let take = list.clients.len().min(CHUNK);
            clients.extend(list.clients.drain(..take));
            return true;
        }
        // Wakes up now and then without work to notice a dropped hub (in-process tests).
        drop(writers.ready.wait_timeout(list, Duration::from_secs(1)));
    }
}

#[cfg(test)]
mod tests;
