//! Request bodies parsed with serde, so that errors name the offending field
//! (`event_types[2]: invalid type...`) and unknown fields are caught as typos. The raw bytes
//! are kept for the payload-size quota and the idempotency fingerprint.

use bytes::Bytes;
use poem::error::ReadBodyError;
use poem::{Request, RequestBody};
use poem_openapi::impl_apirequest_for_payload;
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use crate::error::ApiError;

/// No body is read past this, whatever a tenant's quota; quotas are capped below it.
pub const MAX_BODY_BYTES: usize = herald_domain::quotas::MAX_PAYLOAD_CEILING as usize + 64 * 1024;

pub struct JsonBody<T> {
    pub value: T,
    pub raw: Bytes,
}

impl<T: Type> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        let essence = content_type.split(';').next().unwrap_or("").trim();
        essence.eq_ignore_ascii_case("application/json")
            || (essence.starts_with("application/") && essence.ends_with("+json"))
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: DeserializeOwned + Send> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(_request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let raw = body
            .take()?
            .into_bytes_limit(MAX_BODY_BYTES)
            .await
            .map_err(|error| match error {
                ReadBodyError::PayloadTooLarge => {
                    ApiError::payload_too_large(MAX_BODY_BYTES as u64)
                }
                other => ApiError::bad_request("unreadable_body", other.to_string()),
            })?;
        let value = parse(&raw)?;
        Ok(Self { value, raw })
    }
}

impl_apirequest_for_payload!(JsonBody<T>, T: Type + DeserializeOwned + Send);

/// Parses a JSON document into `T`, naming the field at fault.
pub fn parse<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    if raw.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_json",
            "request body is empty",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(raw);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        classify(&path, error.into_inner())
    })?;
    deserializer.end().map_err(|error| classify(".", error))?;
    Ok(value)
}

fn classify(path: &str, error: serde_json::Error) -> ApiError {
    match error.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::bad_request("invalid_json", format!("malformed JSON: {error}"))
        }
        Category::Data if path == "." => {
            ApiError::bad_request("invalid_request", error.to_string())
        }
        Category::Data => ApiError::bad_request("invalid_request", format!("{path}: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        url: String,
        tags: Option<Vec<String>>,
    }

    fn message(raw: &str) -> String {
        match parse::<Probe>(raw.as_bytes()).unwrap_err() {
            ApiError::BadRequest(body) => format!("{}|{}", body.error, body.message),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field() {
        assert!(message(r#"{"url": 5}"#).contains("url: invalid type"));
        assert!(message(r#"{"url": "x", "tags": ["a", 3]}"#).contains("tags[1]"));
        assert!(message(r#"{}"#).contains("missing field `url`"));
        assert!(message(r#"{"url": "x", "urll": "y"}"#).contains("unknown field `urll`"));
    }

    #[test]
    fn syntax_errors_are_invalid_json() {
        for raw in ["", "{", "{\"url\": \"x\"} trailing", "nul"] {
            assert!(message(raw).starts_with("invalid_json|"), "{raw:?}");
        }
    }
}
