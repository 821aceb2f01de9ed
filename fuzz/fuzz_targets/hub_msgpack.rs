//! `hub_msgpack`: the gateway's SignalR MessagePack hub protocol: one binary WebSocket message
//! of VarInt-prefixed hub messages, through the functions the socket calls
//! (`split_messages`, `parse_message`) and the encoders of the server's answers.
//!
//! Input: the bytes of one binary message. Checked besides "no panic": the split accounts for
//! every byte (prefix + body, in order, nothing left over); every parsed message re-encodes, as
//! the official client would send it, to a body that parses to the same message; the server's
//! answers to it (completions, close, ack, sequence) are each one framed message that the same
//! parser reads back; errors never echo more than a bounded amount of client input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use orderflow_fuzz::hub::{ServerAnswers, encode_msgpack, same_message};
use orderflow_gateway::GatewayError;
use orderflow_gateway::protocol::msgpack::{
    ack, close, completion_error, completion_ok, parse_message, sequence, split_messages,
    write_message,
};
use orderflow_gateway::protocol::{HubMessage, Invocation};

/// The longest error text a client may get back (as in `hub_frames`).
const MAX_ERROR_CHARS: usize = 200;

fuzz_target!(|data: &[u8]| {
    let bodies = match split_messages(data) {
        Ok(bodies) => bodies,
        Err(error) => return check_error(&error),
    };
    check_split(data, &bodies);
    for body in bodies {
        match parse_message(body) {
            Ok(message) => check_message(&message),
            Err(error) => check_error(&error),
        }
    }
});

/// Every byte belongs to exactly one prefix or body, in order: each body is where its prefix
/// says, and the next prefix starts right after it.
fn check_split(data: &[u8], bodies: &[&[u8]]) {
    let mut offset = 0;
    for body in bodies {
        assert!(!body.is_empty());
        let start = body.as_ptr() as usize - data.as_ptr() as usize;
        let prefix = start - offset;
        assert!((1..=5).contains(&prefix), "prefix of {prefix} bytes");
        let mut length = 0usize;
        for (i, byte) in data[offset..start].iter().enumerate() {
            length |= usize::from(byte & 0x7F) << (7 * i);
        }
        assert_eq!(length, body.len());
        offset = start + body.len();
    }
    assert_eq!(offset, data.len(), "bytes left over");
}

fn check_error(error: &GatewayError) {
    let text = error.to_string();
    assert!(
        text.chars().count() <= MAX_ERROR_CHARS,
        "error echoes too much: {text:?}"
    );
}

/// The server's answers in MessagePack, read back by [`single`].
const ANSWERS: ServerAnswers<Vec<u8>> = ServerAnswers {
    completion_ok,
    completion_error,
    close,
    ack,
    sequence,
    read: single,
};

/// The one message of a frame the server writes, parsed.
fn single(frame: &[u8]) -> HubMessage {
    let bodies = split_messages(frame).expect("the server's frames are well-formed");
    assert_eq!(bodies.len(), 1, "{frame:02X?}");
    parse_message(bodies[0]).expect("the server's messages parse")
}

fn check_message(message: &HubMessage) {
    // Re-encoding: what a client would send for this message parses to the same message, and
    // frames to exactly one message.
    let body = encode_msgpack(message);
    let mut frame = Vec::new();
    write_message(&mut frame, &body);
    let again = single(&frame);
    assert!(same_message(message, &again), "{message:?} != {again:?}");

    match message {
        HubMessage::Invocation(Invocation {
            invocation_id: Some(id),
            ..
        })
        | HubMessage::StreamInvocation {
            invocation_id: id, ..
        } => {
            ANSWERS.check_completions(id);
        }
        _ => ANSWERS.check_echoes(message),
    }
}
