//! The API's one error type, mapped to statuses in one place. Bodies are always
//! `{"error": code, "message": text}`; a 5xx body stays opaque and its cause goes to the log.

use std::time::Duration;

use poem::http::StatusCode;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

/// An error as the client sees it.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct ErrorBody {
    /// A stable, machine-readable code such as `not_found` or `unknown_event_type`.
    pub error: String,
    /// What went wrong, for a human.
    pub message: String,
}

impl poem_openapi::types::Example for ErrorBody {
    fn example() -> Self {
        Self {
            error: "not_found".into(),
            message: "webhook not found".into(),
        }
    }
}

#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// Malformed JSON, a missing or mistyped field, or a value out of range.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No valid API key or admin token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The credential is valid but may not do this.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// No such object for this tenant.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The object already exists.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The body is larger than the tenant's payload limit.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The body is not JSON: no `Content-Type`, or one other than `application/json`.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// Well-formed, but refused: unknown event type, schema violation, reused idempotency key.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// Over quota; retry after the given number of seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// Something failed inside Herald; the cause is logged.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// Herald is behind (its write queue or the delivery backlog is full) and took nothing;
    /// retry after the given number of seconds.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
}

fn body(code: &str, message: impl Into<String>) -> Json<ErrorBody> {
    Json(ErrorBody {
        error: code.to_owned(),
        message: message.into(),
    })
}

impl ApiError {
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::BadRequest(body(code, message))
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::Unauthorized(body("unauthorized", message))
    }

    pub fn forbidden(code: &str, message: impl Into<String>) -> Self {
        Self::Forbidden(body(code, message))
    }

    /// Also the answer for another tenant's object: it must look absent.
    pub fn not_found(what: &str) -> Self {
        Self::NotFound(body("not_found", format!("{what} not found")))
    }

    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        Self::Conflict(body(code, message))
    }

    pub fn payload_too_large(limit: u64) -> Self {
        Self::PayloadTooLarge(body(
            "payload_too_large",
            format!("request body exceeds the limit of {limit} bytes"),
        ))
    }

    /// Over a quota; the client may try again after `retry_after` (whole seconds, at least 1).
    pub fn too_many(code: &str, message: impl Into<String>, retry_after: Duration) -> Self {
        let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
        Self::TooManyRequests(body(code, message), seconds)
    }

    pub fn unprocessable(code: &str, message: impl Into<String>) -> Self {
        Self::Unprocessable(body(code, message))
    }

    /// Overloaded: nothing was stored; the client may try again after `retry_after`.
    pub fn unavailable(code: &str, message: impl Into<String>, retry_after: Duration) -> Self {
        let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
        Self::Unavailable(body(code, message), seconds)
    }

    /// Logs the whole cause chain; the client sees only that something failed.
    pub fn internal(error: anyhow::Error) -> Self {
        tracing::error!(error = format!("{error:#}"), "request failed");
        Self::Internal(body("internal_error", "internal error; it has been logged"))
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        Self::internal(error)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Turns every error that did not come from a handler (unknown route, wrong method, missing
/// credentials, a path or query parameter that does not parse, a panic) into the same JSON
/// shape, keeping its status.
pub struct JsonErrors;

impl<E: Endpoint> Middleware<E> for JsonErrors {
    type Output = JsonErrorsEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        JsonErrorsEndpoint(ep)
    }
}

pub struct JsonErrorsEndpoint<E>(E);

impl<E: Endpoint> Endpoint for JsonErrorsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let error = match self.0.call(req).await {
            Ok(output) => return Ok(output.into_response()),
            Err(error) => error,
        };
        let status = error.status();
        let message = error.to_string();
        let response = error.into_response();
        let is_json = response
            .content_type()
            .is_some_and(|ct| ct.starts_with("application/json"));
        if is_json {
            return Ok(response);
        }
        let message = if status.is_server_error() {
            tracing::error!(%status, error = %message, "request failed outside a handler");
            "internal error; it has been logged".to_owned()
        } else {
            message
        };
        Ok(Json(ErrorBody {
            error: status_code(status).to_owned(),
            message,
        })
        .with_status(status)
        .into_response())
    }
}

fn status_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        s if s.is_server_error() => "internal_error",
        _ => "error",
    }
}
