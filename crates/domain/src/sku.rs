//! Stock-keeping units. A sku is also a NATS subject token (`orderflow.inventory.stock.<sku>`),
//! so the rule excludes every character NATS gives a meaning to.

use std::fmt;

use serde::Serialize;

/// A stock-keeping unit: 1–64 characters of `A–Z`, `0–9` and `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Sku(String);

/// Why a string is not a [`Sku`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sku must be 1-64 characters of A-Z, 0-9 and '-', got {0:?}")]
pub struct SkuError(pub String);

impl Sku {
    /// Parses a sku; lower-case letters are accepted and upper-cased.
    pub fn parse(raw: &str) -> Result<Self, SkuError> {
        let upper = raw.trim().to_ascii_uppercase();
        let valid = !upper.is_empty()
            && upper.len() <= 64
            && upper
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
        if valid {
            Ok(Self(upper))
        } else {
            Err(SkuError(raw.to_owned()))
        }
    }

    /// The sku as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Sku;

    #[test]
    fn sku_accepts_upper_digits_and_dashes_and_normalises_case() {
        assert_eq!(Sku::parse("kb-001").unwrap().as_str(), "KB-001");
        for bad in ["", "A.B", "A B", "*", ">", &"X".repeat(65)] {
            assert!(Sku::parse(bad).is_err(), "{bad:?} must be rejected");
        }
    }
}
