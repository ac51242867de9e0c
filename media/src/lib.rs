//! Media for Switchboard.
//!
//! Pure parts first, each usable and testable alone with virtual time:
//! - [`rtp`]: typed, no-panic views over RTP and RTCP bytes, per-stream
//!   statistics (RFC 3550 loss and jitter, RTT from reports) and the E-model MOS;
//! - [`jitter`]: the adaptive jitter buffer with loss concealment for decoded legs;
//! - [`codec`]: G.711, Opus, resampling and transcoding;
//! - [`dtmf`]: RFC 4733 events, in-band Goertzel detection, SIP INFO bodies;
//! - [`sdp`]: SDP and RFC 3264 offer/answer;
//! - [`player`]: WAV prompts, tones, music on hold and playlists;
//! - [`engine`]: the media engine on top of them: RTP legs on sockets from a
//!   port pool, per-core workers, relay, transcoding, playback, RTCP.

pub mod codec;
pub mod dtmf;
pub mod engine;
pub mod jitter;
pub mod player;
pub mod rtp;
pub mod sdp;
pub mod webrtc;
