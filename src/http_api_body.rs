//! One JSON body extractor for every handler of the API, so that every bad
//! body gets the same JSON error: 415 without a JSON content type, 413 past
//! the size limit, 400 when it is not JSON, and 422 when it is JSON of the
//! wrong shape, naming the field (`field`, a path like `attributes.order`).

use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The largest request body the API takes.
pub(crate) const BODY_LIMIT: usize = 64 * 1024;

/// An API error: `{"code": "...", "message": "...", "field": "..."}`.
#[derive(Debug, Serialize)]
pub(crate) struct ApiError {
    #[serde(skip)]
    status: StatusCode,
    /// A stable, machine-readable code.
    code: &'static str,
    /// For people.
    message: String,
    /// The field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

impl ApiError {
    /// An error without a field.
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    /// 503: the SIP core is gone (its query channel is closed).
    pub(crate) fn core_not_running() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the SIP core is not running",
        )
    }

    /// 503: the SIP core dropped the question without an answer.
    pub(crate) fn core_did_not_answer() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the SIP core did not answer",
        )
    }

    /// A 422 about `field`.
    pub(crate) fn field(field: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid_field",
            message: message.into(),
            field: Some(field.to_owned()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(&self)).into_response()
    }
}

/// A JSON body of type `T`; see the module docs for its errors.
#[derive(Debug)]
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                let v = v.trim();
                v.eq_ignore_ascii_case("application/json") || v.to_ascii_lowercase().ends_with("+json")
            });
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be JSON (Content-Type: application/json)",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("the body is larger than {BODY_LIMIT} bytes"),
                )
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, "unreadable_body", e.body_text())
            }
        })?;
        parse(&bytes).map(ApiJson)
    }
}

/// Parses a body: 400 for bad JSON, 422 with the field for a bad shape.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", inner.to_string())
        } else if path == "." || path.is_empty() {
            // The body as a whole (a missing field): no field to name.
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", inner.to_string())
        } else {
            ApiError::field(&path, inner.to_string())
        }
    })?;
    // Nothing but white space may follow the value.
    de.end()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", e.to_string()))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        number: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse::<Body>(b"{\"number\": 5}").expect_err("bad type");
        assert_eq!(
            (e.status, e.code, e.field.as_deref()),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some("number"))
        );
        let e = parse::<Body>(b"{\"number\": \"1\", \"inner\": {\"n\": -1}}").expect_err("bad nested");
        assert_eq!(e.field.as_deref(), Some("inner.n"));
        let e = parse::<Body>(b"{}").expect_err("missing");
        assert_eq!(e.code, "invalid_body");
        assert!(e.message.contains("number"), "{}", e.message);
        let e = parse::<Body>(b"{\"number\": ").expect_err("truncated");
        assert_eq!((e.status, e.code), (StatusCode::BAD_REQUEST, "malformed_json"));
        let e = parse::<Body>(b"{\"number\": \"1\"} x").expect_err("trailing");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(parse::<Body>(b" {\"number\": \"1\"} ").is_ok());
    }
}
