//! Browser legs inside a worker: a WebRTC [`Session`] (ICE-lite, DTLS-SRTP,
//! RTCP) on the leg's own socket, in front of the leg's place in the core.
//!
//! The browser's datagrams are read from the leg's RTP socket like a phone's
//! and go into the session; the plain RTP it makes of them goes into the core
//! as if it had arrived on the leg, and what the core sends the leg (relayed,
//! transcoded, generated) goes into the session instead of onto the wire.
//! So the core treats a browser as one more RTP phone (transcoding, digits,
//! recording, quality stats) and a packet costs one receive and one send,
//! as for a phone: no hop through another thread or socket.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::Instant;

use crate::webrtc::{Session, SessionOutput, WebRtcEvent};

use super::core::LegId;

/// A browser leg's session, as handed to its worker.
pub(crate) struct BrowserSide {
    pub(crate) session: Box<Session>,
    /// Where the session's events go.
    pub(crate) events: tokio::sync::mpsc::UnboundedSender<WebRtcEvent>,
    /// The source the core sees for the session's RTP: the remote address
    /// the leg was configured with, so the core's latch accepts it.
    pub(crate) engine_peer: SocketAddr,
}

impl std::fmt::Debug for BrowserSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserSide").field("session", &self.session).finish()
    }
}

struct Attached {
    leg: LegId,
    side: BrowserSide,
    deadline: Option<Instant>,
}

/// What a drained session asks of the worker.
pub(crate) enum Output {
    /// Send `payload` to `to` from the leg's socket (slot).
    ToBrowser {
        slot: usize,
        to: SocketAddr,
        payload: Vec<u8>,
    },
    /// Give this plain RTP to the core as arriving on `leg` from `from`.
    ToCore {
        leg: LegId,
        from: SocketAddr,
        packet: Vec<u8>,
    },
}

/// The browser legs of one worker, by socket slot.
#[derive(Default)]
pub(crate) struct Browsers {
    slots: Vec<Option<Attached>>,
    /// Sessions' deadlines, earliest first; an entry is stale when its slot
    /// has since moved its deadline, so finding the next costs no walk.
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Sessions given input since they were last drained.
    touched: Vec<usize>,
}

impl Browsers {
    /// The leg on `slot` becomes a browser leg.
    pub(crate) fn attach(&mut self, now: Instant, slot: usize, leg: LegId, side: BrowserSide) {
        if self.slots.len() <= slot {
            self.slots.resize_with(slot + 1, || None);
        }
        self.slots[slot] = Some(Attached {
            leg,
            side,
            deadline: Some(now),
        });
        self.timers.push(Reverse((now, slot)));
        self.touched.push(slot);
    }

    /// The slot's leg is gone (its session with it).
    pub(crate) fn remove(&mut self, slot: usize) {
        if let Some(s) = self.slots.get_mut(slot) {
            *s = None;
        }
    }

    /// The slot holds a browser leg.
    pub(crate) fn is_browser(&self, slot: usize) -> bool {
        matches!(self.slots.get(slot), Some(Some(_)))
    }

    /// The session on `slot`, for SDP work.
    pub(crate) fn session(&mut self, slot: usize) -> Option<&mut Session> {
        let attached = self.slots.get_mut(slot)?.as_mut()?;
        self.touched.push(slot);
        Some(&mut attached.side.session)
    }

    /// A datagram from the browser arrived on the slot's socket.
    pub(crate) fn receive_from_browser(&mut self, now: Instant, slot: usize, from: SocketAddr, datagram: &[u8]) {
        if let Some(Some(a)) = self.slots.get_mut(slot) {
            a.side.session.handle_browser(now, from, datagram);
            self.touched.push(slot);
        }
    }

    /// Plain RTP (or RTCP, which the session drops) the core sends the leg.
    pub(crate) fn send_to_browser(&mut self, now: Instant, slot: usize, packet: &[u8]) {
        if let Some(Some(a)) = self.slots.get_mut(slot) {
            a.side.session.handle_engine(now, packet);
            self.touched.push(slot);
        }
    }

    /// The next session deadline.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, slot))) = self.timers.peek() {
            if matches!(self.slots.get(slot), Some(Some(a)) if a.deadline == Some(at)) {
                return Some(at);
            }
            self.timers.pop();
        }
        None
    }

    /// Runs the sessions whose deadline passed.
    pub(crate) fn handle_timeouts(&mut self, now: Instant) {
        while let Some(&Reverse((at, slot))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            if let Some(Some(a)) = self.slots.get_mut(slot) {
                if a.deadline == Some(at) {
                    // Consumed: draining sets and queues the next one.
                    a.deadline = None;
                    a.side.session.handle_timeout(now);
                    self.touched.push(slot);
                }
            }
        }
    }

    /// Sessions wait to be drained.
    pub(crate) fn has_touched(&self) -> bool {
        !self.touched.is_empty()
    }

    /// Drains every session given input since the last drain: events go
    /// out here, datagrams and RTP into `out` for the worker.
    pub(crate) fn drain(&mut self, now: Instant, out: &mut Vec<Output>) {
        let mut touched = std::mem::take(&mut self.touched);
        touched.sort_unstable();
        touched.dedup();
        for &slot in &touched {
            let Some(Some(a)) = self.slots.get_mut(slot) else {
                continue;
            };
            let before = a.deadline;
            loop {
                match a.side.session.poll() {
                    SessionOutput::ToBrowser { to, payload } => out.push(Output::ToBrowser { slot, to, payload }),
                    SessionOutput::ToEngine(packet) => out.push(Output::ToCore {
                        leg: a.leg,
                        from: a.side.engine_peer,
                        packet,
                    }),
                    SessionOutput::Event(event) => {
                        let _ = a.side.events.send(WebRtcEvent {
                            session: a.leg,
                            event,
                            at: now,
                        });
                    }
                    SessionOutput::Timeout(at) => {
                        a.deadline = Some(at);
                        break;
                    }
                }
            }
            if a.deadline != before {
                if let Some(at) = a.deadline {
                    self.timers.push(Reverse((at, slot)));
                }
            }
        }
        // Keep the allocation for the next round.
        touched.clear();
        if self.touched.is_empty() {
            self.touched = touched;
        }
    }
}
