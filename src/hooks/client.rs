//! The one HTTP client of the switch's outward requests: event deliveries,
//! overflow hooks and the IVR's `http` node. Blocking (ureq): callers run it
//! on a thread of their own or on tokio's blocking pool, never on the core.
//!
//! Redirects are not followed: a receiver that moved must be reconfigured,
//! rather than the switch POSTing signed calls' details wherever a 3xx
//! points.

use std::time::Duration;

/// An HTTP answer of any status.
#[derive(Debug)]
pub(crate) struct Reply {
    /// The status code.
    pub(crate) status: u16,
    /// The body, at most [`MAX_REPLY`] bytes.
    pub(crate) body: Vec<u8>,
}

/// The most of an answer's body that is read.
pub(crate) const MAX_REPLY: u64 = 1 << 20;

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    /// No answer within the time limit.
    #[error("no answer in time")]
    Timeout,
    /// Could not connect, or the exchange broke.
    #[error("{0}")]
    Connection(String),
}

/// A client whose every request ends within `timeout`.
#[derive(Clone)]
pub(crate) struct Client {
    agent: ureq::Agent,
}

impl Client {
    /// A client with this time limit per request (connect to last byte).
    pub(crate) fn new(timeout: Duration) -> Client {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Client { agent }
    }

    /// POSTs `body` as JSON with extra `headers`.
    pub(crate) fn post_json(&self, url: &str, body: &[u8], headers: &[(&str, String)]) -> Result<Reply, ClientError> {
        let mut request = self.agent.post(url).header("Content-Type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        let mut response = request.send(body).map_err(|e| match e {
            ureq::Error::Timeout(_) => ClientError::Timeout,
            other => ClientError::Connection(other.to_string()),
        })?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_REPLY)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::Timeout(_) => ClientError::Timeout,
                other => ClientError::Connection(other.to_string()),
            })?;
        Ok(Reply { status, body })
    }
}

/// A flow's data dip (the IVR `http` node): POST the JSON, read a JSON answer.
pub(crate) fn data_dip(request: &crate::switch::HttpCall) -> Result<serde_json::Value, ivr::HttpError> {
    let body = serde_json::to_vec(&request.body).map_err(|_| ivr::HttpError::NotJson)?;
    let reply = Client::new(request.timeout)
        .post_json(&request.url, &body, &[])
        .map_err(|e| match e {
            ClientError::Timeout => ivr::HttpError::Timeout,
            ClientError::Connection(why) => ivr::HttpError::Connection(why),
        })?;
    if !(200..300).contains(&reply.status) {
        return Err(ivr::HttpError::Status(reply.status));
    }
    serde_json::from_slice(&reply.body).map_err(|_| ivr::HttpError::NotJson)
}
