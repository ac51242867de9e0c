//! Bearer tokens for the API.
//!
//! Every request under `/api` names a token configured in `[[http.tokens]]`,
//! in `Authorization: Bearer <token>` or, for clients that cannot set headers
//! (a browser's `EventSource`), in `?access_token=<token>`. A token's scope
//! decides what it may do: `read` may GET and HEAD, `control` may do
//! everything. No token is 401, a read token changing something is 403, both
//! as JSON errors. The pages (`/`), `/health` and `/metrics` stay open, as
//! load balancers and Prometheus expect.
//!
//! Handlers that must know who asked (an audited deletion) take
//! `axum::Extension<ApiCaller>`.
//!
//! Agents get tokens of their own: `POST /api/agent/login` with the agent's
//! extension and SIP digest password issues a token for one hour, scoped to
//! that agent: it may read, and change only its own state
//! (`/api/agents/{its extension}/...`). The agent page renews it with the
//! same call before it runs out.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Scope {
    /// GET and HEAD.
    Read,
    /// Everything.
    Control,
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Scope::Read => "read",
            Scope::Control => "control",
        })
    }
}

/// The holder of the token a request came with.
#[derive(Debug, Clone)]
pub(crate) struct ApiCaller {
    /// The token's configured name.
    pub(crate) name: Arc<str>,
    /// Its scope.
    pub(crate) scope: Scope,
    /// An agent's own token: the agent's extension.
    pub(crate) agent: Option<Arc<str>>,
}

/// How long an agent's token lasts.
pub(crate) const AGENT_TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

/// The configured tokens, kept as digests so that comparing takes the same
/// time however much of a guess is right.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    known: Vec<([u8; 32], ApiCaller)>,
    /// Agents' SIP passwords by extension (as digests), for their login.
    agents: std::collections::HashMap<String, [u8; 32]>,
    /// Agents' tokens issued at login, with their expiry. The lock is held
    /// for a lookup or an insert, never across an await.
    issued: std::sync::Mutex<Vec<([u8; 32], ApiCaller, std::time::Instant)>>,
    /// The SIP domain, for the agent page's phone.
    domain: String,
}

impl Tokens {
    /// The tokens of `[[http.tokens]]` (secrets filled in by then).
    pub(crate) fn new(configured: &[crate::config::ApiToken]) -> Tokens {
        let known = configured
            .iter()
            .filter_map(|t| {
                let secret = t.token.as_deref()?;
                Some((
                    digest(secret),
                    ApiCaller {
                        name: t.name.as_str().into(),
                        scope: t.scope,
                        agent: None,
                    },
                ))
            })
            .collect();
        Tokens {
            known,
            ..Tokens::default()
        }
    }

    /// Agents who may log in for a token of their own: (extension, SIP
    /// password), registering in SIP `domain`.
    pub(crate) fn with_agents(mut self, domain: &str, agents: impl IntoIterator<Item = (String, String)>) -> Tokens {
        self.agents = agents.into_iter().map(|(ext, pw)| (ext, digest(&pw))).collect();
        self.domain = domain.to_owned();
        self
    }

    /// The SIP domain agents register in.
    pub(crate) fn domain(&self) -> &str {
        &self.domain
    }

    /// A new token for `extension` when `password` is its SIP password.
    pub(crate) fn issue_agent(&self, extension: &str, password: &str, now: std::time::Instant) -> Option<String> {
        let known = self.agents.get(extension)?;
        if !same_digest(known, &digest(password)) {
            return None;
        }
        let token: String = (0..4).map(|_| format!("{:016x}", rand::random::<u64>())).collect();
        let caller = ApiCaller {
            name: format!("agent {extension}").into(),
            scope: Scope::Read,
            agent: Some(extension.into()),
        };
        let mut issued = self.issued.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        issued.retain(|(_, _, expires)| *expires > now);
        issued.push((digest(&token), caller, now + AGENT_TOKEN_TTL));
        Some(token)
    }

    /// The agent holding an issued token that has not expired.
    fn agent_caller(&self, presented: &str, now: std::time::Instant) -> Option<ApiCaller> {
        let d = digest(presented);
        let issued = self.issued.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        issued
            .iter()
            .find(|(known, _, expires)| *known == d && *expires > now)
            .map(|(_, caller, _)| caller.clone())
    }

    /// Who holds `presented`, if anyone.
    pub(crate) fn caller(&self, presented: &str) -> Option<&ApiCaller> {
        let d = digest(presented);
        // Every entry is compared, without stopping at the first match.
        let mut found = None;
        for (known, caller) in &self.known {
            if same_digest(known, &d) {
                found = Some(caller);
            }
        }
        found
    }
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Compares every byte, without stopping at the first difference.
fn same_digest(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token a request carries: the bearer header first, then the query.
fn presented(req: &Request) -> Option<String> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (kind, token) = value.split_once(' ')?;
        return kind.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned());
    }
    req.uri().query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == "access_token").then(|| v.to_owned())
    })
}

/// The layer over the whole router: checks requests under `/api`.
pub(crate) async fn require_token(State(tokens): State<Arc<Tokens>>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if path != "/api" && !path.starts_with("/api/") {
        return next.run(req).await;
    }
    // Agents log in here with their SIP credentials, for a token.
    if path == "/api/agent/login" {
        return next.run(req).await;
    }
    let now = std::time::Instant::now();
    let found = presented(&req).and_then(|t| tokens.caller(&t).cloned().or_else(|| tokens.agent_caller(&t, now)));
    let Some(caller) = found else {
        let mut response = crate::http::error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API token is needed (Authorization: Bearer <token>)",
        );
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        return response;
    };
    let needed = if matches!(*req.method(), Method::GET | Method::HEAD) {
        Scope::Read
    } else {
        Scope::Control
    };
    if let (Some(agent), Scope::Control) = (&caller.agent, needed) {
        // An agent changes only what is its own.
        // A transfer is let through: the core checks that the call is the
        // agent's own (see `Switch::transfer`).
        let own = path
            .strip_prefix("/api/agents/")
            .and_then(|rest| rest.split('/').next())
            .is_some_and(|ext| ext == &**agent)
            || (path.starts_with("/api/calls/") && path.ends_with("/transfer"));
        if !own {
            return crate::http::error(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("agent {agent}'s token changes only /api/agents/{agent}/..."),
            );
        }
        req.extensions_mut().insert(caller);
        return next.run(req).await.into_response();
    }
    if caller.scope < needed {
        return crate::http::error(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "token `{}` has scope {}; this needs {needed}",
                caller.name, caller.scope
            ),
        );
    }
    req.extensions_mut().insert(caller);
    next.run(req).await.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ApiToken;

    fn tokens() -> Tokens {
        Tokens::new(&[
            ApiToken {
                name: "board".into(),
                token: Some("read-secret-0123456789".into()),
                scope: Scope::Read,
            },
            ApiToken {
                name: "crm".into(),
                token: Some("control-secret-0123456789".into()),
                scope: Scope::Control,
            },
        ])
        .with_agents("127.0.0.1", [("1001".to_owned(), "secret1001".to_owned())])
    }

    #[test]
    fn an_agent_logs_in_with_its_sip_password_for_a_token_that_expires() {
        let t = tokens();
        let now = std::time::Instant::now();
        assert!(t.issue_agent("1001", "wrong", now).is_none());
        assert!(t.issue_agent("1002", "secret1001", now).is_none());
        let token = t.issue_agent("1001", "secret1001", now).expect("a token");
        let caller = t.agent_caller(&token, now).expect("known");
        assert_eq!(caller.agent.as_deref(), Some("1001"));
        assert!(t.caller(&token).is_none(), "not a configured token");
        assert!(t.agent_caller(&token, now + AGENT_TOKEN_TTL).is_none(), "expired");
    }

    #[test]
    fn a_token_names_its_holder_and_scope() {
        let t = tokens();
        let c = t.caller("control-secret-0123456789").expect("known");
        assert_eq!((&*c.name, c.scope), ("crm", Scope::Control));
        assert_eq!(t.caller("read-secret-0123456789").map(|c| c.scope), Some(Scope::Read));
        assert!(t.caller("control-secret-012345678").is_none());
        assert!(t.caller("").is_none());
    }

    #[test]
    fn control_covers_read() {
        assert!(Scope::Control > Scope::Read);
    }

    fn request(uri: &str, auth: Option<&str>) -> Request {
        let mut b = axum::http::Request::builder().uri(uri);
        if let Some(a) = auth {
            b = b.header(header::AUTHORIZATION, a);
        }
        b.body(axum::body::Body::empty()).expect("request")
    }

    #[test]
    fn the_token_comes_from_the_header_or_the_query() {
        assert_eq!(
            presented(&request("/api/x", Some("Bearer abc"))).as_deref(),
            Some("abc")
        );
        assert_eq!(
            presented(&request("/api/x", Some("bearer  abc "))).as_deref(),
            Some("abc")
        );
        assert_eq!(presented(&request("/api/x", Some("Basic abc"))), None);
        assert_eq!(
            presented(&request("/api/x?a=1&access_token=xyz", None)).as_deref(),
            Some("xyz")
        );
        assert_eq!(presented(&request("/api/x?a=1", None)), None);
    }
}
