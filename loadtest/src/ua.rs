//! The tester's SIP user agent core: one UDP socket, the signaling crate's
//! transaction layer, and a router that hands each message to the call or
//! agent it belongs to.
//!
//! One task owns the transaction layer (it is a sans-IO state machine: this
//! task feeds it the clock and the socket); calls and agents are tasks of
//! their own that talk to it over channels. Messages are routed by Call-ID;
//! a new INVITE goes to the agent named by its Request-URI user.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use rsip::{Method, Request, Response, SipMessage};
use signaling::headers;
use signaling::message::Limits;
use signaling::net::{NetEvent, Network};
use signaling::transaction::{TimerConfig, TransactionEvent, TransactionId, TransactionLayer};
use signaling::transport::{Peer, Transport};
use tokio::sync::mpsc;

/// What a call or an agent hears from the core, stamped when the core took it
/// off the socket's queue.
#[derive(Debug)]
pub(crate) enum SipIn {
    /// A request (a new server transaction; answer it with [`Ua::respond`]).
    Request {
        /// When it arrived.
        at: Instant,
        /// The server transaction.
        id: TransactionId,
        /// The request.
        request: Request,
        /// Where it came from.
        source: Peer,
    },
    /// The ACK for a 2xx we sent.
    Ack,
    /// A response to one of our requests (retransmitted 2xx included).
    Response {
        /// When it arrived.
        at: Instant,
        /// The response.
        response: Response,
    },
    /// One of our requests got no final response (timer B or F).
    Timeout,
}

enum Command {
    Route(String, mpsc::UnboundedSender<SipIn>),
    Unroute(String),
    Agent(String, mpsc::UnboundedSender<SipIn>),
    Request(Request, Peer),
    Respond(TransactionId, Response),
    Stateless(SipMessage, Peer),
}

/// A handle on the core; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Ua {
    commands: mpsc::UnboundedSender<CommandBox>,
    /// Our socket's address, for Via and Contact.
    pub(crate) local: SocketAddr,
    /// Where requests go (the platform under test).
    pub(crate) target: Peer,
}

/// Commands boxed so the channel's slots stay small.
struct CommandBox(Box<Command>);

impl std::fmt::Debug for CommandBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

impl Ua {
    /// Binds a UDP socket on `bind` (port 0: any) and starts the core task.
    pub(crate) async fn start(bind: SocketAddr, target: SocketAddr) -> std::io::Result<Ua> {
        let (events_tx, events) = mpsc::channel(65_536);
        let network = Network::bind(&[bind], &[], Limits::default(), events_tx).await?;
        let local = network
            .local_addr(Transport::Udp)
            .ok_or_else(|| std::io::Error::other("no UDP socket"))?;
        let (commands, commands_rx) = mpsc::unbounded_channel();
        tokio::spawn(core(network, events, commands_rx));
        Ok(Ua {
            commands,
            local,
            target: Peer::udp(target),
        })
    }

    fn send(&self, c: Command) {
        let _ = self.commands.send(CommandBox(Box::new(c)));
    }

    /// Messages of dialog `call_id` go to `to` from now on.
    pub(crate) fn route(&self, call_id: &str, to: mpsc::UnboundedSender<SipIn>) {
        self.send(Command::Route(call_id.to_string(), to));
    }

    /// Forget `call_id`'s route.
    pub(crate) fn unroute(&self, call_id: &str) {
        self.send(Command::Unroute(call_id.to_string()));
    }

    /// New INVITEs for Request-URI user `user` go to `to`.
    pub(crate) fn agent(&self, user: &str, to: mpsc::UnboundedSender<SipIn>) {
        self.send(Command::Agent(user.to_string(), to));
    }

    /// Sends a request in a new client transaction to the target.
    pub(crate) fn request(&self, request: Request) {
        self.send(Command::Request(request, self.target));
    }

    /// Answers a server transaction.
    pub(crate) fn respond(&self, id: TransactionId, response: Response) {
        self.send(Command::Respond(id, response));
    }

    /// Sends outside any transaction (ACK for a 2xx, a 2xx retransmission).
    pub(crate) fn stateless(&self, message: SipMessage, to: Peer) {
        self.send(Command::Stateless(message, to));
    }

    /// A Via value with a fresh branch.
    pub(crate) fn via(&self) -> String {
        format!("SIP/2.0/UDP {};branch={};rport", self.local, headers::new_branch())
    }
}

struct Router {
    calls: HashMap<String, mpsc::UnboundedSender<SipIn>>,
    agents: HashMap<String, mpsc::UnboundedSender<SipIn>>,
    /// Client transactions by id, to tell a timeout to its call.
    pending: HashMap<TransactionId, String>,
}

impl Router {
    fn deliver(&mut self, call_id: &str, message: SipIn) {
        if let Some(to) = self.calls.get(call_id) {
            if to.send(message).is_err() {
                self.calls.remove(call_id);
            }
        }
    }

    fn event(&mut self, layer: &mut TransactionLayer, now: Instant, event: TransactionEvent) {
        match event {
            TransactionEvent::Request { id, request, source } => {
                let Ok(call_id) = headers::call_id(&request.headers).map(str::to_owned) else {
                    return;
                };
                if !self.calls.contains_key(&call_id) && request.method == Method::Invite {
                    let user = headers::user_of(&request.uri.to_string())
                        .unwrap_or_default()
                        .to_string();
                    if let Some(agent) = self.agents.get(&user) {
                        self.calls.insert(call_id.clone(), agent.clone());
                    }
                }
                if self.calls.contains_key(&call_id) {
                    self.deliver(
                        &call_id,
                        SipIn::Request {
                            at: now,
                            id,
                            request,
                            source,
                        },
                    );
                } else {
                    // Not ours (a call already ended): 481, as RFC 3261 12.2.2 says.
                    let code = if request.method == Method::Options { 200 } else { 481 };
                    let response = signaling::response::response_for(&request, signaling::response::status(code), None);
                    layer.send_response(now, id, response);
                }
            }
            TransactionEvent::Ack { request, .. } => {
                if let Ok(call_id) = headers::call_id(&request.headers) {
                    let call_id = call_id.to_owned();
                    self.deliver(&call_id, SipIn::Ack);
                }
            }
            TransactionEvent::Response { response, .. } | TransactionEvent::StrayResponse { response, .. } => {
                if let Ok(call_id) = headers::call_id(&response.headers) {
                    let call_id = call_id.to_owned();
                    self.deliver(&call_id, SipIn::Response { at: now, response });
                }
            }
            TransactionEvent::Timeout { id, timer } => {
                use signaling::transaction::Timer;
                if matches!(timer, Timer::B | Timer::F) {
                    if let Some(call_id) = self.pending.get(&id).cloned() {
                        self.deliver(&call_id, SipIn::Timeout);
                    }
                }
            }
            TransactionEvent::Terminated { id } => {
                self.pending.remove(&id);
            }
        }
    }
}

async fn core(
    network: Network,
    mut events: mpsc::Receiver<NetEvent>,
    mut commands: mpsc::UnboundedReceiver<CommandBox>,
) {
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let mut router = Router {
        calls: HashMap::new(),
        agents: HashMap::new(),
        pending: HashMap::new(),
    };
    loop {
        let deadline = layer.poll_timeout();
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { return };
                let now = Instant::now();
                if let NetEvent::Message { message, source } = event {
                    layer.handle_message(now, message, source);
                }
                // Take what else is queued now, so one wake-up serves a burst.
                while let Ok(NetEvent::Message { message, source }) = events.try_recv() {
                    layer.handle_message(now, message, source);
                }
            }
            command = commands.recv() => {
                let Some(CommandBox(command)) = command else { return };
                let now = Instant::now();
                match *command {
                    Command::Route(call_id, to) => { router.calls.insert(call_id, to); }
                    Command::Unroute(call_id) => { router.calls.remove(&call_id); }
                    Command::Agent(user, to) => { router.agents.insert(user, to); }
                    Command::Request(request, to) => {
                        let call_id = headers::call_id(&request.headers).map(str::to_owned).unwrap_or_default();
                        let id = layer.send_request(now, request, to);
                        router.pending.insert(id, call_id);
                    }
                    Command::Respond(id, response) => layer.send_response(now, id, response),
                    Command::Stateless(message, to) => layer.send_stateless(message, to),
                }
            }
            () = sleep => layer.handle_timeout(Instant::now()),
        }
        let now = Instant::now();
        while let Some(transmit) = layer.poll_transmit() {
            network.send(transmit);
        }
        while let Some(event) = layer.poll_event() {
            router.event(&mut layer, now, event);
        }
        while let Some(transmit) = layer.poll_transmit() {
            network.send(transmit);
        }
    }
}
