//! Newtypes parsed at the edge and the product as the service holds it, so handlers, the store
//! and the event code never see raw strings or floats.

use std::fmt;

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

/// Currency of every price in this catalog (the orders service refuses mixed currencies).
pub const CURRENCY: &str = "USD";
/// Low-stock threshold of a product created without one.
pub const DEFAULT_THRESHOLD: i64 = 10;
/// Largest stock level, adjustment or threshold accepted; far above any real warehouse and far
/// below `i64` overflow.
pub const MAX_UNITS: i64 = 1_000_000_000;

/// Identity of a product (UUID v7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ProductId(pub Uuid);

impl fmt::Display for ProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A stock-keeping unit: 1–64 characters of `A–Z`, `0–9` and `-`, so it is also a valid NATS
/// subject token (the same rule as the orders service).
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

/// An amount of money in minor units (cents). Never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Money(pub i64);

/// Why a string is not a price.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a price is a decimal string with at most 2 decimals, 0 to 999999999.99, got {0:?}")]
pub struct MoneyError(pub String);

impl Money {
    /// Parses `"12.34"`, `"12.3"` or `"12"` exactly (no floats involved).
    pub fn parse(raw: &str) -> Result<Self, MoneyError> {
        let err = || MoneyError(raw.to_owned());
        let (whole, frac) = raw.split_once('.').unwrap_or((raw, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || whole.len() > 9 || !digits(whole) || !digits(frac) {
            return Err(err());
        }
        if frac.len() > 2 || (raw.contains('.') && frac.is_empty()) {
            return Err(err());
        }
        let whole: i64 = whole.parse().map_err(|_| err())?;
        let cents: i64 = format!("{frac:0<2}").parse().map_err(|_| err())?;
        Ok(Self(whole * 100 + cents))
    }

    /// `"12.34"` for 1234 minor units.
    pub fn to_decimal_string(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        format!("{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// A product with its stock, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// Identity.
    pub id: ProductId,
    /// Unique sku.
    pub sku: Sku,
    /// Display name.
    pub name: String,
    /// Price of one unit.
    pub unit_price: Money,
    /// ISO 4217 currency of the price.
    pub currency: String,
    /// Units available for sale; never negative.
    pub stock_level: i64,
    /// Units held for confirmed orders; never negative.
    pub reserved: i64,
    /// Below this level the product is low on stock.
    pub low_stock_threshold: i64,
    /// Version of the product aggregate: the number of events it has raised.
    pub version: i64,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Time of the last change.
    pub updated_at: OffsetDateTime,
}

/// What a new product starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    /// Unique sku.
    pub sku: Sku,
    /// Display name.
    pub name: String,
    /// Price of one unit.
    pub unit_price: Money,
    /// Initial units available.
    pub stock_level: i64,
    /// Low-stock threshold.
    pub low_stock_threshold: i64,
}

/// Changes to a product's catalog data; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductPatch {
    /// New display name.
    pub name: Option<String>,
    /// New price.
    pub unit_price: Option<Money>,
    /// New low-stock threshold.
    pub low_stock_threshold: Option<i64>,
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
    fn money_parses_and_formats_exactly() {
        assert_eq!(Money::parse("49.99").unwrap(), Money(4999));
        assert_eq!(Money::parse("0.5").unwrap(), Money(50));
        assert_eq!(Money::parse("12").unwrap(), Money(1200));
        for bad in ["", "-1", "1.", ".5", "1.234", "1e3", "abc", "1000000000"] {
            assert!(Money::parse(bad).is_err(), "{bad:?} must be rejected");
        }
        assert_eq!(Money(5).to_decimal_string(), "0.05");
        assert_eq!(Money(4999).to_decimal_string(), "49.99");
    }
}
