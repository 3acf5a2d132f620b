//! How a span's fields are kept for the JSON log line (`log_lines`): as the members of a JSON
//! object without its braces (`"tenant":"acme","attempt":2`), written once when the span
//! opens, and appended to when a field is recorded later. A field recorded twice appears
//! twice; the reader keeps the later value, as a JSON object parsed into a map does.
//!
//! `tracing-subscriber`'s own `JsonFields` builds a map of values and serializes it for each
//! span, and for each later record parses the span's JSON back, inserts and serializes it
//! again. A delivery opens three spans and records ten fields on them after they open, so on
//! the dispatcher's hot path that was a dozen maps built, parsed and written per delivery, for
//! lines that are written only when something goes wrong.

use std::fmt::{self, Write};

use tracing::field::{Field, Visit};
use tracing::span::Record;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FormatFields, FormattedFields};

/// The field formatter; `log_lines::JsonLines` reads what it writes.
#[derive(Debug, Default, Clone, Copy)]
pub struct SpanFields;

impl<'writer> FormatFields<'writer> for SpanFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut members = Members::new(&mut writer, true);
        fields.record(&mut members);
        members.result
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &Record<'_>,
    ) -> fmt::Result {
        let first = current.fields.is_empty();
        let mut members = Members::new(&mut current.fields, first);
        fields.record(&mut members);
        members.result
    }
}

/// Writes `fields` (an event's, say) as JSON members, as a span's are kept.
pub fn write_members(out: &mut impl Write, fields: impl RecordFields) -> fmt::Result {
    let mut members = Members::new(out, true);
    fields.record(&mut members);
    members.result
}

/// One member of a span's formatted fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member<'a> {
    /// The name as written between its quotes (escaped, if it needed escaping).
    pub key: &'a str,
    /// The whole member: `"key":value`.
    pub text: &'a str,
}

/// The members of `fields` as `SpanFields` or `write_members` wrote them, in order. Their
/// values are strings, numbers, booleans or `null`, never objects or arrays.
pub fn members(fields: &str) -> impl Iterator<Item = Member<'_>> {
    let mut rest = fields;
    std::iter::from_fn(move || {
        let text = rest.strip_prefix(',').unwrap_or(rest);
        let key_end = string_end(text)?;
        let value = text[key_end..].strip_prefix(':')?;
        let value_len = if value.starts_with('"') {
            string_end(value)?
        } else {
            value.find(',').unwrap_or(value.len())
        };
        let member_len = key_end + 1 + value_len;
        rest = &text[member_len..];
        Some(Member {
            key: &text[1..key_end - 1],
            text: &text[..member_len],
        })
    })
}

/// Where the JSON string that `text` starts with ends (just past its closing quote).
fn string_end(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    if bytes.first() != Some(&b'"') {
        return None;
    }
    let mut at = 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => at += 2,
            b'"' => return Some(at + 1),
            _ => at += 1,
        }
    }
    None
}

/// Writes each visited field as a JSON member, a comma before all but the first.
struct Members<'a, W: Write> {
    out: &'a mut W,
    first: bool,
    result: fmt::Result,
}

impl<'a, W: Write> Members<'a, W> {
    fn new(out: &'a mut W, first: bool) -> Self {
        Members {
            out,
            first,
            result: Ok(()),
        }
    }

    /// Writes `"name":` then the value `write_value` writes.
    fn member(&mut self, field: &Field, write_value: impl FnOnce(&mut W) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        self.result = (|| {
            if !std::mem::take(&mut self.first) {
                self.out.write_char(',')?;
            }
            write_string(self.out, format_args!("{}", field.name()))?;
            self.out.write_char(':')?;
            write_value(self.out)
        })();
    }
}

impl<W: Write> Visit for Members<'_, W> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity.
        self.member(field, |out| {
            if value.is_finite() {
                write!(out, "{value}")
            } else {
                out.write_str("null")
            }
        });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, |out| write_string(out, format_args!("{value}")));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.member(field, |out| write_string(out, format_args!("{value}")));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%value` fields arrive here too, their `Debug` being their `Display`.
        self.member(field, |out| write_string(out, format_args!("{value:?}")));
    }
}

/// Writes `text` as a JSON string, escaped as it is formatted (no copy in between).
pub fn write_string<W: Write>(out: &mut W, text: fmt::Arguments<'_>) -> fmt::Result {
    out.write_char('"')?;
    Escaped(out).write_fmt(text)?;
    out.write_char('"')
}

/// Escapes what passes through for the inside of a JSON string.
struct Escaped<'a, W: Write>(&'a mut W);

impl<W: Write> Write for Escaped<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut plain = 0;
        for (at, c) in text.char_indices() {
            let escape = match c {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                c if c < ' ' => "",
                _ => continue,
            };
            self.0.write_str(&text[plain..at])?;
            match escape {
                "" => write!(self.0, "\\u{:04x}", c as u32)?,
                escape => self.0.write_str(escape)?,
            }
            plain = at + c.len_utf8();
        }
        self.0.write_str(&text[plain..])
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use tracing::field::Empty;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::registry::LookupSpan;

    use super::*;

    /// The span's formatted fields, after `work` ran inside the subscriber.
    fn formatted_after(work: impl FnOnce() -> tracing::Span) -> String {
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .fmt_fields(SpanFields)
                .with_writer(std::io::sink),
        );
        let dispatch = tracing::Dispatch::new(subscriber);
        tracing::dispatcher::with_default(&dispatch, || {
            let span = work();
            let registry = dispatch
                .downcast_ref::<tracing_subscriber::Registry>()
                .expect("the registry");
            let data = registry.span(&span.id().expect("an enabled span")).unwrap();
            let extensions = data.extensions();
            let formatted = extensions.get::<FormattedFields<SpanFields>>().unwrap();
            formatted.fields.clone()
        })
    }

    /// The same, read as a JSON object.
    fn fields_after(work: impl FnOnce() -> tracing::Span) -> Value {
        let members = formatted_after(work);
        serde_json::from_str(&format!("{{{members}}}")).expect("a JSON object")
    }

    #[test]
    fn fields_recorded_later_are_appended_and_the_last_value_wins() {
        let fields = fields_after(|| {
            let span = tracing::info_span!(
                "delivery",
                tenant = "acme",
                generation = 3_u64,
                offset = -2_i64,
                retried = false,
                delivery_id = %"del_1",
                attempt = Empty,
                trace_id = Empty,
            );
            span.record("attempt", 1);
            span.record("trace_id", "4bf9");
            span.record("attempt", 2);
            span
        });
        let expected = json!({
            "tenant": "acme", "generation": 3, "offset": -2, "retried": false,
            "delivery_id": "del_1", "attempt": 2, "trace_id": "4bf9",
        });
        assert_eq!(fields, expected);
    }

    #[test]
    fn a_span_whose_fields_are_all_recorded_later_is_still_an_object() {
        let fields = fields_after(|| {
            let span = tracing::info_span!("decision", outcome = Empty, "retry.delay_ms" = Empty);
            span.record("outcome", "retry");
            span.record("retry.delay_ms", 5000);
            span
        });
        assert_eq!(fields, json!({"outcome": "retry", "retry.delay_ms": 5000}));
    }

    #[test]
    fn strings_are_escaped_and_odd_numbers_become_null() {
        let hostile = "a \"quoted\" \\ line\nbreak\r\t\u{1b}[31m \u{0} é ✓";
        let fields = fields_after(
            || tracing::info_span!("x", text = hostile, shown = ?hostile, ratio = f64::NAN, half = 0.5),
        );
        assert_eq!(fields["text"], hostile);
        assert_eq!(fields["shown"], format!("{hostile:?}"));
        assert_eq!(fields["ratio"], Value::Null);
        assert_eq!(fields["half"], 0.5);
    }

    #[test]
    fn members_are_read_back_as_written_whatever_their_strings_hold() {
        let tricky = "a \"quoted\", comma: \\ and \\\" end";
        let text = formatted_after(|| {
            let span = tracing::info_span!("x", first = tricky, n = 7, last = Empty);
            span.record("last", 0.5);
            span
        });
        let read: Vec<(&str, Value)> = members(&text)
            .map(|m| {
                let object: Value = serde_json::from_str(&format!("{{{}}}", m.text)).unwrap();
                (m.key, object[m.key].clone())
            })
            .collect();
        let expected = [
            ("first", json!(tricky)),
            ("n", json!(7)),
            ("last", json!(0.5)),
        ];
        assert_eq!(read, expected);
        assert_eq!(members("").count(), 0);
    }

    #[test]
    fn a_span_without_fields_holds_an_empty_object() {
        let fields = fields_after(|| tracing::info_span!("plain"));
        assert_eq!(fields, json!({}));
    }
}
