//! W3C Trace Context `traceparent` values: `00-<trace id>-<parent id>-<flags>`.

use rand::RngCore;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: [u8; 16],
    pub parent_id: [u8; 8],
    pub sampled: bool,
}

impl TraceParent {
    /// A new trace.
    pub fn new_root() -> Self {
        let mut trace_id = [0u8; 16];
        let mut parent_id = [0u8; 8];
        rand::rng().fill_bytes(&mut trace_id);
        rand::rng().fill_bytes(&mut parent_id);
        Self {
            trace_id,
            parent_id,
            sampled: true,
        }
    }

    /// A new span in the same trace (an attempt, a hop).
    pub fn child(&self) -> Self {
        let mut parent_id = [0u8; 8];
        rand::rng().fill_bytes(&mut parent_id);
        Self { parent_id, ..*self }
    }

    pub fn parse(value: &str) -> Option<Self> {
        let mut parts = value.trim().split('-');
        let (version, trace, parent, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version != "00" || parts.next().is_some() || flags.len() != 2 {
            return None;
        }
        let mut trace_id = [0u8; 16];
        let mut parent_id = [0u8; 8];
        hex::decode_to_slice(trace, &mut trace_id).ok()?;
        hex::decode_to_slice(parent, &mut parent_id).ok()?;
        let flags = u8::from_str_radix(flags, 16).ok()?;
        let valid = trace_id != [0; 16]
            && parent_id != [0; 8]
            && trace
                .bytes()
                .chain(parent.bytes())
                .all(|b| !b.is_ascii_uppercase());
        valid.then_some(Self {
            trace_id,
            parent_id,
            sampled: flags & 1 == 1,
        })
    }
}

/// Lower-case hex, shown without allocating (every delivery's request carries a traceparent).
pub fn hex(bytes: &[u8]) -> impl std::fmt::Display + '_ {
    struct Hex<'a>(&'a [u8]);
    impl std::fmt::Display for Hex<'_> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            // A table lookup per byte into a buffer on the stack: `{:02x}` per byte took
            // several times the instructions, on every delivery.
            let mut buffer = [0u8; 64];
            for chunk in self.0.chunks(buffer.len() / 2) {
                let shown = &mut buffer[..chunk.len() * 2];
                hex::encode_to_slice(chunk, shown).map_err(|_| std::fmt::Error)?;
                f.write_str(std::str::from_utf8(shown).map_err(|_| std::fmt::Error)?)?;
            }
            Ok(())
        }
    }
    Hex(bytes)
}

impl std::fmt::Display for TraceParent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            hex(&self.trace_id),
            hex(&self.parent_id),
            u8::from(self.sampled)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_children_share_the_trace() {
        let root = TraceParent::new_root();
        let shown = root.to_string();
        assert_eq!(shown.len(), 55);
        assert_eq!(TraceParent::parse(&shown), Some(root));
        let child = root.child();
        assert_eq!(child.trace_id, root.trace_id);
        assert_ne!(child.parent_id, root.parent_id);
    }

    #[test]
    fn parses_the_w3c_example_and_refuses_malformed_values() {
        let example = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parsed = TraceParent::parse(example).unwrap();
        assert!(parsed.sampled);
        assert_eq!(parsed.to_string(), example);
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-xyz-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn hex_shows_every_byte_as_two_lower_case_digits(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..100)
        ) {
            let shown = hex(&bytes).to_string();
            let expected: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            proptest::prop_assert_eq!(shown, expected);
        }
    }
}
