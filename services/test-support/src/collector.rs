//! A small OpenTelemetry collector on loopback: it accepts OTLP/HTTP trace exports
//! (`POST /v1/traces`, protobuf), decodes them with the opentelemetry-proto types and keeps
//! every span, so a test can check what Herald exported and how the spans link up.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use poem::http::StatusCode;
use poem::{Body, EndpointExt, Response, Route, handler};
use prost::Message;

/// One exported span, with the ids as lowercase hex as in `traceparent`.
#[derive(Debug, Clone)]
pub struct CollectedSpan {
    pub service: String,
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub span: Span,
}

impl CollectedSpan {
    /// A string, integer or boolean attribute, as text.
    pub fn attribute(&self, key: &str) -> Option<String> {
        self.span
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
            .map(text)
    }

    pub fn has_event(&self, name: &str) -> bool {
        self.span.events.iter().any(|e| e.name == name)
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::StringValue(s) => s.clone(),
        Value::IntValue(i) => i.to_string(),
        Value::BoolValue(b) => b.to_string(),
        Value::DoubleValue(d) => d.to_string(),
        other => format!("{other:?}"),
    }
}

type Spans = Arc<Mutex<Vec<CollectedSpan>>>;

pub struct Collector {
    addr: SocketAddr,
    spans: Spans,
    server: tokio::task::JoinHandle<()>,
}

impl Collector {
    pub async fn start() -> Self {
        let spans = Spans::default();
        let app = Route::new().at("/v1/traces", export.data(spans.clone()));
        let (addr, server) = crate::loopback::serve(app).await;
        Self {
            addr,
            spans,
            server,
        }
    }

    /// The value for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn spans(&self) -> Vec<CollectedSpan> {
        self.spans.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[handler]
async fn export(body: Body, spans: poem::web::Data<&Spans>) -> Response {
    let bytes = body.into_vec().await.unwrap_or_default();
    let Ok(request) = ExportTraceServiceRequest::decode(bytes.as_slice()) else {
        return Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .body("not an ExportTraceServiceRequest");
    };
    let mut collected = Vec::new();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
            .map(text)
            .unwrap_or_default();
        for scope_spans in resource_spans.scope_spans {
            for span in scope_spans.spans {
                collected.push(CollectedSpan {
                    service: service.clone(),
                    name: span.name.clone(),
                    trace_id: hex::encode(&span.trace_id),
                    span_id: hex::encode(&span.span_id),
                    parent_span_id: hex::encode(&span.parent_span_id),
                    span,
                });
            }
        }
    }
    spans
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .extend(collected);
    Response::builder()
        .content_type("application/x-protobuf")
        .body(ExportTraceServiceResponse::default().encode_to_vec())
}
