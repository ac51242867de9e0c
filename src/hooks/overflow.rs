//! Overflow hooks: when an overflow rule with `to = "hook:NAME"` fires, the
//! switch POSTs the call's context to the hook and does what it answers:
//!
//! ```json
//! {"action": "wait"}                                  keep waiting in the queue
//! {"action": "queue", "target": "sales"}             go to another queue
//! {"action": "flow", "target": "200"}                go to the flow on that number
//! {"action": "callback"}                              a call-back, then a polite goodbye
//! {"action": "message", "prompt": "whatsapp_coming"} a prompt, then the call ends
//! ```
//!
//! The request runs off the core (a blocking task); meanwhile the caller
//! keeps hearing the queue's music, and the answer comes back to the core as
//! an input. No answer within the hook's `timeout_ms`, an error status, or
//! an answer that cannot be used runs the hook's `fallback` instead.

use serde_json::Value;

/// What to do with an overflowing call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Back into the queue it left (at the end of its priority).
    Wait,
    /// Into this queue.
    Queue(String),
    /// Into the flow that answers this number.
    Flow(String),
    /// A call-back to the caller's number in the queue it left; the caller
    /// hears the confirmation and the call ends.
    Callback,
    /// This prompt (or the hook's `message_prompt`), then the call ends:
    /// the receiver sends the caller a message on another channel.
    Message(Option<String>),
    /// The "queue full" prompt, then the call ends.
    HangUp,
}

impl Decision {
    /// A hook's answer; `None` when it cannot be used.
    pub(crate) fn from_answer(answer: &Value) -> Option<Decision> {
        let target = || {
            answer
                .get("target")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty() && t.len() <= 256)
                .map(str::to_owned)
        };
        Some(match answer.get("action")?.as_str()? {
            "wait" => Decision::Wait,
            "queue" => Decision::Queue(target()?),
            "flow" => Decision::Flow(target()?),
            "callback" => Decision::Callback,
            "message" => Decision::Message(
                answer
                    .get("prompt")
                    .and_then(Value::as_str)
                    .filter(|p| is_prompt_name(p))
                    .map(str::to_owned),
            ),
            "hang_up" => Decision::HangUp,
            _ => return None,
        })
    }

    /// A configured fallback: `wait`, `queue:NAME`, `flow:NUMBER`,
    /// `callback`, `message` or `hang_up`.
    pub(crate) fn parse_fallback(text: &str) -> Option<Decision> {
        Some(match text.split_once(':') {
            Some(("queue", name)) if !name.is_empty() => Decision::Queue(name.to_owned()),
            Some(("flow", number)) if !number.is_empty() => Decision::Flow(number.to_owned()),
            Some(_) => return None,
            None => match text {
                "wait" => Decision::Wait,
                "callback" => Decision::Callback,
                "message" => Decision::Message(None),
                "hang_up" => Decision::HangUp,
                _ => return None,
            },
        })
    }
}

/// A prompt is named, never a path: letters, digits, `_` and `-`.
fn is_prompt_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn answers_and_fallbacks() {
        let d = |v: Value| Decision::from_answer(&v);
        assert_eq!(d(json!({"action": "wait"})), Some(Decision::Wait));
        assert_eq!(
            d(json!({"action": "queue", "target": "sales"})),
            Some(Decision::Queue("sales".into()))
        );
        assert_eq!(d(json!({"action": "queue"})), None);
        assert_eq!(
            d(json!({"action": "flow", "target": "200"})),
            Some(Decision::Flow("200".into()))
        );
        assert_eq!(d(json!({"action": "callback"})), Some(Decision::Callback));
        assert_eq!(
            d(json!({"action": "message", "prompt": "sms_coming"})),
            Some(Decision::Message(Some("sms_coming".into())))
        );
        // A path is no prompt name: the hook's own prompt plays.
        assert_eq!(
            d(json!({"action": "message", "prompt": "../../etc/passwd"})),
            Some(Decision::Message(None))
        );
        assert_eq!(d(json!({"action": "dance"})), None);
        assert_eq!(d(json!("wait")), None);
        assert_eq!(
            Decision::parse_fallback("queue:sales"),
            Some(Decision::Queue("sales".into()))
        );
        assert_eq!(Decision::parse_fallback("message"), Some(Decision::Message(None)));
        assert_eq!(Decision::parse_fallback("queue:"), None);
        assert_eq!(Decision::parse_fallback("voicemail:x"), None);
    }
}
