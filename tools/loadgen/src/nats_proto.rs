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
    /// Header lines after `NATS/1.0` (empty for `MSG`).
    pub headers: Vec<(String, String)>,
    pub payload: Vec<u8>,
}

impl Msg {
    /// The first value of header `name` (case-insensitive, as NATS headers are).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
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
}

impl Parser {
    /// Appends bytes received from the server.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete operation, or `None` until more bytes arrive.
    pub fn next_op(&mut self) -> Result<Option<Op>, Error> {
        let Some(eol) = find_crlf(&self.buf) else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&self.buf[..eol])
            .map_err(|_| Error::Protocol("control line is not UTF-8".into()))?
            .to_owned();
        let (verb, args) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        let op = match verb.to_ascii_uppercase().as_str() {
            "INFO" => Op::Info(args.to_owned()),
            "PING" => Op::Ping,
            "PONG" => Op::Pong,
            "+OK" => Op::Ok,
            "-ERR" => Op::Err(args.trim_matches('\'').to_owned()),
            "MSG" | "HMSG" => {
                return self.message(eol, verb.eq_ignore_ascii_case("HMSG"), args);
            }
            _ => return Err(Error::Protocol(format!("unknown operation: {line}"))),
        };
        self.buf.drain(..eol + 2);
        Ok(Some(op))
    }

    /// `MSG <subject> <sid> [reply] <#bytes>` or
    /// `HMSG <subject> <sid> [reply] <#header bytes> <#total bytes>`, then the body and CRLF.
    fn message(&mut self, eol: usize, with_headers: bool, args: &str) -> Result<Option<Op>, Error> {
        let bad = || Error::Protocol(format!("malformed message line: {args}"));
        let parts: Vec<&str> = args.split_whitespace().collect();
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
        if self.buf.len() < body + total + 2 {
            return Ok(None);
        }
        let headers = parse_headers(&self.buf[body..body + header_len]);
        let msg = Msg {
            subject: parts[0].to_owned(),
            sid: parts[1].parse().map_err(|_| bad())?,
            headers,
            payload: self.buf[body + header_len..body + total].to_vec(),
        };
        self.buf.drain(..body + total + 2);
        Ok(Some(Op::Msg(msg)))
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

/// `NATS/1.0[ status]\r\nName: value\r\n...\r\n\r\n` into name/value pairs (status line
/// skipped).
fn parse_headers(block: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(block)
        .split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect()
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
