//! Shared code of the OrderFlow fuzz targets (`fuzz_targets/*.rs`, docs/fuzzing.md).
//!
//! Every structured input here implements [`arbitrary::Arbitrary`] with a small, fixed byte
//! layout instead of a derived one, and has an encoder (`to_bytes`) that writes exactly that
//! layout. That keeps the committed seed corpus made of *real* inputs (a real handshake, real
//! encoded events, real tokens, real request bodies), written by `examples/seeds.rs`, while
//! libFuzzer still mutates the bytes freely: any byte string decodes to some input or is
//! rejected as too short.
//!
//! The layouts use only one-byte choices (taken modulo the number of options), lengths as one
//! or two big-endian bytes followed by that many bytes, and "the rest of the input" for the
//! last field.

pub mod event;
pub mod hub;
pub mod rest;
pub mod token;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use arbitrary::{Arbitrary, Result, Unstructured};

/// Runs a future that completes without waiting on anything (an extractor over an in-memory
/// body, HS256 token validation). Panics if it does not complete in a few polls: that would
/// mean the code under test started waiting on I/O, which the harness cannot provide.
pub fn now_or_never<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    for _ in 0..16 {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
    panic!("the future under test did not complete without I/O");
}

/// One byte, for a choice among options (taken modulo their number).
pub fn byte(u: &mut Unstructured<'_>) -> Result<u8> {
    Ok(u.bytes(1)?[0])
}

/// A string of at most 255 bytes: a length byte, then the bytes (which must be UTF-8).
pub fn short_str<'a>(u: &mut Unstructured<'a>) -> Result<&'a str> {
    let len = usize::from(byte(u)?);
    std::str::from_utf8(u.bytes(len)?).map_err(|_| arbitrary::Error::IncorrectFormat)
}

/// Bytes of at most 65535: two length bytes (big-endian), then the bytes.
pub fn long_bytes<'a>(u: &mut Unstructured<'a>) -> Result<&'a [u8]> {
    let len = u.bytes(2)?;
    let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
    u.bytes(len)
}

/// The rest of the input (for the last field of a layout).
pub fn rest<'a>(u: &mut Unstructured<'a>) -> &'a [u8] {
    u.bytes(u.len()).unwrap_or_default()
}

/// A big-endian `u64` (eight bytes).
pub fn be_u64(u: &mut Unstructured<'_>) -> Result<u64> {
    let bytes: [u8; 8] = u.bytes(8)?.try_into().expect("eight bytes were taken");
    Ok(u64::from_be_bytes(bytes))
}

/// Writes the layouts read by the functions above.
#[derive(Debug, Default)]
pub struct Writer(pub Vec<u8>);

impl Writer {
    /// A one-byte choice.
    pub fn byte(&mut self, b: u8) -> &mut Self {
        self.0.push(b);
        self
    }

    /// See [`short_str`]. Panics on strings over 255 bytes (seeds are hand-made).
    pub fn short_str(&mut self, s: &str) -> &mut Self {
        let len = u8::try_from(s.len()).expect("short strings are at most 255 bytes");
        self.0.push(len);
        self.0.extend_from_slice(s.as_bytes());
        self
    }

    /// See [`long_bytes`].
    pub fn long_bytes(&mut self, b: &[u8]) -> &mut Self {
        let len = u16::try_from(b.len()).expect("long fields are at most 65535 bytes");
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(b);
        self
    }

    /// See [`be_u64`].
    pub fn be_u64(&mut self, n: u64) -> &mut Self {
        self.0.extend_from_slice(&n.to_be_bytes());
        self
    }

    /// The last field: the rest of the input.
    pub fn rest(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }

    /// The bytes written.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

/// JSON equality that tolerates the last bit of floating-point numbers: serde_json (without its
/// `float_roundtrip` feature, as the services build it) may parse a printed `f64` one unit in
/// the last place away, which is not a bug of the code under test.
pub fn same_json(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if x.is_f64() || y.is_f64() {
                match (x.as_f64(), y.as_f64()) {
                    (Some(x), Some(y)) => x == y || (x - y).abs() <= f64::EPSILON * x.abs() * 4.0,
                    _ => false,
                }
            } else {
                x == y
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kx, vx), (ky, vy))| kx == ky && same_json(vx, vy))
        }
        _ => a == b,
    }
}

/// Checks that every structured layout decodes exactly what its encoder writes, so the seed
/// corpus means what `examples/seeds.rs` says it does. Run at the start of every structured
/// target (`fuzz_target!(init: ...)`), and so on every fuzz run in CI; panics if it does not hold.
pub fn check_layouts() {
    use crate::event::{EventInput, Name, Value};
    use crate::rest::{BodyInput, Endpoint};
    use crate::token::{Signature, TokenInput};

    fn decode<'a, T: Arbitrary<'a>>(bytes: &'a [u8]) -> T {
        T::arbitrary_take_rest(Unstructured::new(bytes)).expect("decodes")
    }

    let event = EventInput {
        headers: vec![
            (
                Name::Known(orderflow_events::headers::SCHEMA),
                Value::Schema(orderflow_events::SCHEMA_NAMES[3]),
            ),
            (Name::Custom("X-A"), Value::Raw("b")),
            (
                Name::Known(orderflow_events::headers::NATS_STREAM),
                Value::Stream("INVENTORY"),
            ),
            (
                Name::Known(orderflow_events::headers::NATS_SEQUENCE),
                Value::Number(u64::MAX),
            ),
        ],
        subject: "orders.v1.a.b.created",
        payload: &[8, 1, 0xFF],
    };
    assert_eq!(decode::<EventInput<'_>>(&event.to_bytes()), event);

    for token in [
        TokenInput::Header(b"Bearer x"),
        TokenInput::Uri("/?access_token=x"),
        TokenInput::Raw("a.b.c"),
        TokenInput::Signed {
            signature: Signature::Tampered(7),
            header: b"{}",
            claims: b"{\"a\":1}",
        },
        TokenInput::Connection("abc"),
    ] {
        assert_eq!(decode::<TokenInput<'_>>(&token.to_bytes()), token);
    }

    let body = BodyInput {
        endpoint: Endpoint::AdjustStock,
        content_type: 3,
        admin: true,
        body: b"{}",
    };
    assert_eq!(decode::<BodyInput<'_>>(&body.to_bytes()), body);
}

#[cfg(test)]
mod tests {
    #[test]
    fn layouts_decode_what_the_encoders_write() {
        super::check_layouts();
    }
}
