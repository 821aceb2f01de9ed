//! Connection tokens that every gateway of a deployment can check, so a negotiate answered by
//! gateway A may be followed by the WebSocket connect on gateway B: load balancers do not keep
//! the two requests on one node, and nothing should require them to.
//!
//! A token carries the public connection id, the user who negotiated, when it stops being
//! accepted for a new connection, and whether stateful reconnect was agreed, sealed with
//! HMAC-SHA256 under a key the gateways share (`GATEWAY_CONNECTION_TOKEN_SECRET`). It is still a
//! bearer secret in the URL, but it proves nothing on its own: the upgrade also needs a valid
//! JWT of the same user. The public `connectionId` is derived from the token's random part and
//! cannot be turned back into a token without the key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

/// Random id (16) + user (16) + expiry in Unix seconds (8) + flags (1).
const BODY_LEN: usize = 16 + 16 + 8 + 1;
/// Truncated tag: 128 bits is far beyond what an online guess can reach.
const TAG_LEN: usize = 16;
const STATEFUL_FLAG: u8 = 1;

/// The key connection tokens are sealed with.
#[derive(Clone)]
pub struct TokenKey(HmacSha256);

impl TokenKey {
    /// A key from a shared secret (at least 32 bytes; checked by the settings).
    pub fn from_secret(secret: &[u8]) -> TokenKey {
        // HMAC accepts keys of any length; this cannot fail.
        TokenKey(HmacSha256::new_from_slice(secret).expect("HMAC takes any key length"))
    }

    /// A random key: tokens are then only valid on this gateway process.
    pub fn random() -> TokenKey {
        let secret: [u8; 32] = rand::random();
        TokenKey::from_secret(&secret)
    }

    fn tag(&self, body: &[u8]) -> [u8; TAG_LEN] {
        let mut mac = self.0.clone();
        mac.update(body);
        let full = mac.finalize().into_bytes();
        let mut tag = [0; TAG_LEN];
        tag.copy_from_slice(&full[..TAG_LEN]);
        tag
    }
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// The public connection id (`connectionId` in the negotiate answer).
    pub connection_id: String,
    /// The user who negotiated.
    pub user_id: Uuid,
    /// Unix seconds after which the token opens no new connection.
    pub expires_at: u64,
    /// Stateful reconnect was negotiated.
    pub stateful: bool,
}

/// Why a token was refused. Deliberately coarse: the client learns only "unknown connection".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token this gateway family issued, or tampered with.
    #[error("unknown connection")]
    Invalid,
    /// Past its expiry.
    #[error("connection token expired")]
    Expired,
}

/// Issues a token for a new connection; returns what it says and the token.
pub fn issue(key: &TokenKey, user_id: Uuid, stateful: bool, expires_at: u64) -> (Ticket, String) {
    let id: [u8; 16] = rand::random();
    let mut sealed = Vec::with_capacity(BODY_LEN + TAG_LEN);
    sealed.extend_from_slice(&id);
    sealed.extend_from_slice(user_id.as_bytes());
    sealed.extend_from_slice(&expires_at.to_be_bytes());
    sealed.push(if stateful { STATEFUL_FLAG } else { 0 });
    let tag = key.tag(&sealed);
    sealed.extend_from_slice(&tag);
    let ticket = Ticket {
        connection_id: URL_SAFE_NO_PAD.encode(id),
        user_id,
        expires_at,
        stateful,
    };
    (ticket, URL_SAFE_NO_PAD.encode(sealed))
}

/// Checks a token's seal and its expiry at `now` (Unix seconds; 0 skips the expiry check).
pub fn verify(key: &TokenKey, token: &str, now: u64) -> Result<Ticket, TokenError> {
    let raw = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| TokenError::Invalid)?;
    if raw.len() != BODY_LEN + TAG_LEN {
        return Err(TokenError::Invalid);
    }
    let (body, tag) = raw.split_at(BODY_LEN);
    let mut mac = key.0.clone();
    mac.update(body);
    mac.verify_truncated_left(tag)
        .map_err(|_| TokenError::Invalid)?;
    let user_id = Uuid::from_slice(&body[16..32]).map_err(|_| TokenError::Invalid)?;
    let mut expiry = [0; 8];
    expiry.copy_from_slice(&body[32..40]);
    let ticket = Ticket {
        connection_id: URL_SAFE_NO_PAD.encode(&body[..16]),
        user_id,
        expires_at: u64::from_be_bytes(expiry),
        stateful: body[40] & STATEFUL_FLAG != 0,
    };
    if ticket.expires_at < now {
        return Err(TokenError::Expired);
    }
    Ok(ticket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_on_any_gateway_with_the_key() {
        let a = TokenKey::from_secret(b"0123456789abcdef0123456789abcdef");
        let b = TokenKey::from_secret(b"0123456789abcdef0123456789abcdef");
        let user = Uuid::new_v4();
        let (issued, token) = issue(&a, user, true, 1_000);
        let ticket = verify(&b, &token, 999).unwrap();
        assert_eq!(ticket, issued);
        assert_eq!(ticket.user_id, user);
        assert!(ticket.stateful);
        assert_eq!(ticket.connection_id.len(), 22);
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(verify(&b, &token, 1_001), Err(TokenError::Expired));
    }

    #[test]
    fn forged_tampered_and_foreign_tokens_are_refused() {
        let key = TokenKey::from_secret(b"0123456789abcdef0123456789abcdef");
        let (ticket, token) = issue(&key, Uuid::new_v4(), false, u64::MAX);
        let id = ticket.connection_id;
        assert_eq!(
            verify(&key, &id, 0),
            Err(TokenError::Invalid),
            "the public id"
        );
        let other = TokenKey::random();
        assert_eq!(verify(&other, &token, 0), Err(TokenError::Invalid));
        let mut raw = URL_SAFE_NO_PAD.decode(&token).unwrap();
        raw[20] ^= 1; // another user
        assert_eq!(
            verify(&key, &URL_SAFE_NO_PAD.encode(&raw), 0),
            Err(TokenError::Invalid)
        );
        for junk in ["", "%%%", "AAAA", &"A".repeat(76)] {
            assert_eq!(verify(&key, junk, 0), Err(TokenError::Invalid), "{junk}");
        }
    }
}
