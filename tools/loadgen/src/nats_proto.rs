//! The NATS client protocol's server-to-client side, parsed incrementally from bytes that may
//! arrive split or batched arbitrarily (nats-server packs several operations into one
//! WebSocket frame and splits large ones). Only what a subscriber needs: `INFO`, `PING`,
//! `PONG`, `+OK`, `-ERR`, `MSG` and `HMSG`.

use crate::error::Error;

/// One server operation.
#[derive(Debug, PartialEq, Eq)]
pub enum Op {
    /// `INFO {json}`: server details, sent first.
    Info(String),
    /// `PING`: must be answered with `PONG`.
    Ping,
    /// `PONG`: the answer to our `PING`; everything we sent before it has been processed.
    Pong,
    /// `+OK` (only in verbose mode).
    Ok,
    /// `-ERR '<message>'`.
    Err(String),
    /// `MSG` or `HMSG`.
    Msg(Msg),
}

/// A delivered message.
#[derive(Debug, PartialEq, Eq)]
pub struct Msg {
    pub subject: String,
    pub sid: u64,
    /// The header block as received (`NATS/1.0\r\nName: value\r\n…`; empty for `MSG`), read
    /// only when asked: RePublish adds half a dozen headers to every message, and splitting
    /// them all would cost the client more than the rest of a delivery.
    pub headers: Vec<u8>,
    pub payload: Vec<u8>,
}

impl Msg {
    /// The first value of header `name` (case-insensitive, as NATS headers are).
    pub fn header(&self, name: &str) -> Option<&str> {
        std::str::from_utf8(&self.headers)
            .ok()?
            .split("\r\n")
            // The status line (`NATS/1.0[ status]`).
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }

    /// The JetStream stream sequence that RePublish puts in `Nats-Sequence`.
    pub fn stream_sequence(&self) -> Option<u64> {
        self.header("Nats-Sequence")?.parse().ok()
    }
}

/// Buffers bytes and yields complete operations.
#[derive(Debug, Default)]
pub struct Parser {
    buf: Vec<u8>,
    /// Where the next operation starts in `buf`: consumed bytes are dropped in one move when
    /// more arrive, not after every operation (nats-server packs hundreds of messages into one
    /// WebSocket frame, and moving the rest after each would be quadratic).
    start: usize,
}

impl Parser {
    /// Appends bytes received from the server.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete operation, or `None` until more bytes arrive.
    pub fn next_op(&mut self) -> Result<Option<Op>, Error> {
        let rest = &self.buf[self.start..];
        let Some(eol) = find_crlf(rest) else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&rest[..eol])
            .map_err(|_| Error::Protocol("control line is not UTF-8".into()))?;
        let (verb, args) = line.split_once(' ').unwrap_or((line, ""));
        let op = if verb.eq_ignore_ascii_case("MSG") || verb.eq_ignore_ascii_case("HMSG") {
            let with_headers = verb.eq_ignore_ascii_case("HMSG");
            let Some((msg, used)) = message(rest, eol, with_headers, args)? else {
                return Ok(None);
            };
            self.start += used;
            return Ok(Some(Op::Msg(msg)));
        } else {
            match verb.to_ascii_uppercase().as_str() {
                "INFO" => Op::Info(args.to_owned()),
                "PING" => Op::Ping,
                "PONG" => Op::Pong,
                "+OK" => Op::Ok,
                "-ERR" => Op::Err(args.trim_matches('\'').to_owned()),
                _ => return Err(Error::Protocol(format!("unknown operation: {line}"))),
            }
        };
        self.start += eol + 2;
        Ok(Some(op))
    }
}

/// `MSG <subject> <sid> [reply] <#bytes>` or
/// `HMSG <subject> <sid> [reply] <#header bytes> <#total bytes>`, then the body and CRLF, at the
/// start of `rest` (control line `eol` long): the message and the bytes it took, or `None`
/// until its body is complete.
fn message(
    rest: &[u8],
    eol: usize,
    with_headers: bool,
    args: &str,
) -> Result<Option<(Msg, usize)>, Error> {
    let bad = || Error::Protocol(format!("malformed message line: {args}"));
    let parts: Vec<&str> = args.split_ascii_whitespace().collect();
    let sizes = if with_headers { 2 } else { 1 };
    if parts.len() < 2 + sizes || parts.len() > 3 + sizes {
        return Err(bad());
    }
    let number = |s: &str| s.parse::<usize>().map_err(|_| bad());
    let total = number(parts[parts.len() - 1])?;
    let header_len = if with_headers {
        number(parts[parts.len() - 2])?
    } else {
        0
    };
    if header_len > total {
        return Err(bad());
    }
    let body = eol + 2;
    if rest.len() < body + total + 2 {
        return Ok(None);
    }
    let msg = Msg {
        subject: parts[0].to_owned(),
        sid: parts[1].parse().map_err(|_| bad())?,
        headers: rest[body..body + header_len].to_vec(),
        payload: rest[body + header_len..body + total].to_vec(),
    };
    Ok(Some((msg, body + total + 2)))
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

/// The `CONNECT` we send: no `+OK` acknowledgements, headers on (RePublish's positions travel
/// in headers), no-responders on as modern clients do.
pub const CONNECT: &str = "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\
                           \"no_responders\":true,\"protocol\":1}\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn all(parser: &mut Parser) -> Vec<Op> {
        std::iter::from_fn(|| parser.next_op().unwrap()).collect()
    }

    #[test]
    fn parses_control_lines_and_messages_split_anywhere() {
        let hdr = "NATS/1.0\r\nNats-Stream: ORDERS\r\nNats-Sequence: 42\r\n\r\n";
        let wire = format!(
            "INFO {{\"server_id\":\"x\"}}\r\nPING\r\nPONG\r\n+OK\r\nMSG a.b 1 5\r\nhello\r\n\
             HMSG live.x 2 _INBOX.r {} {}\r\n{hdr}pay\r\n-ERR 'Slow Consumer'\r\n",
            hdr.len(),
            hdr.len() + 3
        );
        // Byte by byte: nothing is yielded before it is complete.
        let mut parser = Parser::default();
        let mut ops = Vec::new();
        for b in wire.as_bytes() {
            parser.push(&[*b]);
            ops.extend(all(&mut parser));
        }
        assert_eq!(ops.len(), 7);
        assert_eq!(ops[0], Op::Info("{\"server_id\":\"x\"}".into()));
        assert_eq!(ops[1..4], [Op::Ping, Op::Pong, Op::Ok]);
        let Op::Msg(plain) = &ops[4] else { panic!() };
        assert_eq!((plain.subject.as_str(), plain.sid), ("a.b", 1));
        assert_eq!(plain.payload, b"hello");
        assert!(plain.headers.is_empty());
        let Op::Msg(with_headers) = &ops[5] else {
            panic!()
        };
        assert_eq!(with_headers.stream_sequence(), Some(42));
        assert_eq!(with_headers.header("nats-stream"), Some("ORDERS"));
        assert_eq!(with_headers.payload, b"pay");
        assert_eq!(ops[6], Op::Err("Slow Consumer".into()));

        // All at once gives the same.
        let mut parser = Parser::default();
        parser.push(wire.as_bytes());
        assert_eq!(all(&mut parser), ops);
    }

    #[test]
    fn payloads_may_contain_line_breaks() {
        let mut parser = Parser::default();
        parser.push(b"MSG s 1 4\r\na\r\nb\r\n");
        let Some(Op::Msg(m)) = parser.next_op().unwrap() else {
            panic!()
        };
        assert_eq!(m.payload, b"a\r\nb");
        assert_eq!(parser.next_op().unwrap(), None);
    }

    #[test]
    fn rejects_garbage() {
        let mut parser = Parser::default();
        parser.push(b"WHAT\r\n");
        assert!(parser.next_op().is_err());
        let mut parser = Parser::default();
        parser.push(b"HMSG s 1 10 5\r\n");
        assert!(parser.next_op().is_err());
    }
}
