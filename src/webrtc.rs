//! Browser agents' media in the switch: the `[webrtc]` settings and the media
//! control that puts a WebRTC session (media/src/webrtc) in front of an
//! engine leg when the agent is a browser.
//!
//! Call control offers a browser agent the session's SDP (ICE-lite,
//! DTLS-SRTP, Opus and PCMU, on the leg's own media address) instead of
//! plain RTP; the browser's answer configures the engine leg with the codec
//! the browser chose. From then on the engine treats the browser as any RTP
//! phone: it transcodes Opus against a G.711 caller, reads RFC 4733 digits,
//! records and measures the leg.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use media::engine::{AllocateError, Direction, Leg, LegConfig, LegId, MediaEngine};
use media::webrtc::{engine_leg_config, OpusBandwidth, WebRtcConfig, WebRtcGateway};
use serde::Deserialize;

use crate::b2bua::{CallRecordingSpec, MediaControl, MediaFailure};

/// `[webrtc]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebRtcSettings {
    /// Offer browsers WebRTC media (default true).
    #[serde(default = "yes")]
    pub(crate) enabled: bool,
    /// The address browsers reach the media address (`[media] rtp_address`,
    /// the ICE host candidate) at behind a 1:1 NAT.
    #[serde(default)]
    pub(crate) public: Option<IpAddr>,
    /// Read and ignored: browser media moved onto the media address. Kept
    /// so that older configuration files still load (with a warning).
    #[serde(default)]
    pub(crate) bind: Option<IpAddr>,
}

impl Default for WebRtcSettings {
    fn default() -> Self {
        WebRtcSettings {
            enabled: true,
            public: None,
            bind: None,
        }
    }
}

fn yes() -> bool {
    true
}

impl WebRtcSettings {
    /// The gateway's configuration.
    pub(crate) fn gateway_config(&self) -> WebRtcConfig {
        WebRtcConfig { public: self.public }
    }
}

/// The engine, with WebRTC sessions in front of the legs offered to
/// browsers (remembered, so the browser's answer configures the right leg).
pub(crate) struct WebRtcMedia {
    engine: Arc<MediaEngine>,
    gateway: Option<Arc<WebRtcGateway>>,
    /// Engine legs with a browser session in front.
    browsers: HashMap<LegId, Leg>,
    /// Addresses of record of agents flagged `webrtc = true`.
    flagged: HashSet<String>,
}

impl WebRtcMedia {
    /// The engine, with `gateway` when one runs; `flagged` are the AORs of
    /// agents configured as browser agents.
    pub(crate) fn new(
        engine: Arc<MediaEngine>,
        gateway: Option<Arc<WebRtcGateway>>,
        flagged: HashSet<String>,
    ) -> WebRtcMedia {
        WebRtcMedia {
            engine,
            gateway,
            browsers: HashMap::new(),
            flagged,
        }
    }
}

impl MediaControl for WebRtcMedia {
    fn allocate(&mut self, group: u64) -> Result<Leg, AllocateError> {
        self.engine.allocate(group)
    }
    fn configure(&mut self, leg: LegId, config: LegConfig) {
        self.engine.configure(leg, config);
    }
    fn bridge(&mut self, a: LegId, b: LegId) {
        self.engine.bridge(a, b);
    }
    fn release(&mut self, leg: LegId) {
        // The leg's session goes with it.
        self.browsers.remove(&leg);
        self.engine.release(leg);
    }
    fn play(&mut self, leg: LegId, playlist: media::player::Playlist) {
        self.engine.play(leg, playlist);
    }
    fn stop(&mut self, leg: LegId) {
        self.engine.stop(leg);
    }
    fn record(&mut self, leg: LegId, path: std::path::PathBuf, max: std::time::Duration) {
        self.engine.record(leg, path, max);
    }
    fn stop_recording(&mut self, leg: LegId) {
        self.engine.stop_recording(leg);
    }
    fn record_call(&mut self, caller: LegId, agent: Option<LegId>, spec: CallRecordingSpec) {
        let mut engine = self.engine.clone();
        MediaControl::record_call(&mut engine, caller, agent, spec);
    }
    fn pause_call_recording(&mut self, caller: LegId) {
        self.engine.pause_call_recording(caller);
    }
    fn resume_call_recording(&mut self, caller: LegId) {
        self.engine.resume_call_recording(caller);
    }
    fn stop_call_recording(&mut self, caller: LegId) {
        self.engine.stop_call_recording(caller);
    }
    fn browser_agent(&self, aor: &str) -> bool {
        self.flagged.contains(aor)
    }
    fn offer_browser(&mut self, leg: &Leg, peer_codec: Option<&str>) -> Option<Vec<u8>> {
        let gateway = self.gateway.as_ref()?;
        let g711 = peer_codec.is_some_and(|c| c.eq_ignore_ascii_case("PCMU") || c.eq_ignore_ascii_case("PCMA"));
        let bandwidth = if g711 {
            OpusBandwidth::Narrow
        } else {
            OpusBandwidth::Full
        };
        match gateway.offer(leg, bandwidth) {
            Ok(browser) => {
                self.browsers.insert(leg.id, *leg);
                Some(browser.sdp.into_bytes())
            }
            Err(e) => {
                tracing::warn!(%e, leg = leg.id, "no WebRTC leg: the browser is offered plain RTP");
                None
            }
        }
    }
    fn browser_answered(&mut self, leg: LegId, sdp: &[u8]) -> Result<LegConfig, MediaFailure> {
        let (Some(gateway), Some(browser)) = (&self.gateway, self.browsers.get(&leg)) else {
            return Err(MediaFailure::NotAcceptable);
        };
        let sdp = std::str::from_utf8(sdp).map_err(|_| MediaFailure::BadSdp)?;
        match gateway.accept_answer(leg, sdp) {
            Ok(negotiated) => Ok(engine_leg_config(&negotiated, browser)),
            Err(e) => {
                tracing::info!(%e, leg, "browser answer refused");
                Err(MediaFailure::NotAcceptable)
            }
        }
    }
    fn answer_browser(&mut self, leg: &Leg, offer: &[u8]) -> Result<(Vec<u8>, LegConfig), MediaFailure> {
        let Some(gateway) = &self.gateway else {
            return Err(MediaFailure::NotAcceptable);
        };
        let offer = std::str::from_utf8(offer).map_err(|_| MediaFailure::BadSdp)?;
        let (browser, negotiated) = gateway.answer(leg, offer).map_err(|e| {
            tracing::info!(%e, leg = leg.id, "browser offer refused");
            MediaFailure::NotAcceptable
        })?;
        self.browsers.insert(leg.id, *leg);
        Ok((browser.sdp.into_bytes(), engine_leg_config(&negotiated, leg)))
    }
    fn browser_reoffer(&mut self, leg: LegId, sdp: &[u8]) -> Result<(Vec<u8>, LegConfig), MediaFailure> {
        let (Some(gateway), Some(browser)) = (&self.gateway, self.browsers.get(&leg)) else {
            return Err(MediaFailure::NotAcceptable);
        };
        let offer = std::str::from_utf8(sdp).map_err(|_| MediaFailure::BadSdp)?;
        let answer = gateway.reoffer(leg, offer).map_err(|e| {
            tracing::info!(%e, leg, "browser re-offer refused");
            MediaFailure::NotAcceptable
        })?;
        let negotiated = media::webrtc::negotiated(&answer).map_err(|_| MediaFailure::NotAcceptable)?;
        let mut config = engine_leg_config(&negotiated, browser);
        // The engine leg follows the browser: on hold it sends nothing to
        // it, and a held browser that sends nothing is not a vanished one.
        config.direction = match answer_direction(&answer) {
            "recvonly" => Direction {
                send: false,
                receive: true,
            },
            "sendonly" => Direction {
                send: true,
                receive: false,
            },
            "inactive" => Direction {
                send: false,
                receive: false,
            },
            _ => Direction::SENDRECV,
        };
        Ok((answer.into_bytes(), config))
    }
}

/// The direction attribute of an answer's audio section (as the gateway
/// sees it: `recvonly` answers a browser's hold).
fn answer_direction(sdp: &str) -> &'static str {
    let mut audio = false;
    for line in sdp.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("m=") {
            audio = m.starts_with("audio");
            continue;
        }
        if audio {
            for dir in ["sendrecv", "sendonly", "recvonly", "inactive"] {
                if line.strip_prefix("a=") == Some(dir) {
                    return dir;
                }
            }
        }
    }
    "sendrecv"
}
