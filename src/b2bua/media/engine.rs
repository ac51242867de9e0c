//! Call control's media over the engine itself (no WebRTC gateway).

use media::engine::{AllocateError, Leg, LegConfig, LegId};

use super::{CallRecordingSpec, MediaControl};

impl MediaControl for std::sync::Arc<media::engine::MediaEngine> {
    fn allocate(&mut self, group: u64) -> Result<Leg, AllocateError> {
        media::engine::MediaEngine::allocate(self, group)
    }
    fn configure(&mut self, leg: LegId, config: LegConfig) {
        media::engine::MediaEngine::configure(self, leg, config);
    }
    fn bridge(&mut self, a: LegId, b: LegId) {
        media::engine::MediaEngine::bridge(self, a, b);
    }
    fn release(&mut self, leg: LegId) {
        media::engine::MediaEngine::release(self, leg);
    }
    fn play(&mut self, leg: LegId, playlist: media::player::Playlist) {
        media::engine::MediaEngine::play(self, leg, playlist);
    }
    fn stop(&mut self, leg: LegId) {
        media::engine::MediaEngine::stop(self, leg);
    }
    fn record(&mut self, leg: LegId, path: std::path::PathBuf, max: std::time::Duration) {
        media::engine::MediaEngine::record(self, leg, path, max);
    }
    fn stop_recording(&mut self, leg: LegId) {
        media::engine::MediaEngine::stop_recording(self, leg);
    }
    fn record_call(&mut self, caller: LegId, agent: Option<LegId>, spec: CallRecordingSpec) {
        let spec = media::engine::CallRecordingSpec {
            spec: spec.spec,
            sidecar: spec.sidecar,
        };
        media::engine::MediaEngine::record_call(self, caller, agent, spec);
    }
    fn pause_call_recording(&mut self, caller: LegId) {
        media::engine::MediaEngine::pause_call_recording(self, caller);
    }
    fn resume_call_recording(&mut self, caller: LegId) {
        media::engine::MediaEngine::resume_call_recording(self, caller);
    }
    fn stop_call_recording(&mut self, caller: LegId) {
        media::engine::MediaEngine::stop_call_recording(self, caller);
    }
}
