//! What a queued caller hears: music on hold, position and wait
//! announcements in the caller's language, the call-back offer, and the
//! prompts before the switch hangs up.

use std::time::Instant;

use media::player::{Item, Playlist, ToneSpec};

use super::Switch;

impl Switch {
    /// A playlist ended on a tracked call's leg; returns whether the queue
    /// side used the event (otherwise it belongs to the call's flow).
    pub(super) fn queue_playback_finished(&mut self, now: Instant, call: u64) -> bool {
        let Some(t) = self.tracked.get(&call) else { return false };
        if t.then_hang_up {
            self.end_call(now, call);
            return true;
        }
        if t.queue.is_some() && !t.talking && !t.voicemail {
            self.hold_music(call);
            return true;
        }
        false
    }

    /// A voicemail left after an overflow ended: so does the call.
    pub(super) fn queue_recording_finished(&mut self, now: Instant, call: u64) -> bool {
        if !self.tracked.get(&call).is_some_and(|t| t.voicemail) {
            return false;
        }
        self.end_call(now, call);
        true
    }

    /// Music on hold on a queued caller's leg: the queue's file if it has
    /// one, else a soft built-in melody.
    pub(super) fn hold_music(&mut self, call: u64) {
        let Some(t) = self.tracked.get(&call) else { return };
        let (leg, rate) = (t.leg, t.rate);
        let file = t.music.as_ref().and_then(|m| self.ivr.prompt(m, rate));
        let Ok(mut playlist) = Playlist::new(rate) else { return };
        match file {
            Some(prompt) => {
                let _ = playlist.push(Item::prompt(prompt));
            }
            None => {
                for (hz, ms) in [
                    (523.3, 400),
                    (659.3, 400),
                    (784.0, 400),
                    (659.3, 400),
                    (587.3, 800),
                    (0.0, 400),
                ] {
                    let item = if hz == 0.0 {
                        Item::silence(ms)
                    } else {
                        Item::tone(ToneSpec::continuous(&[hz], -24.0), Some(ms))
                    };
                    let _ = playlist.push(item);
                }
            }
        }
        self.b2bua.play(leg, playlist.looping(true));
    }

    /// The agent put a queue call on hold from its phone (a re-INVITE,
    /// SIP or browser): the caller hears the queue's music until the agent
    /// resumes, then the agent again (playing on a leg hides its peer).
    pub(super) fn agent_hold(&mut self, call: u64, held: bool) {
        let Some(t) = self.tracked.get(&call) else { return };
        if !t.talking {
            return;
        }
        tracing::debug!(call, held, "agent hold");
        match held {
            true => {
                metrics::counter!("agent_holds_total").increment(1);
                self.hold_music(call);
            }
            false => {
                let leg = t.leg;
                self.b2bua.stop(leg);
            }
        }
    }

    /// Position and estimated wait, in the caller's language; music follows.
    pub(super) fn announce(&mut self, call: u64, position: usize, wait: Option<std::time::Duration>) {
        let mut names: Vec<String> = Vec::new();
        if (1..=10).contains(&position) {
            names.push("queue_position".into());
            names.push(format!("number_{position}"));
        }
        match wait.map(|w| w.as_secs().div_ceil(60)) {
            Some(0 | 1) => names.push("under_a_minute".into()),
            Some(m @ 2..=10) => {
                names.push("queue_wait".into());
                names.push(format!("number_{m}"));
                names.push("minutes".into());
            }
            _ => {}
        }
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        self.play_then_music(call, &refs);
    }

    /// Plays prompts by name in the caller's language (hold music resumes
    /// when they end, see [`Switch::queue_playback_finished`]).
    pub(super) fn play_then_music(&mut self, call: u64, names: &[&str]) {
        let Some(t) = self.tracked.get(&call) else { return };
        let (leg, rate, language) = (t.leg, t.rate, t.language.clone());
        let Ok(mut playlist) = Playlist::new(rate) else { return };
        for name in names {
            if let Some(prompt) = self.ivr.localised(&language, name, rate) {
                let _ = playlist.push(Item::prompt(prompt));
            }
        }
        if playlist.is_finished() {
            let _ = playlist.push(Item::silence(20));
        }
        self.b2bua.play(leg, playlist);
    }

    /// A feature code was taken: a beep, then the switch hangs up.
    pub(super) fn beep_and_hang_up(&mut self, call: u64) {
        if let Some(t) = self.tracked.get_mut(&call) {
            t.then_hang_up = true;
        }
        self.beep(call);
    }

    /// A short 1 kHz beep to the caller.
    pub(super) fn beep(&mut self, call: u64) {
        let Some(t) = self.tracked.get(&call) else { return };
        let (leg, rate) = (t.leg, t.rate);
        let tone = ToneSpec::continuous(&[1000.0], -12.0);
        if let Ok(playlist) = Playlist::new(rate).and_then(|p| p.with(Item::tone(tone, Some(400)))) {
            self.b2bua.play(leg, playlist);
        }
    }

    pub(super) fn play_and_hang_up(&mut self, call: u64, name: &str) {
        if let Some(t) = self.tracked.get_mut(&call) {
            t.then_hang_up = true;
        }
        self.play_then_music(call, &[name]);
    }
}
