//! Input of `auth_token`: what a client can present as a credential, and the fixed keys the
//! target validates against.
//!
//! Layout: one byte choosing the kind (modulo 5), then:
//!
//! - 0, [`TokenInput::Header`]: the rest is the `Authorization` header value;
//! - 1, [`TokenInput::Uri`]: the rest is a request target such as `/hubs/orders?access_token=…`;
//! - 2, [`TokenInput::Raw`]: the rest is a bearer token;
//! - 3, [`TokenInput::Signed`]: one byte choosing the signature ([`Signature`]), one more byte
//!   (where to flip a bit for [`Signature::Tampered`]), the JWT header JSON (two length bytes,
//!   then the bytes), and the claims JSON (the rest). The target base64url-encodes both and signs
//!   them, so mutations reach the claim checks behind the signature;
//! - 4, [`TokenInput::Connection`]: the rest is a gateway connection token (the hub URL's `id`).

use arbitrary::{Arbitrary, Result, Unstructured};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{Writer, byte, long_bytes, rest};

/// The issuer the target's authenticator requires.
pub const ISSUER: &str = "orderflow-fuzz";
/// The audience the target's authenticator requires.
pub const AUDIENCE: &str = "orderflow";
/// The HS256 key the target's authenticator trusts.
pub const SECRET: &str = "fuzz-secret-0123456789abcdef-0123456789";
/// A key it does not trust.
pub const WRONG_SECRET: &str = "not-the-fuzz-secret-0123456789abcdefgh";
/// The key the target's gateway seals connection tokens with.
pub const CONNECTION_SECRET: &[u8] = b"fuzz-connection-secret-0123456789abcdef";
/// `exp` of the seed tokens: 2100-01-01, so the committed corpus does not expire.
pub const FAR_FUTURE: u64 = 4_102_444_800;

/// How a [`TokenInput::Signed`] token is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signature {
    /// 0: HMAC-SHA256 with [`SECRET`].
    Right,
    /// 1: HMAC-SHA256 with [`WRONG_SECRET`].
    Wrong,
    /// 2: no signature (`header.claims.`).
    Empty,
    /// 3: signed with [`SECRET`], then one bit of the token flipped (at the given offset,
    /// modulo its length).
    Tampered(u8),
}

/// One credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenInput<'a> {
    /// An `Authorization` header value.
    Header(&'a [u8]),
    /// A request target.
    Uri(&'a str),
    /// A bearer token.
    Raw(&'a str),
    /// A token the target assembles and signs.
    Signed {
        signature: Signature,
        header: &'a [u8],
        claims: &'a [u8],
    },
    /// A gateway connection token.
    Connection(&'a str),
}

fn rest_str<'a>(u: &mut Unstructured<'a>) -> Result<&'a str> {
    std::str::from_utf8(rest(u)).map_err(|_| arbitrary::Error::IncorrectFormat)
}

impl<'a> Arbitrary<'a> for TokenInput<'a> {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match byte(u)? % 5 {
            0 => TokenInput::Header(rest(u)),
            1 => TokenInput::Uri(rest_str(u)?),
            2 => TokenInput::Raw(rest_str(u)?),
            3 => {
                let choice = byte(u)?;
                let offset = byte(u)?;
                let signature = match choice % 4 {
                    0 => Signature::Right,
                    1 => Signature::Wrong,
                    2 => Signature::Empty,
                    _ => Signature::Tampered(offset),
                };
                TokenInput::Signed {
                    signature,
                    header: long_bytes(u)?,
                    claims: rest(u),
                }
            }
            _ => TokenInput::Connection(rest_str(u)?),
        })
    }
}

impl TokenInput<'_> {
    /// The bytes that decode to this input.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match self {
            TokenInput::Header(value) => w.byte(0).rest(value),
            TokenInput::Uri(uri) => w.byte(1).rest(uri.as_bytes()),
            TokenInput::Raw(token) => w.byte(2).rest(token.as_bytes()),
            TokenInput::Signed {
                signature,
                header,
                claims,
            } => {
                let (choice, offset) = match signature {
                    Signature::Right => (0, 0),
                    Signature::Wrong => (1, 0),
                    Signature::Empty => (2, 0),
                    Signature::Tampered(offset) => (3, *offset),
                };
                w.byte(3)
                    .byte(choice)
                    .byte(offset)
                    .long_bytes(header)
                    .rest(claims)
            }
            TokenInput::Connection(token) => w.byte(4).rest(token.as_bytes()),
        };
        w.finish()
    }
}

/// HMAC-SHA256 of `message` under `key`.
pub fn hs256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// The compact JWT of `header` and `claims` (JSON bytes) signed as `signature` says.
pub fn assemble(header: &[u8], claims: &[u8], signature: Signature) -> String {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let tag = match signature {
        Signature::Right | Signature::Tampered(_) => {
            hs256(SECRET.as_bytes(), signing_input.as_bytes())
        }
        Signature::Wrong => hs256(WRONG_SECRET.as_bytes(), signing_input.as_bytes()),
        Signature::Empty => Vec::new(),
    };
    let token = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag));
    match signature {
        Signature::Tampered(offset) => {
            let mut bytes = token.into_bytes();
            let i = usize::from(offset) % bytes.len();
            bytes[i] ^= 1;
            // Flipping the lowest bit keeps ASCII ASCII.
            String::from_utf8(bytes).expect("the token is ASCII")
        }
        _ => token,
    }
}

/// Whether `token` carries a valid HS256 signature by [`SECRET`] over its first two parts: the
/// independent check every accepted token must pass.
pub fn signed_by_secret(token: &str) -> bool {
    let Some((signing_input, signature)) = token.rsplit_once('.') else {
        return false;
    };
    let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
        return false;
    };
    signature == hs256(SECRET.as_bytes(), signing_input.as_bytes())
}
