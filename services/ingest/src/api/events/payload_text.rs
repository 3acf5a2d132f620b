//! An event's payload kept as the JSON text the request carried. Reading it into a
//! `serde_json::Value` tree (a map, a string or a number per element, each tracked for
//! error paths) took about 112,000 instructions for 1 KiB; as text it is checked once by the
//! parser and copied once. It becomes a tree only where one is needed: for a type with a
//! schema, and to find an escaped NUL. OpenAPI describes it as any JSON, as it did `Value`.

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

    /// Refuses what a tree could not be made of: arrays and objects nested as deep as
    /// serde_json's limit (128 levels), which every later reader of the stored payload has.
    pub fn check_depth(&self) -> Result<(), String> {
        match nesting(self.0.get()) {
            depth if depth < MAX_NESTING => Ok(()),
            _ => Err(format!(
                "arrays and objects may nest at most {} deep",
                MAX_NESTING - 1
            )),
        }
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

/// How deep arrays and objects nest in valid JSON text; strings are skipped whole. Byte by
/// byte is safe in UTF-8: no byte of a multi-byte character is ASCII.
fn nesting(json: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &byte in json.as_bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
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
        carried.payload.check_depth().unwrap();
        assert_eq!(nesting(r#"{"a": [1, {"b": "[[[{{"}], "c": "\\\"]"}"#), 3);
        let mut deep = json!(1);
        for levels in 1..=130 {
            deep = json!([deep]);
            let text = PayloadText::from_value(&deep);
            let parses = serde_json::from_str::<Value>(text.raw().get()).is_ok();
            assert_eq!(text.check_depth().is_ok(), parses, "{levels} levels");
        }
        let list: Carrier = serde_json::from_str(r#"{"payload": [1]}"#).unwrap();
        assert!(!list.payload.is_object());
    }
}
