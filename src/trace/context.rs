//! W3C Trace Context (level 1, version 00): the `traceparent` header the gateway and the
//! sidecars read and pass on, and the ids of the spans they record.
//!
//! ```text
//!   traceparent: 00-<32 hex trace id>-<16 hex parent span id>-<2 hex flags>
//!   client ──(trace T, parent C)──► gateway span G ──(T, parent U = G's upstream span)──► sidecar span S
//!                                                     ──(T, parent S)──► service ──► next hop …
//! ```
//! Each hop keeps the trace id and puts its own span id in the header it passes on, so the
//! recorded spans link parent to child across processes (OBS-2: the trace id reaches the
//! service unchanged).

/// One `traceparent`: the trace, the sender's span, and the flags (`01` = sampled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: u128,
    pub parent_id: u64,
    pub flags: u8,
}

impl TraceContext {
    /// Parses a `traceparent` value; `None` unless it is version `00` with lowercase hex ids
    /// that are not all zero.
    pub fn parse(value: &str) -> Option<TraceContext> {
        let value = value.trim();
        let bytes = value.as_bytes();
        if bytes.len() != 55 || bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
            return None;
        }
        let hex = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        let (version, trace, parent, flags) =
            (&value[0..2], &value[3..35], &value[36..52], &value[53..55]);
        if version != "00" || !hex(trace) || !hex(parent) || !hex(flags) {
            return None;
        }
        let trace_id = u128::from_str_radix(trace, 16).ok()?;
        let parent_id = u64::from_str_radix(parent, 16).ok()?;
        let flags = u8::from_str_radix(flags, 16).ok()?;
        (trace_id != 0 && parent_id != 0).then_some(TraceContext {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// A new sampled trace whose first span is `span`.
    pub fn start(span: u64) -> TraceContext {
        TraceContext {
            trace_id: new_trace_id(),
            parent_id: span,
            flags: 1,
        }
    }

    /// The same trace with `span` as the sender: what a hop passes on.
    pub fn child(self, span: u64) -> TraceContext {
        TraceContext {
            parent_id: span,
            ..self
        }
    }

    /// The header value.
    pub fn header(&self) -> String {
        let mut out = [b'-'; 55];
        out[..2].copy_from_slice(b"00");
        put_hex(&mut out[3..35], self.trace_id);
        put_hex(&mut out[36..52], u128::from(self.parent_id));
        put_hex(&mut out[53..55], u128::from(self.flags));
        out.iter().map(|&b| char::from(b)).collect()
    }
}

/// Writes the low `out.len()` hex digits of `value` into `out`, lowercase, zero-padded (what
/// `format!("{:0N$x}")` prints, without the formatter's per-digit machinery: this runs on every
/// request).
fn put_hex(out: &mut [u8], mut value: u128) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(value & 0xf) as usize];
        value >>= 4;
    }
}

/// A random trace id (never zero).
pub fn new_trace_id() -> u128 {
    rand::random::<u128>().max(1)
}

/// A random span id (never zero).
pub fn new_span_id() -> u64 {
    rand::random::<u64>().max(1)
}

/// The id of the `n`th child of span `parent` that the same hop records (a stage, an
/// attempt): derived, so the request path draws one random id per hop, not one per span.
pub fn derived_span_id(parent: u64, n: u64) -> u64 {
    // splitmix64 of the pair: distinct for distinct n, and unrelated to `parent` by eye.
    let mut z = parent ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)).max(1)
}

/// `4bf92f3577b34da6a3ce929d0e0e4736`.
pub fn trace_hex(id: u128) -> String {
    let mut out = [0; 32];
    put_hex(&mut out, id);
    out.iter().map(|&b| char::from(b)).collect()
}

/// `00f067aa0ba902b7`.
pub fn span_hex(id: u64) -> String {
    format!("{id:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_the_w3c_example() {
        let value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let ctx = TraceContext::parse(value).expect("valid");
        assert_eq!(ctx.trace_id, 0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_eq!(ctx.parent_id, 0x00f067aa0ba902b7);
        assert_eq!(ctx.flags, 1);
        assert_eq!(ctx.header(), value);
        assert_eq!(
            ctx.child(0xabc).header(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000abc-01"
        );
    }

    #[test]
    fn refuses_malformed_or_zero_contexts() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceContext::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn derived_ids_are_distinct_and_never_zero() {
        let ids: std::collections::BTreeSet<u64> =
            (0..1000).map(|n| derived_span_id(42, n)).collect();
        assert_eq!(ids.len(), 1000);
        assert!(!ids.contains(&0));
        assert_ne!(derived_span_id(42, 1), derived_span_id(43, 1));
    }
}
