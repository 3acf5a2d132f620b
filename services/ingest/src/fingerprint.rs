//! A stable hash of a JSON document: object keys are sorted first, so two requests that
//! differ only in key order or white space have the same fingerprint.

use sha2::{Digest, Sha256};

pub fn fingerprint(value: &serde_json::Value) -> String {
    let mut hasher = Sha256::new();
    feed(&mut hasher, value);
    hex::encode(hasher.finalize())
}

fn feed(hasher: &mut Sha256, value: &serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            hasher.update(b"{");
            for key in keys {
                feed(hasher, &serde_json::Value::String(key.clone()));
                hasher.update(b":");
                feed(hasher, &map[key]);
                hasher.update(b",");
            }
            hasher.update(b"}");
        }
        serde_json::Value::Array(items) => {
            hasher.update(b"[");
            for item in items {
                feed(hasher, item);
                hasher.update(b",");
            }
            hasher.update(b"]");
        }
        scalar => hasher.update(scalar.to_string().as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn key_order_does_not_matter() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"b": 1, "a": {"y": [1, 2], "x": null}}"#).unwrap();
        let b = json!({ "a": { "x": null, "y": [1, 2] }, "b": 1 });
        assert_eq!(fingerprint(&a), fingerprint(&b));
    }

    #[test]
    fn content_does_matter() {
        let base = fingerprint(&json!({ "a": [1, 2] }));
        assert_ne!(base, fingerprint(&json!({ "a": [2, 1] })));
        assert_ne!(base, fingerprint(&json!({ "a": [1, 2], "b": null })));
        assert_ne!(fingerprint(&json!("1")), fingerprint(&json!(1)));
    }
}
