//! The media side of a call: the switch anchors every call's media, so each
//! side gets its own RTP leg and its own offer/answer (RFC 3264) with the
//! switch, and the engine bridges the two legs.
//!
//! The agent is offered only the codecs the caller offered (in the caller's
//! order), and the caller is answered with the codec the agent chose when it
//! can take it, so the usual call relays packets without transcoding.

use media::engine::{AllocateError, Direction as LegDirection, Leg, LegConfig, LegId};
use media::sdp::{self, Direction, LocalCapabilities, LocalOrigin, Negotiated, Session};

mod browser;
mod engine;

pub(crate) use browser::{is_webrtc_offer, offer_holds};

/// What call control needs from the media engine. Owned here, implemented by
/// the engine, and by a fake in tests.
pub(crate) trait MediaControl: Send {
    /// A leg of call `group` with its local RTP address.
    fn allocate(&mut self, group: u64) -> Result<Leg, AllocateError>;
    /// Applies a negotiation result.
    fn configure(&mut self, leg: LegId, config: LegConfig);
    /// Connects two legs.
    fn bridge(&mut self, a: LegId, b: LegId);
    /// Frees a leg.
    fn release(&mut self, leg: LegId);
    /// Plays a playlist to the leg's phone.
    fn play(&mut self, leg: LegId, playlist: media::player::Playlist);
    /// Stops what plays on the leg.
    fn stop(&mut self, leg: LegId);
    /// Records what the leg's phone says into a WAV file.
    fn record(&mut self, leg: LegId, path: std::path::PathBuf, max: std::time::Duration);
    /// Ends a recording early.
    fn stop_recording(&mut self, leg: LegId);
    /// Records a call into a stereo WAV (`agent` absent: the caller alone,
    /// in an IVR flow); the recording is known by the caller's leg.
    fn record_call(&mut self, caller: LegId, agent: Option<LegId>, spec: CallRecordingSpec);
    /// Pauses a call's recording: silence is written until it resumes.
    fn pause_call_recording(&mut self, caller: LegId);
    /// Resumes a paused call recording.
    fn resume_call_recording(&mut self, caller: LegId);
    /// Ends a call's recording; the engine finishes the file.
    fn stop_call_recording(&mut self, caller: LegId);
    /// Whether the agent with this address of record is configured as a
    /// browser agent (offered WebRTC media whatever its transport).
    fn browser_agent(&self, _aor: &str) -> bool {
        false
    }
    /// A WebRTC leg in front of engine leg `leg` for a browser: the SDP
    /// offer for it. `None` without a WebRTC gateway (plain RTP is offered).
    /// `peer_codec` is the codec of the call's other end when known (a
    /// G.711 peer gets narrowband Opus asked of the browser).
    fn offer_browser(&mut self, _leg: &Leg, _peer_codec: Option<&str>) -> Option<Vec<u8>> {
        None
    }
    /// The browser's answer to [`MediaControl::offer_browser`]'s offer:
    /// how to configure the engine leg behind it.
    fn browser_answered(&mut self, _leg: LegId, _sdp: &[u8]) -> Result<LegConfig, MediaFailure> {
        Err(MediaFailure::NotAcceptable)
    }
    /// A new offer from a browser whose leg is up (hold, resume): the
    /// gateway's answer from the same session, and the engine leg's new
    /// configuration.
    fn browser_reoffer(&mut self, _leg: LegId, _sdp: &[u8]) -> Result<(Vec<u8>, LegConfig), MediaFailure> {
        Err(MediaFailure::NotAcceptable)
    }
    /// A browser calls (its INVITE carries a WebRTC offer): the gateway
    /// answers it in front of engine leg `leg`; returns the answer and the
    /// engine leg's configuration.
    fn answer_browser(&mut self, _leg: &Leg, _offer: &[u8]) -> Result<(Vec<u8>, LegConfig), MediaFailure> {
        Err(MediaFailure::NotAcceptable)
    }
}

/// How a call is recorded, for the media engine: the files, rate and
/// layout, and the sidecar its recorder keeps beside the WAV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CallRecordingSpec {
    /// Files, rate, layout.
    pub(crate) spec: recordings::RecorderSpec,
    /// The sidecar as the recording starts.
    pub(crate) sidecar: recordings::Sidecar,
}

/// Why media could not be set up, with the SIP status to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MediaFailure {
    /// No RTP port: 503 with Retry-After.
    Exhausted,
    /// SDP we cannot use (no common codec, no audio): 488.
    NotAcceptable,
    /// SDP we cannot read: 400.
    BadSdp,
}

impl MediaFailure {
    pub(crate) fn status(self) -> u16 {
        match self {
            MediaFailure::Exhausted => 503,
            MediaFailure::NotAcceptable => 488,
            MediaFailure::BadSdp => 400,
        }
    }
}

fn failure(e: sdp::SdpError) -> MediaFailure {
    match e {
        sdp::SdpError::NotUtf8 | sdp::SdpError::Malformed { .. } | sdp::SdpError::Missing(_) => MediaFailure::BadSdp,
        _ => MediaFailure::NotAcceptable,
    }
}

fn leg_config(n: &Negotiated) -> LegConfig {
    LegConfig {
        remote_rtp: Some(n.remote_rtp),
        remote_rtcp: n.remote_rtcp,
        rtcp_mux: n.rtcp_mux,
        payload_type: n.codec.payload_type,
        clock_rate: n.codec.clock_rate,
        codec: n.codec.encoding.to_ascii_uppercase(),
        telephone_event: n.telephone_event_pt,
        direction: LegDirection {
            send: n.direction.sends(),
            receive: n.direction.receives(),
        },
    }
}

/// A leg whose peer has not answered yet: no address, sends and receives
/// nothing (the engine treats it like a leg on hold).
fn dialling_config() -> LegConfig {
    LegConfig {
        remote_rtp: None,
        remote_rtcp: None,
        rtcp_mux: false,
        payload_type: 0,
        clock_rate: 8000,
        codec: String::new(),
        telephone_event: None,
        direction: LegDirection {
            send: false,
            receive: false,
        },
    }
}

/// The caller's offer in an INVITE body; `None` for a late offer (no body).
fn offer_in(body: &[u8]) -> Result<Option<Session>, MediaFailure> {
    match body.is_empty() {
        true => Ok(None),
        false => Session::from_bytes(body).map(Some).map_err(failure),
    }
}

/// Our capabilities narrowed to what `offer` carries, in the offer's order.
fn narrowed_to(caps: &LocalCapabilities, offer: &Session) -> LocalCapabilities {
    let mut narrowed = LocalCapabilities {
        codecs: Vec::new(),
        ..caps.clone()
    };
    if let Some(m) = offer.media.iter().find(|m| m.kind == "audio" && m.port != 0) {
        for pt in m.payload_types() {
            let Some(map) = m.rtpmap(pt) else { continue };
            if let Some(c) = caps
                .codecs
                .iter()
                .find(|c| map.is(&c.encoding, c.clock_rate, c.channels))
            {
                if !narrowed.codecs.contains(c) {
                    narrowed.codecs.push(c.clone());
                }
            }
        }
    }
    narrowed
}

/// Our capabilities with `encoding` first.
fn preferring(caps: &LocalCapabilities, encoding: &str) -> LocalCapabilities {
    let mut preferred = caps.clone();
    preferred
        .codecs
        .sort_by_key(|c| !c.encoding.eq_ignore_ascii_case(encoding));
    preferred
}

/// An agent's leg and our offer to it while it rings, before it answers.
#[derive(Debug)]
pub(crate) struct AgentOffer {
    /// The leg offered to the agent.
    pub(crate) leg: Leg,
    offer: Session,
    origin: LocalOrigin,
    /// Offered WebRTC media through the gateway (a browser agent).
    browser: bool,
}

/// Media state of one call.
#[derive(Debug)]
pub(crate) struct CallMedia {
    pub(crate) caller: Leg,
    /// The agent's leg; `None` while the switch itself talks to the caller.
    pub(crate) agent: Option<Leg>,
    caps: LocalCapabilities,
    /// The caller's offer; `None` for a late offer (INVITE without SDP).
    caller_offer: Option<Session>,
    /// Our offer to the caller when it made a late offer.
    caller_offer_sent: Option<Session>,
    /// What we last sent the caller (answer or late offer).
    caller_sdp: Option<Session>,
    caller_origin: LocalOrigin,
    caller_codec: Option<String>,
    agent_offer: Option<Session>,
    agent_origin: LocalOrigin,
    agent_codec: Option<String>,
    /// The agent's leg is a browser's, behind the WebRTC gateway.
    agent_browser: bool,
    /// The caller is a browser: the gateway's answer to its offer.
    caller_browser: Option<Vec<u8>>,
}

impl CallMedia {
    /// Allocates both legs and builds the offer for the agent from the
    /// caller's INVITE body (empty: a late offer).
    pub(crate) fn start(
        control: &mut dyn MediaControl,
        group: u64,
        caller_body: &[u8],
        caps: &LocalCapabilities,
        agent_browser: bool,
    ) -> Result<(CallMedia, Vec<u8>), MediaFailure> {
        let browser_caller = is_webrtc_offer(caller_body);
        // A browser's offer is answered by the gateway; here it only tells
        // which codecs to offer the agent.
        let caller_offer = match browser_caller {
            true => Session::from_bytes(caller_body).ok(),
            false => offer_in(caller_body)?,
        };
        let agent_caps = match &caller_offer {
            Some(offer) => narrowed_to(caps, offer),
            None => caps.clone(),
        };
        if agent_caps.codecs.iter().all(|c| c.is_telephone_event()) {
            return Err(MediaFailure::NotAcceptable);
        }
        let caller = control.allocate(group).map_err(|_| MediaFailure::Exhausted)?;
        let agent = match control.allocate(group) {
            Ok(leg) => leg,
            Err(_) => {
                control.release(caller.id);
                return Err(MediaFailure::Exhausted);
            }
        };
        let agent_origin = LocalOrigin::new(rand::random::<u32>().into());
        let agent_offer = sdp::offer(
            &agent_caps,
            agent.local.ip(),
            agent.local.port(),
            Direction::SendRecv,
            &agent_origin,
        );
        let mut body = agent_offer.to_bytes();
        let mut media = CallMedia {
            caller,
            agent: Some(agent),
            caps: caps.clone(),
            caller_offer: caller_offer.filter(|_| !browser_caller),
            caller_offer_sent: None,
            caller_sdp: None,
            caller_origin: LocalOrigin::new(rand::random::<u32>().into()),
            caller_codec: None,
            agent_offer: Some(agent_offer),
            agent_origin,
            agent_codec: None,
            agent_browser: false,
            caller_browser: None,
        };
        if browser_caller {
            // The browser is answered at once: its leg is ready (and ICE
            // and DTLS can start) as soon as the agent's answer is relayed.
            match control.answer_browser(&caller, caller_body) {
                Ok((answer, config)) => {
                    media.caller_codec = Some(config.codec.clone());
                    control.configure(caller.id, config);
                    media.caller_browser = Some(answer);
                }
                Err(failure) => {
                    control.release(caller.id);
                    control.release(agent.id);
                    return Err(failure);
                }
            }
        }
        if agent_browser {
            let peer_codec = agent_caps.codecs.iter().find(|c| !c.is_telephone_event());
            if let Some(offer) = control.offer_browser(&agent, peer_codec.map(|c| c.encoding.as_str())) {
                body = offer;
                media.agent_browser = true;
            }
        }
        Ok((media, body))
    }

    /// The caller's leg alone, answered by the switch (IVR, prompts): returns
    /// the SDP for the caller's 200 (our answer, or our offer after a late offer).
    pub(crate) fn start_local(
        control: &mut dyn MediaControl,
        group: u64,
        caller_body: &[u8],
        caps: &LocalCapabilities,
    ) -> Result<(CallMedia, Vec<u8>), MediaFailure> {
        if is_webrtc_offer(caller_body) {
            return CallMedia::start_local_browser(control, group, caller_body, caps);
        }
        let caller_offer = offer_in(caller_body)?;
        let caller = control.allocate(group).map_err(|_| MediaFailure::Exhausted)?;
        let mut media = CallMedia {
            caller,
            agent: None,
            caps: caps.clone(),
            caller_offer,
            caller_offer_sent: None,
            caller_sdp: None,
            caller_origin: LocalOrigin::new(rand::random::<u32>().into()),
            caller_codec: None,
            agent_offer: None,
            agent_origin: LocalOrigin::new(rand::random::<u32>().into()),
            agent_codec: None,
            agent_browser: false,
            caller_browser: None,
        };
        let (ip, port) = (caller.local.ip(), caller.local.port());
        let sdp = match &media.caller_offer {
            Some(offer) => match sdp::answer(offer, caps, ip, port, &media.caller_origin) {
                Ok((ours, negotiated)) => {
                    control.configure(caller.id, leg_config(&negotiated));
                    media.caller_codec = Some(negotiated.codec.encoding);
                    ours
                }
                Err(e) => {
                    control.release(caller.id);
                    return Err(failure(e));
                }
            },
            None => {
                let offer = sdp::offer(caps, ip, port, Direction::SendRecv, &media.caller_origin);
                media.caller_offer_sent = Some(offer.clone());
                offer
            }
        };
        let body = sdp.to_bytes();
        media.caller_sdp = Some(sdp);
        Ok((media, body))
    }

    /// A call the switch places (a call-back): the customer's leg and our
    /// offer for the INVITE. Until the answer the leg is configured to
    /// neither send nor receive, so the engine does not count the ringing as
    /// a silent call (its silence watch counts from the allocation, as for
    /// an agent leg that rang).
    pub(crate) fn start_outbound(
        control: &mut dyn MediaControl,
        group: u64,
        caps: &LocalCapabilities,
    ) -> Result<(CallMedia, Vec<u8>), MediaFailure> {
        let caller = control.allocate(group).map_err(|_| MediaFailure::Exhausted)?;
        let origin = LocalOrigin::new(rand::random::<u32>().into());
        let offer = sdp::offer(
            caps,
            caller.local.ip(),
            caller.local.port(),
            Direction::SendRecv,
            &origin,
        );
        control.configure(caller.id, dialling_config());
        let body = offer.to_bytes();
        let media = CallMedia {
            caller,
            agent: None,
            caps: caps.clone(),
            caller_offer: None,
            caller_offer_sent: Some(offer.clone()),
            // What the customer got from us: an agent called in later joins
            // it (see `agent_answered`).
            caller_sdp: Some(offer),
            caller_origin: origin,
            caller_codec: None,
            agent_offer: None,
            agent_origin: LocalOrigin::new(rand::random::<u32>().into()),
            agent_codec: None,
            agent_browser: false,
            caller_browser: None,
        };
        Ok((media, body))
    }

    /// The customer's answer to our offer (in the 2xx, or a 183 before it):
    /// configures the customer's leg. Once answered, later calls do nothing.
    pub(crate) fn outbound_answered(
        &mut self,
        control: &mut dyn MediaControl,
        body: &[u8],
    ) -> Result<(), MediaFailure> {
        let Some(offer) = &self.caller_offer_sent else {
            return Ok(());
        };
        let answer = Session::from_bytes(body).map_err(failure)?;
        let negotiated = sdp::process_answer(offer, &answer).map_err(failure)?;
        control.configure(self.caller.id, leg_config(&negotiated));
        self.caller_codec = Some(negotiated.codec.encoding);
        self.caller_offer_sent = None;
        Ok(())
    }

    /// Calls in an agent for a caller the switch answered: a leg for the
    /// agent and our offer, the caller's codec first so the bridge relays.
    /// Several agents may ring at once, each with its own leg and offer;
    /// the one that answers is [`CallMedia::adopt_agent`]ed.
    ///
    /// A `browser` agent is offered WebRTC media through the gateway (the
    /// engine transcodes its Opus against a G.711 caller) when one runs.
    pub(crate) fn connect_agent(
        &self,
        control: &mut dyn MediaControl,
        group: u64,
        browser: bool,
    ) -> Result<(AgentOffer, Vec<u8>), MediaFailure> {
        if self.agent.is_some() {
            return Err(MediaFailure::NotAcceptable);
        }
        let leg = control.allocate(group).map_err(|_| MediaFailure::Exhausted)?;
        let caps = match &self.caller_codec {
            Some(codec) => preferring(&self.caps, codec),
            None => self.caps.clone(),
        };
        let origin = LocalOrigin::new(rand::random::<u32>().into());
        let offer = sdp::offer(&caps, leg.local.ip(), leg.local.port(), Direction::SendRecv, &origin);
        let browser_offer = match browser {
            true => control.offer_browser(&leg, self.caller_codec.as_deref()),
            false => None,
        };
        let browser = browser_offer.is_some();
        let body = browser_offer.unwrap_or_else(|| offer.to_bytes());
        Ok((
            AgentOffer {
                leg,
                offer,
                origin,
                browser,
            },
            body,
        ))
    }

    /// The agent whose offer was answered becomes the call's agent side
    /// (its answer goes to [`CallMedia::agent_answered`] next).
    pub(crate) fn adopt_agent(&mut self, offer: AgentOffer) {
        self.agent = Some(offer.leg);
        self.agent_offer = Some(offer.offer);
        self.agent_origin = offer.origin;
        self.agent_codec = None;
        self.agent_browser = offer.browser;
    }

    /// The agent's answer (in a 183 or the 200): configures the agent leg and
    /// returns the SDP for the caller (our answer, or our offer after a late
    /// offer). The same SDP is returned again for a later response.
    pub(crate) fn agent_answered(
        &mut self,
        control: &mut dyn MediaControl,
        agent_sdp: &[u8],
    ) -> Result<Vec<u8>, MediaFailure> {
        let (Some(agent_leg), Some(agent_offer)) = (self.agent, self.agent_offer.as_ref()) else {
            return Err(MediaFailure::NotAcceptable);
        };
        if self.agent_codec.is_some() {
            // The answer came already (in a 183): the 200 repeats it.
            return Ok(self.caller_answer().unwrap_or_default());
        }
        let codec = if self.agent_browser {
            // A browser agent: the gateway reads its answer, the engine leg
            // talks to the gateway.
            let config = control.browser_answered(agent_leg.id, agent_sdp)?;
            let codec = config.codec.clone();
            control.configure(agent_leg.id, config);
            codec
        } else {
            let answer = Session::from_bytes(agent_sdp).map_err(failure)?;
            let agent = sdp::process_answer(agent_offer, &answer).map_err(failure)?;
            control.configure(agent_leg.id, leg_config(&agent));
            agent.codec.encoding
        };
        self.agent_codec = Some(codec.clone());
        if let Some(sent) = self.caller_answer() {
            // The caller was answered already (by the switch, or by the
            // gateway for a browser): the agent joins it.
            control.bridge(self.caller.id, agent_leg.id);
            return Ok(sent);
        }
        let caps = preferring(&self.caps, &codec);
        let ip = self.caller.local.ip();
        let port = self.caller.local.port();
        match &self.caller_offer {
            Some(offer) => {
                let (ours, caller) = sdp::answer(offer, &caps, ip, port, &self.caller_origin).map_err(failure)?;
                control.configure(self.caller.id, leg_config(&caller));
                control.bridge(self.caller.id, agent_leg.id);
                self.caller_codec = Some(caller.codec.encoding);
                self.caller_sdp = Some(ours);
            }
            None => {
                let offer = sdp::offer(&caps, ip, port, Direction::SendRecv, &self.caller_origin);
                self.caller_offer_sent = Some(offer.clone());
                self.caller_sdp = Some(offer);
            }
        }
        Ok(self.caller_sdp.as_ref().map(Session::to_bytes).unwrap_or_default())
    }

    /// The SDP the caller was sent: the gateway's answer for a browser,
    /// else ours (an answer, or our offer after a late offer).
    fn caller_answer(&self) -> Option<Vec<u8>> {
        match &self.caller_browser {
            Some(answer) => Some(answer.clone()),
            None => self.caller_sdp.as_ref().map(Session::to_bytes),
        }
    }

    /// The caller's ACK: after a late offer it carries the answer.
    pub(crate) fn caller_acked(&mut self, control: &mut dyn MediaControl, body: &[u8]) -> Result<(), MediaFailure> {
        let Some(offer) = self.caller_offer_sent.take() else {
            return Ok(());
        };
        let answer = Session::from_bytes(body).map_err(failure)?;
        let caller = sdp::process_answer(&offer, &answer).map_err(failure)?;
        control.configure(self.caller.id, leg_config(&caller));
        if let Some(agent) = self.agent {
            control.bridge(self.caller.id, agent.id);
        }
        self.caller_codec = Some(caller.codec.encoding);
        Ok(())
    }

    /// A re-INVITE from the caller (`from_caller`) or the agent: answered here
    /// for that leg alone (hold, resume, a new address), keeping its codec.
    pub(crate) fn reinvite(
        &mut self,
        control: &mut dyn MediaControl,
        from_caller: bool,
        body: &[u8],
    ) -> Result<Vec<u8>, MediaFailure> {
        if let Some(answer) = self.browser_reinvite(control, from_caller, body) {
            return answer;
        }
        let (leg, codec, origin) = match (from_caller, self.agent) {
            (true, _) => (self.caller, &self.caller_codec, &mut self.caller_origin),
            (false, Some(agent)) => (agent, &self.agent_codec, &mut self.agent_origin),
            (false, None) => return Err(MediaFailure::NotAcceptable),
        };
        let mut caps = self.caps.clone();
        if let Some(codec) = codec {
            caps.codecs
                .retain(|c| c.is_telephone_event() || c.encoding.eq_ignore_ascii_case(codec));
        }
        origin.bump();
        if body.is_empty() {
            // A re-INVITE without SDP asks us to offer (RFC 3261 section 14.2);
            // the ACK's answer is not needed: the leg keeps its parameters.
            let offer = sdp::offer(&caps, leg.local.ip(), leg.local.port(), Direction::SendRecv, origin);
            return Ok(offer.to_bytes());
        }
        let offer = Session::from_bytes(body).map_err(failure)?;
        let (ours, negotiated) =
            sdp::answer(&offer, &caps, leg.local.ip(), leg.local.port(), origin).map_err(failure)?;
        control.configure(leg.id, leg_config(&negotiated));
        Ok(ours.to_bytes())
    }

    /// The codecs negotiated so far: the caller's, then the agent's.
    pub(crate) fn codecs(&self) -> Vec<String> {
        self.caller_codec.iter().chain(&self.agent_codec).cloned().collect()
    }

    /// Whether the caller's leg negotiated Opus.
    pub(crate) fn caller_is_opus(&self) -> bool {
        self.caller_codec
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case("opus"))
    }

    /// The legs, to release them or map engine events to the call.
    pub(crate) fn legs(&self) -> Vec<LegId> {
        std::iter::once(self.caller.id)
            .chain(self.agent.map(|a| a.id))
            .collect()
    }
}
