//! The JSON log line: one flat object per event with `timestamp`, `level`, `target`,
//! `message`, the event's own fields, and the fields of every span it was written in (the
//! innermost wins; `otel.*` steering fields are left out). So a line written while a delivery
//! is worked carries `tenant`, `event_id`, `delivery_id`, `webhook_id`, `attempt`, `trace_id`
//! and `span_id` at the top level, where `jq '.event_id'` finds them.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        let mut fields = Map::new();
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let Some(formatted) = extensions.get::<FormattedFields<N>>() else {
                    continue;
                };
                if let Ok(Value::Object(span_fields)) = serde_json::from_str(&formatted.fields) {
                    fields.extend(span_fields);
                }
            }
        }
        event.record(&mut JsonVisitor(&mut fields));
        fields.retain(|key, _| !key.starts_with("otel."));
        let message = fields.remove("message").unwrap_or(Value::Null);

        let timestamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let head = [
            ("timestamp", Value::from(timestamp)),
            ("level", metadata.level().as_str().into()),
            ("target", metadata.target().into()),
            ("message", message),
        ];
        // The head first, in this order, for people reading the raw lines; then the rest.
        let entries = head
            .iter()
            .map(|(key, value)| (*key, value))
            .chain(fields.iter().map(|(key, value)| (key.as_str(), value)));
        let mut line = String::with_capacity(512);
        for (key, value) in entries {
            line.push(if line.is_empty() { '{' } else { ',' });
            line.push_str(&Value::from(key).to_string());
            line.push(':');
            line.push_str(&value.to_string());
        }
        writeln!(writer, "{line}}}")
    }
}

/// Collects an event's fields as JSON values.
struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::fmt::format::JsonFields;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    /// What `emit` logs, as text.
    fn captured(emit: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            .event_format(JsonLines)
            .fmt_fields(JsonFields::new())
            .with_writer(buffer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn lines_carry_the_fields_of_every_enclosing_span_flat() {
        let text = captured(|| {
            let outer = tracing::info_span!(
                "delivery",
                tenant = "acme",
                attempt = tracing::field::Empty,
                "otel.kind" = "consumer"
            );
            let _outer = outer.enter();
            outer.record("attempt", 2);
            let inner = tracing::info_span!("post", attempt = 3, span_id = "b");
            let _inner = inner.enter();
            tracing::info!(status_code = 503, retried = true, "attempt result");
        });
        let line: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["message"], "attempt result");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["tenant"], "acme");
        assert_eq!(line["attempt"], 3, "the innermost span wins");
        assert_eq!(line["span_id"], "b");
        assert_eq!(line["status_code"], 503);
        assert_eq!(line["retried"], true);
        assert!(line.get("otel.kind").is_none(), "{line}");
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));
        assert!(text.starts_with(r#"{"timestamp":"#), "{text}");
    }

    /// Log injection: a value carrying a line break and a forged entry stays one field of
    /// one line.
    #[test]
    fn hostile_values_stay_inside_their_field() {
        let forged = "x\n{\"level\":\"ERROR\",\"message\":\"forged\"}\r\u{1b}[31m";
        let text = captured(|| {
            let span = tracing::info_span!("request", url = forged);
            let _span = span.enter();
            tracing::info!(error = forged, "attempt result");
        });
        assert_eq!(text.trim_end().lines().count(), 1, "{text}");
        let line: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["error"], forged);
        assert_eq!(line["url"], forged);
        assert_eq!(line["level"], "INFO");
    }
}
