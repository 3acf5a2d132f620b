//! An event's payload kept as the JSON text the request carried. Reading it into a
//! `serde_json::Value` tree (a map, a string or a number per element, each tracked for
//! error paths) took about 112,000 instructions for 1 KiB (docs/perf/rounds/16.md); as text
//! it is checked by the parser, scanned once and copied once. It becomes a tree only where
//! one is needed: for a type with a schema, to find an escaped NUL, and to check what the
//! parser lets through as text but a tree (or PostgreSQL) refuses (`check_readable`).
//! OpenAPI describes it as any JSON, as it did `Value`.

use std::borrow::Cow;

use poem_openapi::registry::MetaSchemaRef;
use poem_openapi::types::{ParseFromJSON, ParseResult, ToJSON, Type};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(transparent)]
pub struct PayloadText(Box<RawValue>);

impl PayloadText {
    pub fn from_value(value: &Value) -> Self {
        // A `Value` always writes as valid JSON, which is all `from_string` checks.
        Self(RawValue::from_string(value.to_string()).unwrap_or_else(|_| RawValue::NULL.to_owned()))
    }

    /// The text as the parser found it: one JSON value, without the whitespace around it.
    pub fn raw(&self) -> &RawValue {
        &self.0
    }

    /// Refuses what could not be read back as a tree, with the parser's own message, as when
    /// every payload was read as one: arrays and objects nested as deep as serde_json's limit
    /// (every later reader of the stored payload has it), and, parsed in full, any payload
    /// with a `\u` escape (a lone surrogate, which PostgreSQL refuses) or a number with an
    /// exponent or hundreds of digits (out of range as a double).
    pub fn check_readable(&self) -> Result<(), String> {
        let scan = scan(self.0.get());
        if scan.deepest >= MAX_NESTING {
            return Err(format!(
                "arrays and objects may nest at most {} deep",
                MAX_NESTING - 1
            ));
        }
        if scan.needs_parse {
            serde_json::from_str::<Value>(self.0.get()).map_err(|error| error.to_string())?;
        }
        Ok(())
    }

    pub fn is_object(&self) -> bool {
        self.0.get().starts_with('{')
    }

    /// The payload as a tree; the text was checked when it was read, so it always parses.
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.0.get()).unwrap_or_default()
    }
}

/// serde_json refuses a document whose arrays and objects nest this deep.
const MAX_NESTING: usize = 128;

/// Digits in a row past which a number may be out of a double's range (about 1.8e308).
const LONG_NUMBER: usize = 300;

/// What a pass over valid JSON text found.
#[derive(Debug, PartialEq)]
struct Scan {
    /// How deep arrays and objects nest.
    deepest: usize,
    /// Whether the text holds a `\u` escape or a number a double may not hold.
    needs_parse: bool,
}

/// One pass over valid JSON text; strings are skipped whole but for their escapes. Byte by
/// byte is safe in UTF-8: no byte of a multi-byte character is ASCII.
fn scan(json: &str) -> Scan {
    let (mut depth, mut deepest, mut digits) = (0usize, 0usize, 0usize);
    let (mut in_string, mut escaped, mut needs_parse) = (false, false, false);
    for &byte in json.as_bytes() {
        if in_string {
            match byte {
                b'u' if escaped => {
                    needs_parse = true;
                    escaped = false;
                }
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'0'..=b'9' => {
                digits += 1;
                needs_parse |= digits > LONG_NUMBER;
                continue;
            }
            b'e' | b'E' if digits > 0 => needs_parse = true,
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        digits = 0;
    }
    Scan {
        deepest,
        needs_parse,
    }
}

impl Type for PayloadText {
    const IS_REQUIRED: bool = true;

    type RawValueType = Self;

    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        Value::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        Value::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromJSON for PayloadText {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        Ok(Self::from_value(&value.unwrap_or_default()))
    }
}

impl ToJSON for PayloadText {
    fn to_json(&self) -> Option<Value> {
        Some(self.to_value())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Carrier {
        payload: PayloadText,
    }

    #[test]
    fn the_text_is_the_value_alone_and_reads_back_as_the_same_tree() {
        let body = r#"{"payload":   {"b": [1, 2.5, "x\u0000"], "a": null}  }"#;
        // Read as request bodies are: through the path-tracking deserializer.
        let carried: Carrier = crate::body::parse(body.as_bytes()).unwrap();
        assert_eq!(
            carried.payload.raw().get(),
            r#"{"b": [1, 2.5, "x\u0000"], "a": null}"#
        );
        assert!(carried.payload.is_object());
        let tree = json!({ "b": [1, 2.5, "x\u{0}"], "a": null });
        assert_eq!(carried.payload.to_value(), tree);
        assert_eq!(PayloadText::from_value(&tree).to_value(), tree);
        carried.payload.check_readable().unwrap();
        let found = |text: &str| scan(text);
        assert_eq!(
            found(r#"{"a": [1, {"b": "[[[{{\\u0000"}], "c": "\\\"]", "d": true}"#),
            Scan {
                deepest: 3,
                needs_parse: false
            }
        );
        assert!(found(r#"{"a": "\ud800"}"#).needs_parse);
        assert!(found(r#"{"a": 1.5e3}"#).needs_parse);
        assert!(found(&format!(r#"{{"a": {}}}"#, "9".repeat(301))).needs_parse);
        assert!(!found(&format!(r#"{{"a": {}, "b": 1}}"#, "9".repeat(300))).needs_parse);
        let mut deep = json!(1);
        for levels in 1..=130 {
            deep = json!([deep]);
            let text = PayloadText::from_value(&deep);
            let parses = serde_json::from_str::<Value>(text.raw().get()).is_ok();
            assert_eq!(text.check_readable().is_ok(), parses, "{levels} levels");
        }
        for unreadable in [r#"{"a": "\udc00"}"#, r#"{"a": 1e400}"#, r#"{"a": -1E+309}"#] {
            let text: Carrier =
                crate::body::parse(format!(r#"{{"payload": {unreadable}}}"#).as_bytes()).unwrap();
            assert!(text.payload.check_readable().is_err(), "{unreadable}");
        }
        let list: Carrier = serde_json::from_str(r#"{"payload": [1]}"#).unwrap();
        assert!(!list.payload.is_object());
    }
}
