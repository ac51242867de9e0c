//! Browser legs of a call: WebRTC offers and the calls of browsers, whose
//! media the gateway answers (see src/webrtc.rs), and reading a phone's hold.

use media::sdp::{LocalCapabilities, LocalOrigin};

use super::{CallMedia, MediaControl, MediaFailure};

/// Whether an offer asks for WebRTC media (DTLS-SRTP: `UDP/TLS/RTP/SAVPF`
/// on its audio stream), which only the gateway can answer.
pub(crate) fn is_webrtc_offer(body: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(body) else {
        return false;
    };
    text.lines().filter_map(|l| l.trim().strip_prefix("m=audio ")).any(|m| {
        m.split_whitespace()
            .nth(1)
            .is_some_and(|proto| proto.contains("TLS/RTP/"))
    })
}

/// Whether an offer puts its sender's side on hold (RFC 3264 section 8.4:
/// `sendonly` or `inactive` on the audio stream, or the old RFC 2543 way, a
/// connection address of 0.0.0.0).
pub(crate) fn offer_holds(body: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(body) else {
        return false;
    };
    let mut audio = false;
    let mut session_level = true;
    let mut held = false;
    for line in text.lines().map(str::trim) {
        if let Some(media) = line.strip_prefix("m=") {
            session_level = false;
            audio = media.starts_with("audio");
            continue;
        }
        if !(session_level || audio) {
            continue;
        }
        match line {
            "a=sendonly" | "a=inactive" => held = true,
            "a=sendrecv" | "a=recvonly" if audio => held = false,
            _ if line.starts_with("c=IN IP4 0.0.0.0") => held = true,
            _ => {}
        }
    }
    held
}

impl CallMedia {
    /// [`CallMedia::start_local`] for a browser calling: the gateway
    /// answers its WebRTC offer, the engine leg behind it speaks the codec
    /// the browser chose (the IVR plays and listens at its rate).
    pub(super) fn start_local_browser(
        control: &mut dyn MediaControl,
        group: u64,
        caller_body: &[u8],
        caps: &LocalCapabilities,
    ) -> Result<(CallMedia, Vec<u8>), MediaFailure> {
        let caller = control.allocate(group).map_err(|_| MediaFailure::Exhausted)?;
        let (answer, config) = match control.answer_browser(&caller, caller_body) {
            Ok(answered) => answered,
            Err(failure) => {
                control.release(caller.id);
                return Err(failure);
            }
        };
        let codec = config.codec.clone();
        control.configure(caller.id, config);
        let media = CallMedia {
            caller,
            agent: None,
            caps: caps.clone(),
            caller_offer: None,
            caller_offer_sent: None,
            caller_sdp: None,
            caller_origin: LocalOrigin::new(rand::random::<u32>().into()),
            caller_codec: Some(codec),
            agent_offer: None,
            agent_origin: LocalOrigin::new(rand::random::<u32>().into()),
            agent_codec: None,
            agent_browser: false,
            caller_browser: Some(answer.clone()),
        };
        Ok((media, answer))
    }

    /// A browser's re-INVITE (hold, resume) from the caller
    /// (`from_caller`) or the agent, answered by the gateway from the
    /// session that is up, the engine leg following; `None` when that side
    /// is no browser.
    pub(super) fn browser_reinvite(
        &mut self,
        control: &mut dyn MediaControl,
        from_caller: bool,
        body: &[u8],
    ) -> Option<Result<Vec<u8>, MediaFailure>> {
        let leg = if from_caller {
            self.caller_browser.as_ref()?;
            self.caller.id
        } else if self.agent_browser {
            match self.agent {
                Some(agent) => agent.id,
                None => return Some(Err(MediaFailure::NotAcceptable)),
            }
        } else {
            return None;
        };
        if body.is_empty() {
            return Some(Err(MediaFailure::NotAcceptable));
        }
        Some(control.browser_reoffer(leg, body).map(|(answer, config)| {
            control.configure(leg, config);
            answer
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::is_webrtc_offer;

    #[test]
    fn only_dtls_srtp_audio_is_a_webrtc_offer() {
        let offer = |proto: &str| format!("v=0\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 {proto} 111 0\r\n");
        assert!(is_webrtc_offer(offer("UDP/TLS/RTP/SAVPF").as_bytes()));
        assert!(is_webrtc_offer(offer("TCP/TLS/RTP/SAVPF").as_bytes()));
        assert!(!is_webrtc_offer(offer("RTP/AVP").as_bytes()));
        assert!(!is_webrtc_offer(offer("RTP/SAVP").as_bytes()));
        assert!(!is_webrtc_offer(b""));
        assert!(!is_webrtc_offer(&[0xff, 0xfe]));
    }
}
