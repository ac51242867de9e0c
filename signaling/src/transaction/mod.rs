//! The RFC 3261 section 17 transaction layer, sans-IO.
//!
//! Feed it parsed messages and the current time; drain what it wants sent with
//! [`TransactionLayer::poll_transmit`], what the transaction user (registrar,
//! B2BUA) must hear with [`TransactionLayer::poll_event`], and ask
//! [`TransactionLayer::poll_timeout`] when to call
//! [`TransactionLayer::handle_timeout`] next. It never reads a clock.
//!
//! # Layout
//!
//! One state machine per transaction kind, each in its own file and each pure
//! (input with `now`, output into an `Effects` sink): `client_invite`
//! (figure 5 with RFC 6026 Accepted), `client_non_invite` (figure 6),
//! `server_invite` (figure 7 with RFC 6026 Accepted) and `server_non_invite`
//! (figure 8). This module matches messages to transactions, allocates ids and
//! owns the queues: a timer heap with lazy cancellation (every arming gets a
//! fresh sequence number; a transaction remembers the number of the live arming
//! of each [`Timer`], so stale heap entries are recognised and skipped), the
//! transmit queue and the event queue.
//!
//! # Matching
//!
//! See `matching.rs`: section 17.2.3 for requests (with a documented take on
//! RFC 2543 peers), section 17.1.3 for responses.
//!
//! # What the transaction user keeps
//!
//! - 2xx to INVITE: the UAS core retransmits its 2xx until the ACK arrives
//!   (section 13.3.1.4) and the UAC core sends the ACK for a 2xx, both through
//!   [`TransactionLayer::send_stateless`]; the ACK for a 2xx arrives as
//!   [`TransactionEvent::Ack`].
//! - Timer C only reports: on [`Timer::C`] the TU sends CANCEL (or treats the
//!   call as failed). The INVITE client transaction then waits 64*T1 more for a
//!   final response (section 9.1) and gives up with [`Timer::B`].
//! - Building responses (To tag, Record-Route, Contact) is the TU's job; the
//!   layer stamps `received`/`rport` on the top Via of every incoming request
//!   ([`crate::headers::stamp_received`]) and sends a server transaction's
//!   responses where [`crate::headers::response_destination`] says.

mod client_invite;
mod client_non_invite;
mod matching;
mod server_invite;
mod server_non_invite;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rsip::{Method, Request, Response, SipMessage};

use crate::transport::{Peer, Transmit};

use client_invite::ClientInvite;
use client_non_invite::ClientNonInvite;
use server_invite::ServerInvite;
use server_non_invite::ServerNonInvite;

use matching::{client_key, client_request_key, server_key, ClientKey, ServerKey};

/// RFC 3261 timer base values (section 17.1.1.1 and table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate, 500 ms by default.
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses, 4 s.
    pub t2: Duration,
    /// Maximum duration a message remains in the network, 5 s.
    pub t4: Duration,
    /// Timer C (proxy INVITE timeout, > 3 min); the B2BUA uses it to cancel
    /// INVITEs stuck after a provisional response.
    pub timer_c: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            timer_c: Duration::from_secs(180),
        }
    }
}

impl TimerConfig {
    /// 64*T1: timers B, F, H, J (unreliable), L and M.
    pub fn t1x64(&self) -> Duration {
        self.t1.saturating_mul(64)
    }

    /// Timer D for an unreliable transport: table 4 asks for at least 32 s.
    pub fn timer_d(&self) -> Duration {
        Duration::from_secs(32)
    }
}

/// The named timers of RFC 3261 section 17 and RFC 6026.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// INVITE request retransmit interval (UDP only).
    A,
    /// INVITE transaction timeout.
    B,
    /// Proceeding timeout of a client INVITE after a provisional response.
    C,
    /// Wait time for response retransmits (client INVITE, Completed).
    D,
    /// Non-INVITE request retransmit interval (UDP only).
    E,
    /// Non-INVITE transaction timeout.
    F,
    /// INVITE final response retransmit interval (server, UDP only).
    G,
    /// Wait time for ACK receipt (server INVITE, Completed).
    H,
    /// Wait time for ACK retransmits (server INVITE, Confirmed).
    I,
    /// Wait time for non-INVITE request retransmits (server, Completed).
    J,
    /// Wait time for non-INVITE response retransmits (client, Completed).
    K,
    /// RFC 6026: server INVITE Accepted state, absorbs INVITE retransmissions after a 2xx.
    L,
    /// RFC 6026: client INVITE Accepted state, passes 2xx retransmissions to the TU.
    M,
}

const TIMER_COUNT: usize = 13;

/// Identifies one transaction for its whole life. Cheap to copy and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId(pub u64);

/// What the transaction user must hear.
#[derive(Debug, Clone)]
pub enum TransactionEvent {
    /// A new request created a server transaction (any method but ACK). For an
    /// INVITE a 100 Trying has already been queued.
    Request {
        /// The new server transaction, to answer with `send_response`.
        id: TransactionId,
        /// The request (Via already carries `received`/`rport` where due).
        request: Request,
        /// Where it came from.
        source: Peer,
    },
    /// An ACK that matched no INVITE server transaction: the ACK for a 2xx,
    /// which belongs to the dialog (section 13.3.1.4), or a stray one.
    Ack {
        /// The ACK.
        request: Request,
        /// Where it came from.
        source: Peer,
    },
    /// A response for a client transaction (provisional or final; retransmitted
    /// 2xx for an INVITE in Accepted state are passed on too, as RFC 6026 says).
    Response {
        /// The client transaction.
        id: TransactionId,
        /// The response.
        response: Response,
    },
    /// A response that matched no client transaction (section 18.1.2: dropped,
    /// but a B2BUA may want to re-ACK a late 2xx).
    StrayResponse {
        /// The response.
        response: Response,
        /// Where it came from.
        source: Peer,
    },
    /// The transaction timed out: Timer B or F for a client transaction (treat as
    /// 408), Timer H for a server INVITE transaction (no ACK), Timer C (the TU
    /// should CANCEL).
    Timeout {
        /// Which transaction.
        id: TransactionId,
        /// Which timer fired.
        timer: Timer,
    },
    /// The transaction is gone; its id will not be seen again.
    Terminated {
        /// Which transaction.
        id: TransactionId,
    },
}

/// Where the state machines put their outputs: transmissions and events go
/// straight to the layer's queues, timer arming to the layer's heap.
pub(crate) struct Effects<'a> {
    id: TransactionId,
    transmits: &'a mut VecDeque<Transmit>,
    events: &'a mut VecDeque<TransactionEvent>,
    timers: &'a mut TimerQueue,
    armed: &'a mut [u64; TIMER_COUNT],
    terminated: bool,
}

impl Effects<'_> {
    /// The transaction these effects belong to.
    pub(crate) fn id(&self) -> TransactionId {
        self.id
    }

    /// Queues bytes for the wire.
    pub(crate) fn send(&mut self, destination: Peer, payload: Bytes) {
        self.transmits.push_back(Transmit { destination, payload });
    }

    /// Queues an event for the TU.
    pub(crate) fn emit(&mut self, event: TransactionEvent) {
        self.events.push_back(event);
    }

    /// Arms (or re-arms) `timer` to fire `delay` after `now`; an earlier
    /// arming is void. A delay beyond what `Instant` can represent (a silly
    /// configuration) leaves the timer disarmed, i.e. it never fires.
    pub(crate) fn arm(&mut self, timer: Timer, now: Instant, delay: Duration) {
        match now.checked_add(delay) {
            Some(at) => {
                let seq = self.timers.push(at, self.id, timer);
                self.armed[timer as usize] = seq;
            }
            None => self.disarm(timer),
        }
    }

    /// Cancels `timer` if armed.
    pub(crate) fn disarm(&mut self, timer: Timer) {
        self.armed[timer as usize] = 0;
    }

    /// Ends the transaction once the current input is handled; the layer
    /// forgets it and emits [`TransactionEvent::Terminated`].
    pub(crate) fn terminate(&mut self) {
        self.terminated = true;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct TimerEntry {
    at: Instant,
    seq: u64,
    id: TransactionId,
    timer: Timer,
}

#[derive(Debug, Default)]
struct TimerQueue {
    heap: BinaryHeap<Reverse<TimerEntry>>,
    next_seq: u64,
}

impl TimerQueue {
    /// Pushes an arming; sequence numbers start at 1 (0 means "not armed").
    fn push(&mut self, at: Instant, id: TransactionId, timer: Timer) -> u64 {
        self.next_seq += 1;
        let seq = self.next_seq;
        self.heap.push(Reverse(TimerEntry { at, seq, id, timer }));
        seq
    }
}

/// The four kinds, under their usual RFC 3261 initials.
#[derive(Debug)]
enum Machine {
    /// INVITE client transaction (boxed: it keeps the ACK template).
    Ict(Box<ClientInvite>),
    /// Non-INVITE client transaction.
    Nict(ClientNonInvite),
    /// INVITE server transaction.
    Ist(ServerInvite),
    /// Non-INVITE server transaction.
    Nist(ServerNonInvite),
}

#[derive(Debug, Clone)]
enum Key {
    Client(ClientKey),
    Server(ServerKey),
}

#[derive(Debug)]
struct Entry {
    machine: Machine,
    armed: [u64; TIMER_COUNT],
    key: Key,
}

/// The transaction layer: all client and server transactions of an endpoint.
#[derive(Debug)]
pub struct TransactionLayer {
    config: TimerConfig,
    next_id: u64,
    transactions: HashMap<TransactionId, Entry>,
    clients: HashMap<ClientKey, TransactionId>,
    servers: HashMap<ServerKey, TransactionId>,
    timers: TimerQueue,
    transmits: VecDeque<Transmit>,
    events: VecDeque<TransactionEvent>,
    dropped: u64,
}

impl TransactionLayer {
    /// An empty layer with the given timer values.
    pub fn new(config: TimerConfig) -> Self {
        TransactionLayer {
            config,
            next_id: 0,
            transactions: HashMap::new(),
            clients: HashMap::new(),
            servers: HashMap::new(),
            timers: TimerQueue::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            dropped: 0,
        }
    }

    /// The timer values in use.
    pub fn config(&self) -> &TimerConfig {
        &self.config
    }

    /// Messages dropped because they could not be matched to or start a
    /// transaction (no usable top Via or CSeq), and requests refused by
    /// [`TransactionLayer::send_request`]. For metrics.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// True while the transaction `id` is alive.
    pub fn contains(&self, id: TransactionId) -> bool {
        self.transactions.contains_key(&id)
    }

    /// A message from the transport, already framed and validated. Requests
    /// are matched to server transactions (section 17.2.3, RFC 3261 branches;
    /// retransmissions are absorbed and the last response re-sent), responses to
    /// client transactions (section 17.1.3).
    pub fn handle_message(&mut self, now: Instant, message: SipMessage, source: Peer) {
        match message {
            SipMessage::Request(request) => self.handle_request(now, request, source),
            SipMessage::Response(response) => self.handle_response(now, response, source),
        }
        self.prune_timers();
    }

    fn handle_request(&mut self, now: Instant, mut request: Request, source: Peer) {
        // Section 18.2.1 / RFC 3581; idempotent if the transport did it already.
        crate::headers::stamp_received(&mut request.headers, source);
        let Some(key) = server_key(&request) else {
            tracing::debug!(%source, "request without usable Via/CSeq dropped");
            self.dropped += 1;
            return;
        };
        if let Some(&id) = self.servers.get(&key) {
            self.with_machine(id, |machine, fx| match machine {
                Machine::Ist(t) => t.on_request(now, request, source, fx),
                Machine::Nist(t) => t.on_request(now, fx),
                // Server keys only ever index server transactions.
                Machine::Ict(_) | Machine::Nict(_) => {}
            });
            return;
        }
        if request.method == Method::Ack {
            self.events.push_back(TransactionEvent::Ack { request, source });
            return;
        }
        let id = self.allocate_id();
        let destination = crate::headers::response_destination(&request.headers, source);
        let machine = if request.method == Method::Invite {
            Machine::Ist(ServerInvite::new(&request, destination, self.config))
        } else {
            Machine::Nist(ServerNonInvite::new(&request, destination, self.config))
        };
        self.insert(id, machine, Key::Server(key));
        self.with_machine(id, |machine, fx| {
            if let Machine::Ist(t) = machine {
                t.start(now, fx);
            }
        });
        self.events.push_back(TransactionEvent::Request { id, request, source });
    }

    fn handle_response(&mut self, now: Instant, response: Response, source: Peer) {
        let id = client_key(&response).and_then(|key| self.clients.get(&key).copied());
        let Some(id) = id else {
            self.events
                .push_back(TransactionEvent::StrayResponse { response, source });
            return;
        };
        self.with_machine(id, |machine, fx| match machine {
            Machine::Ict(t) => t.on_response(now, response, fx),
            Machine::Nict(t) => t.on_response(now, response, fx),
            Machine::Ist(_) | Machine::Nist(_) => {}
        });
    }

    /// Starts a client transaction for `request` (whose top Via carries a fresh
    /// RFC 3261 branch) towards `destination`. ACK is not allowed here: send it
    /// with [`TransactionLayer::send_stateless`].
    ///
    /// A request that cannot start a transaction (an ACK, no top Via branch, no
    /// CSeq, or a branch already in use for the method) is not sent: the id
    /// is reported [`TransactionEvent::Terminated`] at once and counted in
    /// [`TransactionLayer::dropped`].
    pub fn send_request(&mut self, now: Instant, request: Request, destination: Peer) -> TransactionId {
        let id = self.allocate_id();
        let key = client_request_key(&request).filter(|key| !self.clients.contains_key(key));
        let Some(key) = key.filter(|_| request.method != Method::Ack) else {
            tracing::warn!(method = %request.method, "request refused by the transaction layer");
            self.dropped += 1;
            self.events.push_back(TransactionEvent::Terminated { id });
            return id;
        };
        let machine = if request.method == Method::Invite {
            Machine::Ict(Box::new(ClientInvite::new(&request, destination, self.config)))
        } else {
            Machine::Nict(ClientNonInvite::new(&request, destination, self.config))
        };
        self.insert(id, machine, Key::Client(key));
        self.with_machine(id, |machine, fx| match machine {
            Machine::Ict(t) => t.start(now, fx),
            Machine::Nict(t) => t.start(now, fx),
            Machine::Ist(_) | Machine::Nist(_) => {}
        });
        self.prune_timers();
        id
    }

    /// Answers a server transaction. Ignored if the transaction is gone or
    /// already final.
    pub fn send_response(&mut self, now: Instant, id: TransactionId, response: Response) {
        self.with_machine(id, |machine, fx| match machine {
            Machine::Ist(t) => t.send_response(now, response, fx),
            Machine::Nist(t) => t.send_response(now, response, fx),
            Machine::Ict(_) | Machine::Nict(_) => {}
        });
        self.prune_timers();
    }

    /// Sends a message outside any transaction (ACK for 2xx, 2xx retransmissions
    /// by the UAS core, stateless answers).
    pub fn send_stateless(&mut self, message: SipMessage, destination: Peer) {
        self.transmits.push_back(Transmit {
            destination,
            payload: serialize(&message),
        });
    }

    /// The INVITE server transaction that a CANCEL server transaction targets
    /// (section 9.2: same branch, sent-by and Request-URI), if it is still alive.
    pub fn invite_for_cancel(&self, cancel: TransactionId) -> Option<TransactionId> {
        let entry = self.transactions.get(&cancel)?;
        let (Machine::Nist(cancel_txn), Key::Server(key)) = (&entry.machine, &entry.key) else {
            return None;
        };
        if key.method != Method::Cancel.to_string() {
            return None;
        }
        let invite_key = ServerKey {
            method: Method::Invite.to_string(),
            ..key.clone()
        };
        let id = *self.servers.get(&invite_key)?;
        match &self.transactions.get(&id)?.machine {
            Machine::Ist(invite) if invite.uri() == cancel_txn.uri() => Some(id),
            _ => None,
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse(entry)) = self.timers.heap.peek().copied() {
            if entry.at > now {
                break;
            }
            self.timers.heap.pop();
            let live = self
                .transactions
                .get_mut(&entry.id)
                .filter(|t| t.armed[entry.timer as usize] == entry.seq);
            let Some(txn) = live else { continue };
            txn.armed[entry.timer as usize] = 0;
            tracing::trace!(id = entry.id.0, timer = ?entry.timer, "timer fired");
            self.with_machine(entry.id, |machine, fx| match machine {
                Machine::Ict(t) => t.on_timer(now, entry.timer, fx),
                Machine::Nict(t) => t.on_timer(now, entry.timer, fx),
                Machine::Ist(t) => t.on_timer(now, entry.timer, fx),
                Machine::Nist(t) => t.on_timer(now, entry.timer, fx),
            });
        }
        self.prune_timers();
    }

    /// When `handle_timeout` must be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        // Stale entries are pruned off the top after every input, so the top
        // is a live timer.
        self.timers.heap.peek().map(|Reverse(entry)| entry.at)
    }

    /// The next message to put on the wire.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the transaction user.
    pub fn poll_event(&mut self) -> Option<TransactionEvent> {
        self.events.pop_front()
    }

    /// Live transactions, for metrics and tests.
    pub fn len(&self) -> usize {
        self.transactions.len()
    }

    /// True when no transaction is alive.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn allocate_id(&mut self) -> TransactionId {
        self.next_id += 1;
        TransactionId(self.next_id)
    }

    fn insert(&mut self, id: TransactionId, machine: Machine, key: Key) {
        match &key {
            Key::Client(k) => self.clients.insert(k.clone(), id),
            Key::Server(k) => self.servers.insert(k.clone(), id),
        };
        self.transactions.insert(
            id,
            Entry {
                machine,
                armed: [0; TIMER_COUNT],
                key,
            },
        );
    }

    /// Runs `f` on the machine of `id` with an effects sink, then removes the
    /// transaction if it terminated.
    fn with_machine(&mut self, id: TransactionId, f: impl FnOnce(&mut Machine, &mut Effects<'_>)) {
        let Some(entry) = self.transactions.get_mut(&id) else {
            return;
        };
        let mut fx = Effects {
            id,
            transmits: &mut self.transmits,
            events: &mut self.events,
            timers: &mut self.timers,
            armed: &mut entry.armed,
            terminated: false,
        };
        f(&mut entry.machine, &mut fx);
        if fx.terminated {
            self.remove(id);
        }
    }

    fn remove(&mut self, id: TransactionId) {
        let Some(entry) = self.transactions.remove(&id) else {
            return;
        };
        match entry.key {
            Key::Client(k) => {
                if self.clients.get(&k) == Some(&id) {
                    self.clients.remove(&k);
                }
            }
            Key::Server(k) => {
                if self.servers.get(&k) == Some(&id) {
                    self.servers.remove(&k);
                }
            }
        }
        tracing::trace!(id = id.0, "transaction terminated");
        self.events.push_back(TransactionEvent::Terminated { id });
    }

    /// Pops cancelled or orphaned timer entries off the top of the heap, so
    /// that `poll_timeout` reports a live deadline.
    fn prune_timers(&mut self) {
        while let Some(Reverse(entry)) = self.timers.heap.peek() {
            let live = self
                .transactions
                .get(&entry.id)
                .is_some_and(|t| t.armed[entry.timer as usize] == entry.seq);
            if live {
                break;
            }
            self.timers.heap.pop();
        }
    }
}

/// Serializes a message once; retransmissions reuse the bytes.
pub(crate) fn serialize(message: &impl ToString) -> Bytes {
    Bytes::from(message.to_string())
}

/// The status code of a response as a number.
pub(crate) fn status(response: &Response) -> u16 {
    response.status_code.code()
}
