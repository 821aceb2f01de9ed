//! The server side of the NATS client protocol, as far as one subscriber needs it: splitting
//! `MSG`, `HMSG`, `PING`, `PONG`, `INFO`, `+OK` and `-ERR` off a read buffer, and reading single
//! header values straight out of a message's header block.
//!
//! Everything borrows from the buffer: a message costs no allocation to parse, where the
//! general client builds a map of owned names and values for every header (nine per
//! republished event; more than half of the gateway's instructions per delivery).

use std::ops::Range;

/// Longest control line accepted (nats-server's own limit is 4 KiB by default).
pub const MAX_CONTROL_LINE: usize = 16 * 1024;

/// One operation from the server.
#[derive(Debug, PartialEq, Eq)]
pub enum ServerOp<'a> {
    /// A message, located in the buffer (read it with [`MessageAt::read`]).
    Message(MessageAt),
    /// The server's keep-alive; answer with `PONG`.
    Ping,
    /// The answer to our `PING`.
    Pong,
    /// Server information (JSON).
    Info(&'a [u8]),
    /// An acknowledgement (only in verbose mode, which we never ask for).
    Ok,
    /// An error; after most of them the server closes the connection.
    Err(&'a str),
}

/// Where a message's parts are in the buffer it was parsed from. Ranges rather than slices,
/// so that the reader can find a message, keep its place, and hand out the borrow later
/// without parsing it twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageAt {
    subject: Range<usize>,
    headers: Range<usize>,
    payload: Range<usize>,
}

impl MessageAt {
    /// The message in `buf`, the buffer it was parsed from.
    pub fn read<'a>(&self, buf: &'a [u8]) -> Message<'a> {
        Message {
            // `parse` checked it, in this same buffer.
            subject: std::str::from_utf8(&buf[self.subject.clone()]).unwrap_or_default(),
            headers: Headers(&buf[self.headers.clone()]),
            payload: &buf[self.payload.clone()],
        }
    }
}

/// A message as it came: subject, header block and payload.
#[derive(Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// The subject it was published to.
    pub subject: &'a str,
    /// `NATS/1.0…` up to and including the blank line; empty without headers.
    pub headers: Headers<'a>,
    /// The payload.
    pub payload: &'a [u8],
}

/// A malformed operation: the connection cannot be read further.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed NATS protocol: {0}")]
pub struct WireError(pub &'static str);

/// Splits the first complete operation off `buf`: the operation and the bytes it used, or
/// `None` when more bytes are needed. Payloads are bounded by the caller (the read buffer).
pub fn parse(buf: &[u8]) -> Result<Option<(ServerOp<'_>, usize)>, WireError> {
    let Some(newline) = memchr::memchr(b'\n', buf) else {
        return if buf.len() > MAX_CONTROL_LINE {
            Err(WireError("control line too long"))
        } else {
            Ok(None)
        };
    };
    // Judged alike however the reads cut the bytes: a long line is refused whole, too.
    if newline > MAX_CONTROL_LINE {
        return Err(WireError("control line too long"));
    }
    // The server ends every control line with CRLF.
    let Some(line) = buf[..newline].strip_suffix(b"\r") else {
        return Err(WireError("control line without CRLF"));
    };
    let after_line = newline + 1;
    let (verb, args) = match line.iter().position(|b| *b == b' ' || *b == b'\t') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &line[line.len()..]),
    };
    let simple = |op| Ok(Some((op, after_line)));
    if verb.eq_ignore_ascii_case(b"HMSG") {
        message(buf, after_line, args, true)
    } else if verb.eq_ignore_ascii_case(b"MSG") {
        message(buf, after_line, args, false)
    } else if verb.eq_ignore_ascii_case(b"PING") {
        simple(ServerOp::Ping)
    } else if verb.eq_ignore_ascii_case(b"PONG") {
        simple(ServerOp::Pong)
    } else if verb.eq_ignore_ascii_case(b"INFO") {
        simple(ServerOp::Info(args))
    } else if verb.eq_ignore_ascii_case(b"+OK") {
        simple(ServerOp::Ok)
    } else if verb.eq_ignore_ascii_case(b"-ERR") {
        let text = std::str::from_utf8(args).unwrap_or("(not UTF-8)").trim();
        simple(ServerOp::Err(text.trim_matches('\'')))
    } else {
        Err(WireError("unknown operation"))
    }
}

/// `MSG <subject> <sid> [reply] <size>` or `HMSG <subject> <sid> [reply] <header size>
/// <total size>`, followed by the body and CRLF. `args` lies in `buf`, just before `body_start`.
fn message(
    buf: &[u8],
    body_start: usize,
    args: &[u8],
    with_headers: bool,
) -> Result<Option<(ServerOp<'static>, usize)>, WireError> {
    let mut fields = args
        .split(|b| *b == b' ' || *b == b'\t')
        .filter(|f| !f.is_empty());
    let subject = fields.next().ok_or(WireError("message without subject"))?;
    // The sid is not needed (the link has one subscription) but must be there.
    number(fields.next().ok_or(WireError("message without sid"))?)?;
    let rest = [fields.next(), fields.next(), fields.next()];
    if fields.next().is_some() {
        return Err(WireError("too many message arguments"));
    }
    // The reply subject is optional: the sizes are the last one or two fields.
    let (header_len, total_len) = match (with_headers, rest) {
        (false, [Some(total), None, None] | [Some(_), Some(total), None]) => (0, number(total)?),
        (true, [Some(header), Some(total), None] | [Some(_), Some(header), Some(total)]) => {
            (number(header)?, number(total)?)
        }
        _ => return Err(WireError("wrong number of message arguments")),
    };
    if header_len > total_len {
        return Err(WireError("header size beyond total size"));
    }
    let end = body_start
        .checked_add(total_len)
        .filter(|end| end.checked_add(2).is_some())
        .ok_or(WireError("size too large"))?;
    if buf.len() < end + 2 {
        return Ok(None);
    }
    if &buf[end..end + 2] != b"\r\n" {
        return Err(WireError("message body not followed by CRLF"));
    }
    std::str::from_utf8(subject).map_err(|_| WireError("subject not UTF-8"))?;
    // `args` (and so `subject`) is a sub-slice of `buf`'s control line, which starts at 0.
    let subject_start = subject.as_ptr() as usize - buf.as_ptr() as usize;
    let headers_end = body_start + header_len;
    Ok(Some((
        ServerOp::Message(MessageAt {
            subject: subject_start..subject_start + subject.len(),
            headers: body_start..headers_end,
            payload: headers_end..end,
        }),
        end + 2,
    )))
}

/// A decimal size or sid.
fn number(field: &[u8]) -> Result<usize, WireError> {
    if field.is_empty() || field.len() > 19 || !field.iter().all(u8::is_ascii_digit) {
        return Err(WireError("not a number"));
    }
    let n = field.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    usize::try_from(n).map_err(|_| WireError("size too large"))
}

/// A message's header block, read on demand: a lookup scans the lines, which for the handful
/// of headers an event has is far cheaper than building a map of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Headers<'a>(&'a [u8]);

impl<'a> Headers<'a> {
    /// A header block (`NATS/1.0\r\n…\r\n\r\n`).
    pub fn new(block: &'a [u8]) -> Headers<'a> {
        Headers(block)
    }

    /// The block as it came (`NATS/1.0…`); empty when the message had none.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// The first value of header `name` (exact, case-sensitive match, as the general client's
    /// map does), trimmed; `None` if absent or not UTF-8. A value folded over several lines
    /// is not joined: nothing the gateway reads is ever folded.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        let (_, value) = self.fields().find(|(n, _)| *n == name.as_bytes())?;
        value_str(value)
    }

    /// Every `(name, value)` line in order, as bytes, the value untrimmed; lines without a
    /// `:` are skipped. Nothing is checked or copied until a caller wants a value.
    pub fn fields(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + use<'a> {
        let block = self.0;
        let mut start = 0;
        memchr::memchr_iter(b'\n', block)
            .map(move |end| {
                let line = &block[start..end];
                start = end + 1;
                line.strip_suffix(b"\r").unwrap_or(line)
            })
            // The version line (`NATS/1.0`, maybe with a status) carries no header.
            .skip(1)
            .filter_map(|line| {
                let colon = memchr::memchr(b':', line)?;
                Some((&line[..colon], &line[colon + 1..]))
            })
    }
}

/// A header value as text, trimmed; `None` if it is not UTF-8.
pub fn value_str(value: &[u8]) -> Option<&str> {
    std::str::from_utf8(value).ok().map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(input: &[u8]) -> (ServerOp<'_>, usize) {
        parse(input).unwrap().unwrap()
    }

    #[test]
    fn control_operations_are_recognised_in_any_case() {
        assert_eq!(one(b"PING\r\n"), (ServerOp::Ping, 6));
        assert_eq!(one(b"pong\r\nPING\r\n"), (ServerOp::Pong, 6));
        assert_eq!(one(b"+OK\r\n"), (ServerOp::Ok, 5));
        assert_eq!(
            one(b"-ERR 'Stale Connection'\r\n").0,
            ServerOp::Err("Stale Connection")
        );
        assert_eq!(
            one(b"INFO {\"max_payload\":1048576}\r\n").0,
            ServerOp::Info(b"{\"max_payload\":1048576}")
        );
    }

    #[test]
    fn a_message_with_headers_and_a_reply_subject_is_split_into_its_parts() {
        let input = b"HMSG live.orders.v1.a.b 7 _INBOX.x 36 41\r\nNATS/1.0\r\nNats-Sequence: 12\r\nA:b\r\n\r\nhello\r\nPING\r\n";
        let (op, used) = one(input);
        let ServerOp::Message(at) = op else {
            panic!("{op:?}")
        };
        let m = at.read(input);
        assert_eq!(m.subject, "live.orders.v1.a.b");
        assert_eq!(m.payload, b"hello");
        assert_eq!(m.headers.get("Nats-Sequence"), Some("12"));
        assert_eq!(m.headers.get("A"), Some("b"));
        assert_eq!(m.headers.get("Nats-Stream"), None);
        assert_eq!(&input[used..], b"PING\r\n");
    }

    #[test]
    fn a_plain_message_has_no_headers() {
        let input = b"MSG a.b 1 3\r\nabc\r\n";
        let (op, used) = one(input);
        assert_eq!(used, 18);
        let ServerOp::Message(at) = op else {
            panic!("{op:?}")
        };
        let m = at.read(input);
        assert_eq!((m.payload, m.headers.as_bytes()), (&b"abc"[..], &b""[..]));
        let input = b"MSG a.b 1 reply 0\r\n\r\n";
        let ServerOp::Message(at) = one(input).0 else {
            panic!()
        };
        assert!(at.read(input).payload.is_empty());
        assert_eq!(at.read(input).subject, "a.b");
    }

    #[test]
    fn an_incomplete_operation_asks_for_more_bytes() {
        let whole = b"HMSG s 1 12 15\r\nNATS/1.0\r\n\r\nabc\r\n";
        for cut in 0..whole.len() {
            assert_eq!(parse(&whole[..cut]), Ok(None), "cut at {cut}");
        }
        assert!(parse(whole).unwrap().is_some());
        assert_eq!(parse(b"PING\r"), Ok(None));
    }

    #[test]
    fn malformed_operations_are_errors_not_guesses() {
        for bad in [
            &b"HELLO\r\n"[..],
            b"MSG\r\n",
            b"MSG s\r\n",
            b"MSG s x 3\r\nabc\r\n",
            b"MSG s 1 -3\r\nabc\r\n",
            b"MSG s 1 a b 3\r\nabc\r\n",
            b"HMSG s 1 3\r\nabc\r\n",
            b"HMSG s 1 9 3\r\nabc\r\n",
            b"MSG s 1 3\r\nabcd\r\n",
            b"MSG s 1 99999999999999999999\r\n",
            b"MSG s 1 18446744073709551615\r\n",
            b"PING\n",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        assert!(parse(&[b'x'; MAX_CONTROL_LINE + 1]).is_err());
        let mut long_info = b"INFO ".to_vec();
        long_info.resize(MAX_CONTROL_LINE + 1, b'x');
        long_info.extend_from_slice(b"\r\n");
        assert!(parse(&long_info).is_err());
        assert_eq!(parse(&[b'x'; 100]), Ok(None));
    }

    #[test]
    fn header_lookup_matches_whole_names_and_skips_the_version_line() {
        let block = Headers(
            b"NATS/1.0\r\nNats-Sequence-Extra: 1\r\nNats-Sequence:  42 \r\nNats-Sequence: 43\r\n\r\n",
        );
        assert_eq!(block.get("Nats-Sequence"), Some("42"));
        assert_eq!(block.get("nats-sequence"), None);
        assert_eq!(block.get("NATS/1.0"), None);
        // A status message (the server speaking) has no header of a stored event.
        assert_eq!(Headers(b"NATS/1.0 503\r\n\r\n").get("Nats-Sequence"), None);
        assert_eq!(
            Headers(b"NATS/1.0\r\nA: \xff\r\nA: b\r\n\r\n").get("A"),
            None
        );
        assert_eq!(Headers(b"").get("A"), None);
    }

    #[test]
    fn a_bare_carriage_return_in_a_value_neither_ends_a_line_nor_panics() {
        let block = Headers(b"NATS/1.0\r\nX: a\rb\r\nNats-Sequence: 5\r\n\r\n");
        assert_eq!(block.get("X"), Some("a\rb"));
        assert_eq!(block.get("Nats-Sequence"), Some("5"));
    }
}
