//! Answers written straight to JSON with serde, for the hottest route. poem-openapi's `Json`
//! first builds a `serde_json::Value` tree of the whole answer (a map and a string per
//! field), then writes the tree: about 70 allocations for an event with ten deliveries.
//! `SerdeJson` keeps the type's OpenAPI schema and writes the same document directly; a test
//! per type checks that both writers agree.

use poem::{IntoResponse, Response};
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use serde::Serialize;

use crate::error::ApiError;

pub struct SerdeJson<T>(pub T);

const CONTENT_TYPE: &str = "application/json; charset=utf-8";

impl<T: Type> Payload for SerdeJson<T> {
    const CONTENT_TYPE: &'static str = CONTENT_TYPE;

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Serialize + Send> IntoResponse for SerdeJson<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => Response::builder().content_type(CONTENT_TYPE).body(body),
            // Only a map with non-string keys or a failing `Serialize` impl gets here; the
            // answer types have neither.
            Err(error) => {
                ApiError::internal(anyhow::Error::new(error).context("writing an answer"))
                    .into_response()
            }
        }
    }
}

/// Writes a time as poem-openapi does (`to_rfc3339`: `+00:00`, not `Z`), so both writers'
/// answers read the same.
pub fn rfc3339<S: serde::Serializer>(
    at: &chrono::DateTime<chrono::Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&at.to_rfc3339())
}
