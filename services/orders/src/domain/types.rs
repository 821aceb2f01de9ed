//! Newtypes parsed at the edge, so handlers and the aggregate never see raw strings or numbers.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

uuid_id!(
    /// Identity of an order (UUID v7: time-ordered, so indexes stay compact).
    OrderId
);
uuid_id!(
    /// Identity of a customer: the `sub` of their token.
    CustomerId
);
uuid_id!(
    /// Identity of a catalog product (owned by the inventory service).
    ProductId
);

/// A stock-keeping unit: 1–64 characters of `A–Z`, `0–9` and `-`, so it is also a valid NATS
/// subject token.
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

/// A positive line quantity, at most 10,000 per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Quantity(u32);

impl Quantity {
    /// The largest quantity one line may order.
    pub const MAX: u32 = 10_000;

    /// Accepts 1..=[`Quantity::MAX`].
    pub fn new(value: u32) -> Option<Self> {
        (1..=Self::MAX).contains(&value).then_some(Self(value))
    }

    /// The quantity as a number.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// An amount of money in minor units (cents) of one currency. Never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Money(pub i64);

impl Money {
    /// `"12.34"` for 1234 minor units (two decimal places).
    pub fn to_decimal_string(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        format!("{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sku_accepts_upper_digits_and_dashes_and_normalises_case() {
        assert_eq!(Sku::parse("kb-001").unwrap().as_str(), "KB-001");
        for bad in ["", "A.B", "A B", "*", ">", &"X".repeat(65)] {
            assert!(Sku::parse(bad).is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn quantity_bounds() {
        assert!(Quantity::new(0).is_none());
        assert_eq!(Quantity::new(1).unwrap().get(), 1);
        assert!(Quantity::new(Quantity::MAX + 1).is_none());
    }

    #[test]
    fn money_formats_exactly() {
        assert_eq!(Money(1234).to_decimal_string(), "12.34");
        assert_eq!(Money(5).to_decimal_string(), "0.05");
        assert_eq!(Money(-250).to_decimal_string(), "-2.50");
    }
}
