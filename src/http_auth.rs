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
}

/// The configured tokens, kept as digests so that comparing takes the same
/// time however much of a guess is right.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    known: Vec<([u8; 32], ApiCaller)>,
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
                    },
                ))
            })
            .collect();
        Tokens { known }
    }

    /// Who holds `presented`, if anyone.
    pub(crate) fn caller(&self, presented: &str) -> Option<&ApiCaller> {
        let d = digest(presented);
        // Every entry is compared, without stopping at the first match.
        let mut found = None;
        for (known, caller) in &self.known {
            let differ = known.iter().zip(d.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if differ == 0 {
                found = Some(caller);
            }
        }
        found
    }
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
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
    let path = req.uri().path();
    if path != "/api" && !path.starts_with("/api/") {
        return next.run(req).await;
    }
    let Some(caller) = presented(&req).and_then(|t| tokens.caller(&t).cloned()) else {
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
