//! The direct writers against fake sockets: frames whole and in order, one writer per socket,
//! the hand-over back to the task, and the writer threads' lifetime.

use std::collections::HashSet;

use super::*;
use crate::hub::{Next, Subscription};

fn view(table: &str, seq: u64) -> Published {
    Published::idle(table, seq)
}

fn updates(next: Option<Next>) -> Vec<(String, u64)> {
    match next {
        Some(Next::Updates(views)) => views
            .iter()
            .map(|v| (v.table().to_owned(), v.seq()))
            .collect(),
        other => panic!("expected updates, got {other:?}"),
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
fn direct_hub() -> (Hub, Arc<Writers>) {
    let hub = Hub::new();
    let writers = install(&hub).expect("a new hub has no courier");
    lock(&writers.list).running = 1;
    (hub, writers)
}

/// What the direct writer threads would do now; returns the seqs reported sent.
fn write_listed(writers: &Writers) -> Vec<u64> {
    let mut sent = Vec::new();
    let mut views = Vec::new();
    let clients = std::mem::take(&mut lock(&writers.list).clients);
    for client in clients {
        client.deliver(&mut views, &mut |v: &Published| {
            sent.push(v.seq());
        });
    }
    sent
}

/// `sink` as a client's outlet, for [`Hub::subscribe`].
fn outlet<S: Sink + 'static>(sink: S) -> Option<Arc<dyn Outlet>> {
    Some(DirectSocket::new(sink) as Arc<dyn Outlet>)
}

fn subscribe_direct(hub: &Hub, wire: &Arc<Wire>) -> (Subscription, Arc<DirectSocket<Arc<Wire>>>) {
    let socket = DirectSocket::new(wire.clone());
    let (_, sub) = hub.subscribe(None, false, Some(socket.clone() as Arc<dyn Outlet>));
    assert!(sub.hand_over(0), "an idle client hands its socket over");
    (sub, socket)
}

/// What the task does before it writes: takes the socket back, with what a writer left of a frame.
fn take_back(sub: &Subscription, socket: &DirectSocket<Arc<Wire>>) -> Option<Vec<u8>> {
    sub.take_back();
    let mut unsent = Vec::new();
    socket.take_unsent(&mut unsent);
    (!unsent.is_empty()).then_some(unsent)
}

#[test]
fn a_handed_over_client_gets_whole_frames_in_order_without_its_task() {
    let (hub, writers) = direct_hub();
    let wire = Wire::with_room(usize::MAX);
    let (mut sub, socket) = subscribe_direct(&hub, &wire);
    hub.publish(&[view("t1", 1)]);
    assert_eq!(write_listed(&writers), [1]);
    hub.publish(&[view("t2", 2), view("t1", 3)]);
    hub.publish(&[view("t2", 4)]);
    // t2@2 was replaced before the writer came round (conflation), as in a task's queue.
    assert_eq!(write_listed(&writers), [3, 4]);
    assert_eq!(wire.seqs(), [1, 3, 4]);
    assert!(sub.try_next().is_none(), "nothing was left for the task");
    assert_eq!(take_back(&sub, &socket), None);
}

#[test]
fn a_socket_that_takes_part_of_a_frame_goes_back_to_the_task_with_the_rest() {
    let (hub, writers) = direct_hub();
    let first = view("t1", 1).update.len() + 2;
    // The first frame and 5 bytes of the second.
    let wire = Wire::with_room(first + 5);
    let (mut sub, socket) = subscribe_direct(&hub, &wire);
    hub.publish(&[view("t1", 1), view("t2", 2), view("t3", 3)]);
    assert_eq!(write_listed(&writers), [1, 2]);
    let unsent = take_back(&sub, &socket).expect("the rest of the second frame");
    lock(&wire.taken).extend_from_slice(&unsent);
    assert_eq!(
        wire.seqs(),
        [1, 2],
        "frames are whole once the task writes the rest"
    );
    assert_eq!(updates(sub.try_next()), vec![("t3".to_owned(), 3)]);
    // The task owns the socket now: new views wait for it.
    hub.publish(&[view("t1", 4)]);
    assert!(write_listed(&writers).is_empty());
    assert_eq!(updates(sub.try_next()), vec![("t1".to_owned(), 4)]);
}

#[test]
fn a_socket_that_would_block_leaves_everything_to_the_task() {
    let (hub, writers) = direct_hub();
    let wire = Wire::with_room(0);
    let (mut sub, socket) = subscribe_direct(&hub, &wire);
    hub.publish(&[view("t1", 1), view("t2", 2)]);
    assert!(write_listed(&writers).is_empty());
    assert_eq!(take_back(&sub, &socket), None);
    assert_eq!(
        updates(sub.try_next()),
        vec![("t1".to_owned(), 1), ("t2".to_owned(), 2)]
    );
    assert!(wire.messages().is_empty());
}

#[test]
fn views_published_during_a_write_wait_and_replace_what_it_could_not_write() {
    let (hub, writers) = direct_hub();
    let wire = Wire::with_room(0);
    let (mut sub, _socket) = subscribe_direct(&hub, &wire);
    hub.publish(&[view("t1", 1), view("t2", 2)]);
    // The writer holds no lock while it writes: publish goes on, for the next round.
    let publisher = hub;
    *lock(&wire.during) = Some(Box::new(move || publisher.publish(&[view("t1", 3)])));
    assert!(write_listed(&writers).is_empty(), "the socket took nothing");
    // t1@1 was not written and t1@3 replaces it; t2@2 is still due.
    assert_eq!(
        updates(sub.try_next()),
        vec![("t2".to_owned(), 2), ("t1".to_owned(), 3)]
    );
}

#[test]
fn views_the_task_may_have_sent_are_left_to_it() {
    let (hub, writers) = direct_hub();
    let wire = Wire::with_room(usize::MAX);
    let (_, mut sub) = hub.subscribe(None, false, outlet(wire.clone()));
    // The task's log replay sent up to seq 5; seq 5 is published only now.
    assert!(sub.hand_over(5));
    hub.publish(&[view("t1", 5)]);
    assert!(write_listed(&writers).is_empty());
    assert_eq!(updates(sub.try_next()), vec![("t1".to_owned(), 5)]);
    assert!(sub.hand_over(5));
    hub.publish(&[view("t1", 6)]);
    assert_eq!(write_listed(&writers), [6]);
    assert_eq!(wire.seqs(), [6]);
}

#[test]
fn what_the_task_takes_the_direct_writer_does_not_overtake() {
    let (hub, writers) = direct_hub();
    let wire = Wire::with_room(usize::MAX);
    let (mut sub, _socket) = subscribe_direct(&hub, &wire);
    hub.publish(&[view("t1", 1)]);
    // The task woke for something else and took the queued view first.
    assert_eq!(updates(sub.try_next()), vec![("t1".to_owned(), 1)]);
    hub.publish(&[view("t1", 2)]);
    assert!(
        write_listed(&writers).is_empty(),
        "t1@2 must not reach the wire before t1@1"
    );
    assert_eq!(updates(sub.try_next()), vec![("t1".to_owned(), 2)]);
}

#[test]
fn no_hand_over_without_a_writer_a_socket_or_with_work_queued() {
    let wire = Wire::with_room(usize::MAX);
    let hub = Hub::new();
    let (_, sub) = hub.subscribe(None, false, outlet(wire.clone()));
    assert!(!sub.hand_over(0), "no direct writer runs");
    let (hub, _writers) = direct_hub();
    let (_, sub) = hub.subscribe(None, false, None);
    assert!(!sub.hand_over(0), "no socket");
    let (_, mut sub) = hub.subscribe(None, false, outlet(wire));
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
    let (hub, writers) = direct_hub();
    let wire = Wire::with_room(usize::MAX);
    let (entered_tx, entered) = std::sync::mpsc::channel();
    let (open, open_rx) = std::sync::mpsc::channel();
    let sink = Arc::new(Gated {
        wire: wire.clone(),
        entered: Mutex::new(Some(entered_tx)),
        open: Mutex::new(Some(open_rx)),
    });
    let (_, sub) = hub.subscribe(None, false, outlet(sink));
    assert!(sub.hand_over(0));
    hub.publish(&[view("t1", 1)]);
    let clients = std::mem::take(&mut lock(&writers.list).clients);
    let first = std::thread::spawn(move || {
        let mut sent = Vec::new();
        for client in clients {
            client.deliver(&mut Vec::new(), &mut |v: &Published| {
                sent.push(v.seq());
            });
        }
        sent
    });
    entered.recv().expect("the first writer is in its write");
    hub.publish(&[view("t1", 2)]);
    hub.publish(&[view("t2", 3)]);
    // A second writer takes the client off the list while the first still writes to it.
    assert_eq!(
        write_listed(&writers),
        Vec::<u64>::new(),
        "it must not write"
    );
    open.send(()).expect("writer waits");
    assert_eq!(first.join().expect("first writer"), [1, 2, 3]);
    assert_eq!(wire.seqs(), [1, 2, 3]);
    assert!(lock(&writers.list).clients.is_empty());
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
    let (hub, writers) = direct_hub();
    let log = Arc::new(Mutex::new(Vec::new()));
    let subs: Vec<Subscription> = (0..CLIENTS)
        .map(|client| {
            let sink = Arc::new(Tagged {
                client,
                log: log.clone(),
            });
            let (_, sub) = hub.subscribe(None, false, outlet(sink));
            sub
        })
        .collect();
    let (mut first, mut last) = (HashSet::new(), HashSet::new());
    for seq in 1..=200 {
        for sub in &subs {
            assert!(sub.hand_over(seq - 1));
        }
        hub.publish(&[view("t1", seq)]);
        assert_eq!(write_listed(&writers).len(), CLIENTS);
        let order = std::mem::take(&mut *lock(&log));
        first.extend(order.first().copied());
        last.extend(order.last().copied());
    }
    let every: HashSet<usize> = (0..CLIENTS).collect();
    assert_eq!(first, every, "every client is sometimes first");
    assert_eq!(last, every, "and sometimes last");
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
    let courier = Arc::downgrade(&install(&hub).expect("a new hub has no courier"));
    let writers: Vec<_> = (0..threads())
        .map(|_| {
            let courier = courier.clone();
            std::thread::spawn(move || run(&courier, |_| {}))
        })
        .collect();
    let (_, sub) = hub.subscribe(None, false, outlet(wire.clone()));
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
        let courier = Arc::downgrade(&install(&hub).expect("a new hub has no courier"));
        std::thread::spawn(move || run(&courier, |_| panic!("a bug in a writer")))
    };
    let wire = Wire::with_room(usize::MAX);
    let (_, sub) = hub.subscribe(None, false, outlet(wire.clone()));
    wait_until("the writer never started", || sub.hand_over(0));
    hub.publish(&[view("t1", 1)]);
    assert!(writer.join().is_err(), "the writer panicked");
    let (_, next) = hub.subscribe(None, false, outlet(wire));
    assert!(!next.hand_over(1), "no writer is left to take the socket");
}
