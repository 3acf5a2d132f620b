//! The JSON log line: one flat object per event with `timestamp`, `level`, `target`,
//! `message`, the event's own fields, then the fields of every span it was written in, the
//! innermost first (a name appears once: the event's own value wins, then the innermost
//! span's; `otel.*` steering fields are left out). So a line written while a delivery is
//! worked carries `tenant`, `event_id`, `delivery_id`, `webhook_id`, `attempt`, `trace_id` and
//! `span_id` at the top level, where `jq '.event_id'` finds them.
//!
//! The line is written as text from the members `span_fields` keeps, with no JSON values
//! built in between: at `info` a delivery writes four lines, and building a map of values for
//! each cost the dispatcher more than the rest of its work on that delivery.

use std::fmt::{self, Write};
use std::ops::Range;

use chrono::{Datelike, Timelike};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use crate::span_fields::{self, Member, SpanFields};

/// The event formatter, for spans whose fields `SpanFields` formats.
pub struct JsonLines;

impl<S> FormatEvent<S, SpanFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, SpanFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        let mut own = String::with_capacity(128);
        span_fields::write_members(&mut own, event)?;
        let mut line = Line::with_head(metadata.level().as_str(), metadata.target())?;
        let message = span_fields::members(&own).find(|member| member.key == "message");
        match message {
            Some(message) => line.add(message),
            None => {
                line.name("message");
                line.text.push_str("null");
            }
        }
        line.add_all(&own);
        if let Some(scope) = ctx.event_scope() {
            for span in scope {
                let extensions = span.extensions();
                if let Some(formatted) = extensions.get::<FormattedFields<SpanFields>>() {
                    line.add_all(&formatted.fields);
                }
            }
        }
        line.text.push('}');
        writeln!(writer, "{}", line.text)
    }
}

/// A line being written, and where the names it holds are in it.
struct Line {
    text: String,
    names: Vec<Range<usize>>,
}

impl Line {
    /// `{"timestamp":...,"level":...,"target":...`, the time now in UTC to the microsecond.
    fn with_head(level: &str, target: &str) -> Result<Line, fmt::Error> {
        let now = chrono::Utc::now();
        let mut line = Line {
            text: String::with_capacity(512),
            names: Vec::with_capacity(24),
        };
        line.text.push('{');
        line.name("timestamp");
        write!(
            line.text,
            "\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z\"",
            now.year(),
            now.month(),
            now.day(),
            now.hour(),
            now.minute(),
            now.second(),
            // A leap second counts its nanoseconds past 1,000,000,000; they wrap within the second.
            now.nanosecond() % 1_000_000_000 / 1_000,
        )?;
        line.name("level");
        span_fields::write_string(&mut line.text, format_args!("{level}"))?;
        line.name("target");
        span_fields::write_string(&mut line.text, format_args!("{target}"))?;
        Ok(line)
    }

    /// Starts the member `"name":`; `name` needs no escaping.
    fn name(&mut self, name: &str) {
        self.separate();
        self.text.push('"');
        let start = self.text.len();
        self.text.push_str(name);
        self.names.push(start..self.text.len());
        self.text.push_str("\":");
    }

    /// Adds the member unless its name is already on the line or is an `otel.*` one.
    fn add(&mut self, member: Member<'_>) {
        let taken = self
            .names
            .iter()
            .any(|name| &self.text[name.clone()] == member.key);
        if taken || member.key.starts_with("otel.") {
            return;
        }
        self.separate();
        let start = self.text.len() + 1;
        self.text.push_str(member.text);
        self.names.push(start..start + member.key.len());
    }

    /// Adds the members of `fields`, the last of a name winning.
    fn add_all(&mut self, fields: &str) {
        let members: Vec<Member<'_>> = span_fields::members(fields).collect();
        for member in members.into_iter().rev() {
            self.add(member);
        }
    }

    fn separate(&mut self) {
        if self.text.len() > 1 {
            self.text.push(',');
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::Value;
    use tracing::field::Empty;

    use super::*;
    use tracing_subscriber::fmt::MakeWriter;

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
            .fmt_fields(SpanFields)
            .event_format(JsonLines)
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

    #[test]
    fn a_name_appears_once_the_events_value_first_then_the_innermost_spans() {
        let text = captured(|| {
            let outer = tracing::info_span!("delivery", tenant = "acme", attempt = 1, step = "o");
            let _outer = outer.enter();
            let inner = tracing::info_span!("post", attempt = 2, step = Empty);
            inner.record("step", "first");
            inner.record("step", "second");
            let _inner = inner.enter();
            tracing::info!(step = "event", target = "forged", "done");
            tracing::info!(count = 3);
        });
        let mut lines = text.lines();
        let first = lines.next().unwrap();
        for name in ["step", "attempt", "tenant", "target", "message"] {
            assert_eq!(
                first.matches(&format!("\"{name}\":")).count(),
                1,
                "{name}: {first}"
            );
        }
        let line: Value = serde_json::from_str(first).unwrap();
        assert_eq!(line["step"], "event");
        assert_eq!(line["attempt"], 2);
        assert_eq!(line["tenant"], "acme");
        assert_eq!(
            line["target"], "herald_runtime::log_lines::tests",
            "the head wins"
        );
        let order: Vec<usize> = ["\"step\"", "\"attempt\"", "\"tenant\""]
            .iter()
            .map(|name| first.find(name).unwrap())
            .collect();
        assert!(
            order.is_sorted(),
            "the event's, then the inner span's, then the outer's"
        );

        let second: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        assert_eq!(second["message"], Value::Null);
        assert_eq!(second["count"], 3);
        assert_eq!(second["step"], "second", "a span's later record wins");
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
