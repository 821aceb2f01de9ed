//! `nats_wire`: the gateway's direct live link reading what a NATS server sends
//! (`orderflow_gateway::live_link::wire`): operations split off a buffer, messages located in
//! it, header lines read out of their block.
//!
//! Input: the bytes a server would send, and (first byte) where the link's reads would have cut
//! them. Checked besides "no panic": an operation never claims more bytes than it was given, nor
//! none; a message's parts lie inside its own bytes; an incomplete operation asks for more
//! rather than guessing, and the same bytes give the same operations however the reads cut
//! them; what the header lookup finds under a name is what a scan of the lines finds, and what
//! the feed's one-pass reader finds.

#![no_main]

use libfuzzer_sys::fuzz_target;
use orderflow_gateway::live_link::wire::{self, ServerOp};
use orderflow_gateway::translate::StoredHeaders;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let whole = read_all(stream, usize::MAX);
    let chunked = read_all(stream, usize::from(cut).max(1));
    assert_eq!(whole, chunked, "the reads' cuts changed what was parsed");
});

/// What one operation was, comparably.
#[derive(Debug, PartialEq)]
enum Seen {
    Message {
        subject: String,
        headers: Vec<u8>,
        payload: Vec<u8>,
    },
    Other(String),
}

/// Parses `stream` as the link does, receiving at most `chunk` bytes per read; stops at the
/// first error (the link drops the connection there).
fn read_all(stream: &[u8], chunk: usize) -> (Vec<Seen>, bool) {
    let mut buffer = Vec::new();
    let mut offered = 0;
    let mut seen = Vec::new();
    loop {
        match wire::parse(&buffer) {
            Ok(Some((op, used))) => {
                assert!(used > 0 && used <= buffer.len(), "used {used} of {}", buffer.len());
                seen.push(check(op, &buffer[..used]));
                buffer.drain(..used);
            }
            Ok(None) => {
                if offered == stream.len() {
                    return (seen, true);
                }
                let more = chunk.min(stream.len() - offered);
                buffer.extend_from_slice(&stream[offered..offered + more]);
                offered += more;
            }
            Err(_) => return (seen, false),
        }
    }
}

fn check(op: ServerOp<'_>, bytes: &[u8]) -> Seen {
    match op {
        ServerOp::Message(at) => {
            let message = at.read(bytes);
            // Every part is a slice of the operation's own bytes.
            let inside = |part: &[u8]| {
                let start = part.as_ptr() as usize;
                let base = bytes.as_ptr() as usize;
                part.is_empty() || (start >= base && start + part.len() <= base + bytes.len())
            };
            assert!(inside(message.subject.as_bytes()));
            assert!(inside(message.headers.as_bytes()));
            assert!(inside(message.payload));
            assert!(bytes.ends_with(b"\r\n"));
            for (name, _) in message.headers.fields() {
                let Ok(name) = std::str::from_utf8(name) else {
                    continue;
                };
                let first = message.headers.fields().find(|(n, _)| *n == name.as_bytes());
                let expected = first.and_then(|(_, value)| wire::value_str(value));
                assert_eq!(message.headers.get(name), expected);
            }
            // The feed's one-pass reader agrees with the lookup.
            let stored = StoredHeaders::from_block(message.headers);
            assert_eq!(stored.stream, message.headers.get("Nats-Stream"));
            assert_eq!(stored.sequence, message.headers.get("Nats-Sequence"));
            assert_eq!(stored.subject, message.headers.get("Nats-Subject"));
            assert_eq!(stored.schema, message.headers.get("Orderflow-Schema"));
            assert_eq!(stored.traceparent, message.headers.get("traceparent"));
            Seen::Message {
                subject: message.subject.to_owned(),
                headers: message.headers.as_bytes().to_vec(),
                payload: message.payload.to_vec(),
            }
        }
        other => Seen::Other(format!("{other:?}")),
    }
}
