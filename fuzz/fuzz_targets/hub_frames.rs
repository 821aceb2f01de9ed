//! `hub_frames`: the gateway's SignalR JSON hub protocol on one connection — the handshake frame,
//! then frames of record-separated hub messages — through the functions the socket calls
//! (`parse_handshake`, `split_records`, `parse_message`, the `Resume` argument parser and the
//! stateful-reconnect buffer).
//!
//! Input: frames separated by `0xFF` (`orderflow_fuzz::hub`). Checked besides "no panic":
//! framing splits exactly at the separators and loses nothing; every parsed message re-encodes
//! to a record that parses to the same message; the server's answers to it (completions, close,
//! ack, sequence, handshake error) are each exactly one record of valid JSON that the same
//! parser reads back; errors never echo more than a bounded amount of client input; resume
//! positions print and parse back to themselves.

#![no_main]

use libfuzzer_sys::fuzz_target;
use orderflow_fuzz::hub::{ServerAnswers, encode, frames, same_message};
use orderflow_gateway::GatewayError;
use orderflow_gateway::fuzzing::{parse_position_list, parse_positions};
use orderflow_gateway::protocol::framing::terminate;
use orderflow_gateway::protocol::handshake::handshake_error;
use orderflow_gateway::protocol::messages::{self, completion_error, completion_ok};
use orderflow_gateway::protocol::{
    Frame, HubMessage, Position, RECORD_SEPARATOR, parse_handshake, parse_message, split_records,
};
use orderflow_gateway::stateful::MessageBuffer;
use serde_json::Value;

/// The longest error text a client may get back: errors name the problem, they do not echo
/// what was sent (see `GatewayError`).
const MAX_ERROR_CHARS: usize = 200;

fuzz_target!(|data: &[u8]| {
    let mut frames = frames(data);
    let Some(handshake) = frames.next() else {
        return;
    };
    // The connection as the socket runs it: it closes at the first protocol error.
    let mut open = handshake.is_some_and(check_handshake);
    let mut buffer = MessageBuffer::new(1 << 16);
    for frame in frames.flatten() {
        let Some(records) = check_framing(frame) else {
            open = false;
            continue;
        };
        for record in records {
            match parse_message(record) {
                Ok(message) => {
                    check_message(&message);
                    if open {
                        open = stateful_step(&mut buffer, &message);
                    }
                }
                Err(error) => {
                    check_error(&error);
                    open = false;
                }
            }
        }
    }
});

/// The handshake frame: `true` if the connection would go on.
fn check_handshake(frame: &str) -> bool {
    match parse_handshake(frame) {
        Ok(request) => {
            assert!(matches!(request.version, 1 | 2), "{request:?}");
            // A handshake is exactly one record; any valid one is accepted again as canonical.
            assert_eq!(split_records(frame).map(|r| r.len()).ok(), Some(1));
            let canonical = format!(
                "{{\"protocol\":\"{}\",\"version\":{}}}\u{1e}",
                request.protocol.name(),
                request.version
            );
            assert_eq!(parse_handshake(&canonical).ok(), Some(request));
            true
        }
        Err(error) => {
            check_error(&error);
            // The refusal is one record, `{"error": <the message>}`.
            let answer = handshake_error(&error.to_string());
            let record = single_record(&answer);
            let json: Value = serde_json::from_str(record).expect("handshake error is JSON");
            assert_eq!(json["error"].as_str(), Some(error.to_string().as_str()));
            false
        }
    }
}

/// Framing: the records of a frame, after checking that they are exactly the text between
/// separators.
fn check_framing(frame: &str) -> Option<Vec<&str>> {
    match split_records(frame) {
        Ok(records) => {
            assert!(!records.is_empty());
            let mut rebuilt = String::with_capacity(frame.len());
            for record in &records {
                assert!(!record.contains(RECORD_SEPARATOR), "{record:?}");
                assert!(!record.trim().is_empty());
                rebuilt.push_str(record);
                rebuilt.push(RECORD_SEPARATOR);
            }
            assert_eq!(rebuilt, frame);
            Some(records)
        }
        Err(error) => {
            assert!(
                matches!(
                    error,
                    GatewayError::IncompleteRecord | GatewayError::EmptyRecord
                ),
                "{error:?}"
            );
            // Refused frames are the ones not ending on a separator or with an empty record.
            let empty = frame
                .strip_suffix(RECORD_SEPARATOR)
                .is_some_and(|body| body.split(RECORD_SEPARATOR).any(|r| r.trim().is_empty()));
            assert!(!frame.ends_with(RECORD_SEPARATOR) || empty, "{frame:?}");
            None
        }
    }
}

fn check_error(error: &GatewayError) {
    let text = error.to_string();
    assert!(
        text.chars().count() <= MAX_ERROR_CHARS,
        "error echoes too much: {text:?}"
    );
}

/// The server's answers as JSON records, read back by [`single_message`].
const ANSWERS: ServerAnswers<String> = ServerAnswers {
    completion_ok,
    completion_error,
    close: messages::close,
    ack: messages::ack,
    sequence: messages::sequence,
    read: single_message,
};

/// The one message of a frame the server writes, parsed.
fn single_message(frame: &str) -> HubMessage {
    parse_message(single_record(frame)).expect("the server's messages parse")
}

/// The one record of a frame the server writes, checked to be exactly one.
fn single_record(frame: &str) -> &str {
    let records = split_records(frame).expect("the server's frames are well-formed");
    assert_eq!(records.len(), 1, "{frame:?}");
    records[0]
}

fn check_message(message: &HubMessage) {
    // Re-encoding: what a client would send for this message parses to the same message.
    let record = encode(message);
    let again = parse_message(&record)
        .unwrap_or_else(|e| panic!("re-encoded {message:?} as {record:?}, refused: {e}"));
    assert!(same_message(message, &again), "{message:?} != {again:?}");
    // Framing the re-encoded record gives it back unchanged (JSON escapes the separator).
    assert_eq!(single_record(&terminate(record.clone())), record);

    assert_eq!(
        message.is_sequenced(),
        matches!(
            message,
            HubMessage::Invocation { .. }
                | HubMessage::StreamItem { .. }
                | HubMessage::Completion { .. }
                | HubMessage::StreamInvocation { .. }
                | HubMessage::CancelInvocation { .. }
        )
    );

    match message {
        HubMessage::Invocation(call) => {
            assert!(!call.target.is_empty());
            if let Some(id) = &call.invocation_id {
                assert!(!id.is_empty());
                check_replies(id);
            }
            if call.target.eq_ignore_ascii_case("resume") {
                check_positions(parse_positions(&call.arguments));
            }
            // The hub URL's `resume=` list takes the same position strings.
            for argument in call.arguments.iter().filter_map(Value::as_str) {
                check_positions(parse_position_list(argument));
            }
        }
        HubMessage::StreamInvocation { invocation_id, .. } => check_replies(invocation_id),
        // The server's Close, Ack and Sequence, built from what the client said, are each one
        // record that parses back.
        _ => ANSWERS.check_echoes(message),
    }
}

/// The Completions the hub answers an invocation with carry the client's id back intact, and
/// are JSON whose error, if any, is not empty.
fn check_replies(id: &str) {
    for frame in ANSWERS.check_completions(id) {
        let json: Value = serde_json::from_str(single_record(&frame)).expect("JSON");
        if let Some(error) = json.get("error") {
            // An empty error would read as success to the client.
            assert!(!error.as_str().unwrap_or_default().is_empty());
        }
    }
}

fn check_positions(parsed: Result<Vec<Position>, GatewayError>) {
    match parsed {
        Ok(positions) => {
            assert!(
                !positions.is_empty() && positions.len() <= 2,
                "{positions:?}"
            );
            if positions.len() == 2 {
                assert_ne!(positions[0].stream, positions[1].stream);
            }
            for p in &positions {
                let text = p.to_string();
                assert_eq!(text.parse::<Position>().ok(), Some(*p));
                // Its JSON form (what clients store) is the same text.
                assert_eq!(serde_json::to_value(p).ok(), Some(Value::from(text)));
            }
            let list: Vec<String> = positions.iter().map(ToString::to_string).collect();
            assert_eq!(
                parse_position_list(&list.join(",")).ok(),
                Some(positions.clone())
            );
        }
        Err(error) => {
            assert!(matches!(error, GatewayError::BadPosition), "{error:?}");
        }
    }
}

/// One message through the stateful-reconnect bookkeeping, as the socket does it; the server
/// answers every sequenced message with one sequenced frame. `false` ends the connection.
fn stateful_step(buffer: &mut MessageBuffer, message: &HubMessage) -> bool {
    match message {
        HubMessage::Sequence { sequence_id } => {
            if buffer.client_sequence(*sequence_id).is_err() {
                return false;
            }
        }
        HubMessage::Ack { sequence_id } => buffer.ack(*sequence_id),
        HubMessage::Close { .. } => return false,
        // A replayed duplicate (not accepted) gets no answer.
        m if m.is_sequenced() && buffer.accept_inbound() => {
            let reply = messages::completion_ok("0", None);
            if buffer.push(&Frame::text(reply)).is_err() {
                return false;
            }
        }
        _ => {}
    }
    if let Some(acked) = buffer.take_ack() {
        assert!(acked >= 1);
        assert!(!buffer.ack_pending());
    }
    let (first, mut unacked) = buffer.replay();
    assert!(first >= 1);
    if let Some(frame) = unacked.next() {
        let text = frame.as_text().expect("JSON frames are text");
        assert!(text.ends_with(RECORD_SEPARATOR));
    }
    true
}
