//! Input of `event_decode`: a NATS message as a consumer receives it — headers, subject and
//! the protobuf payload.
//!
//! Layout: one byte, the number of headers (modulo 9); per header a name (one byte: one of
//! [`KNOWN_HEADERS`] by index, or 8 for a custom name that follows as a short string) and a
//! value (one byte choosing its kind, see [`Value`]); the subject (short string); the payload
//! (the rest).

use arbitrary::{Arbitrary, Result, Unstructured};
use orderflow_events::{SCHEMA_NAMES, headers};

use crate::{Writer, be_u64, byte, rest, short_str};

/// The headers OrderFlow producers and JetStream set, by index in the layout.
pub const KNOWN_HEADERS: [&str; 8] = [
    headers::SCHEMA,
    headers::MSG_ID,
    headers::CONTENT_TYPE,
    headers::AGGREGATE_VERSION,
    headers::NATS_STREAM,
    headers::NATS_SEQUENCE,
    headers::NATS_SUBJECT,
    headers::NATS_LAST_SEQUENCE,
];

/// The streams whose names the gateway reads from `Nats-Stream`.
pub const STREAMS: [&str; 2] = ["ORDERS", "INVENTORY"];

/// A header name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name<'a> {
    /// One of [`KNOWN_HEADERS`].
    Known(&'static str),
    /// Anything else.
    Custom(&'a str),
}

/// A header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// Kind 0: one of the schema names the decoder knows (next byte: index).
    Schema(&'static str),
    /// Kind 1: a stream name (next byte: index into [`STREAMS`]).
    Stream(&'static str),
    /// Kind 2: a decimal number (next eight bytes, big-endian).
    Number(u64),
    /// Kind 3: any short string.
    Raw(&'a str),
}

impl Value<'_> {
    /// The header value as text.
    pub fn text(&self) -> String {
        match self {
            Value::Schema(s) | Value::Stream(s) => (*s).to_owned(),
            Value::Number(n) => n.to_string(),
            Value::Raw(s) => (*s).to_owned(),
        }
    }
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventInput<'a> {
    /// Headers in order (names may repeat).
    pub headers: Vec<(Name<'a>, Value<'a>)>,
    /// The subject it arrived on.
    pub subject: &'a str,
    /// The payload.
    pub payload: &'a [u8],
}

impl<'a> Arbitrary<'a> for EventInput<'a> {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let count = byte(u)? % 9;
        let mut headers = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let name = match usize::from(byte(u)? % 9) {
                i if i < KNOWN_HEADERS.len() => Name::Known(KNOWN_HEADERS[i]),
                _ => Name::Custom(short_str(u)?),
            };
            let value = match byte(u)? % 4 {
                0 => Value::Schema(SCHEMA_NAMES[usize::from(byte(u)?) % SCHEMA_NAMES.len()]),
                1 => Value::Stream(STREAMS[usize::from(byte(u)? % 2)]),
                2 => Value::Number(be_u64(u)?),
                _ => Value::Raw(short_str(u)?),
            };
            headers.push((name, value));
        }
        Ok(EventInput {
            headers,
            subject: short_str(u)?,
            payload: rest(u),
        })
    }
}

impl EventInput<'_> {
    /// The bytes that decode to this input.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.byte(u8::try_from(self.headers.len()).expect("at most 8 headers"));
        for (name, value) in &self.headers {
            match name {
                Name::Known(known) => {
                    let i = KNOWN_HEADERS.iter().position(|k| k == known);
                    w.byte(u8::try_from(i.expect("a known header")).expect("small index"));
                }
                Name::Custom(custom) => {
                    w.byte(8).short_str(custom);
                }
            }
            match value {
                Value::Schema(schema) => {
                    let i = SCHEMA_NAMES.iter().position(|s| s == schema);
                    w.byte(0)
                        .byte(u8::try_from(i.expect("a known schema")).expect("small index"));
                }
                Value::Stream(stream) => {
                    let i = STREAMS.iter().position(|s| s == stream);
                    w.byte(1)
                        .byte(u8::try_from(i.expect("a stream")).expect("small index"));
                }
                Value::Number(n) => {
                    w.byte(2).be_u64(*n);
                }
                Value::Raw(raw) => {
                    w.byte(3).short_str(raw);
                }
            }
        }
        w.short_str(self.subject).rest(self.payload).finish()
    }
}
