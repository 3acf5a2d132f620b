//! `/event-types`: the tenant's catalog. Events may only use registered types, and a type's
//! JSON Schema, when set, checks every payload.

use chrono::{DateTime, Utc};
use herald_domain::{EventTypeId, EventTypeName};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Deserialize;
use serde_json::json;

use super::ApiTags;
use crate::auth::TenantAuth;
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::pagination::PageQuery;
use crate::state::AppState;
use crate::store;
use crate::store::event_types::EventTypeRow;

pub struct EventTypesApi;

#[derive(Debug, Object, Deserialize)]
#[oai(example, rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct EventTypeIn {
    /// Letters, digits, '.', '_' and '-', up to 256 characters, e.g. `order.created`.
    #[oai(validator(pattern = "^[A-Za-z0-9._-]{1,256}$"))]
    pub name: String,
    pub description: Option<String>,
    /// A JSON Schema (draft 2020-12 unless `$schema` says otherwise) that every payload of
    /// this type must satisfy.
    pub schema: Option<serde_json::Value>,
}

impl Example for EventTypeIn {
    fn example() -> Self {
        Self {
            name: "order.created".into(),
            description: Some("An order was placed".into()),
            schema: Some(example_schema()),
        }
    }
}

fn example_schema() -> serde_json::Value {
    json!({
        "type": "object",
        "required": ["order_id", "amount"],
        "properties": {
            "order_id": { "type": "string" },
            "amount": { "type": "integer", "minimum": 0 }
        }
    })
}

#[derive(Debug, Object)]
#[oai(example, rename_all = "snake_case")]
pub struct EventTypeOut {
    pub id: String,
    pub name: String,
    #[oai(nullable)]
    pub description: Option<String>,
    #[oai(nullable)]
    pub schema: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Example for EventTypeOut {
    fn example() -> Self {
        let at = DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default();
        Self {
            id: "et_0193a1b2c3d47e8f9a0b1c2d3e4f5a6b".into(),
            name: "order.created".into(),
            description: Some("An order was placed".into()),
            schema: Some(example_schema()),
            created_at: at,
            updated_at: at,
        }
    }
}

impl From<EventTypeRow> for EventTypeOut {
    fn from(row: EventTypeRow) -> Self {
        Self {
            id: EventTypeId::from_uuid(row.id).to_string(),
            name: row.name,
            description: row.description,
            schema: row.schema,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example, rename_all = "snake_case")]
pub struct EventTypePage {
    pub items: Vec<EventTypeOut>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

impl Example for EventTypePage {
    fn example() -> Self {
        Self {
            items: vec![EventTypeOut::example()],
            next_cursor: None,
        }
    }
}

#[derive(ApiResponse)]
enum CreateEventTypeResponse {
    /// The registered event type.
    #[oai(status = 201)]
    Created(Json<EventTypeOut>),
}

/// Checks that `schema` is a JSON Schema Herald can apply (no remote references).
pub fn check_schema(schema: &serde_json::Value) -> Result<(), ApiError> {
    if !schema.is_object() && !schema.is_boolean() {
        return Err(ApiError::bad_request(
            "invalid_schema",
            "schema: must be a JSON Schema object",
        ));
    }
    jsonschema::validator_for(schema)
        .map(|_| ())
        .map_err(|e| ApiError::bad_request("invalid_schema", format!("schema: {e}")))
}

#[OpenApi(tag = "ApiTags::EventTypes")]
impl EventTypesApi {
    /// Register an event type
    ///
    /// Adds a type to the tenant's catalog. A name already registered answers 409.
    #[oai(
        path = "/event-types",
        method = "post",
        operation_id = "createEventType"
    )]
    async fn create(
        &self,
        auth: TenantAuth,
        state: poem::web::Data<&AppState>,
        body: JsonBody<EventTypeIn>,
    ) -> ApiResult<CreateEventTypeResponse> {
        let input = body.value;
        let name = EventTypeName::parse(&input.name)
            .map_err(|e| ApiError::bad_request("invalid_name", format!("name: {e}")))?;
        if let Some(schema) = &input.schema {
            check_schema(schema)?;
        }
        let row = store::event_types::create(
            &state.pool,
            auth.0.id.as_uuid(),
            &name,
            input.description.as_deref(),
            input.schema.as_ref(),
        )
        .await?
        .ok_or_else(|| {
            ApiError::conflict(
                "event_type_exists",
                format!("event type {name} is registered"),
            )
        })?;
        Ok(CreateEventTypeResponse::Created(Json(row.into())))
    }

    /// List event types
    #[oai(path = "/event-types", method = "get", operation_id = "listEventTypes")]
    async fn list(
        &self,
        auth: TenantAuth,
        state: poem::web::Data<&AppState>,
        /// Page size, 1 to 250 (default 50).
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<EventTypePage>> {
        let page = PageQuery::parse(limit.0, cursor.0.as_deref())?;
        let rows =
            store::event_types::list(&state.pool, auth.0.id.as_uuid(), page.cursor, page.limit)
                .await?;
        let (rows, next_cursor) = page.finish(rows, |r| (r.created_at, r.id));
        Ok(Json(EventTypePage {
            items: rows.into_iter().map(EventTypeOut::from).collect(),
            next_cursor,
        }))
    }

    /// Get an event type
    #[oai(
        path = "/event-types/:name",
        method = "get",
        operation_id = "getEventType"
    )]
    async fn get(
        &self,
        auth: TenantAuth,
        state: poem::web::Data<&AppState>,
        name: Path<String>,
    ) -> ApiResult<Json<EventTypeOut>> {
        let row = store::event_types::find_by_name(&state.pool, auth.0.id.as_uuid(), &name.0)
            .await?
            .ok_or_else(|| ApiError::not_found("event type"))?;
        Ok(Json(row.into()))
    }
}
