//! Amounts of money as integer minor units, parsed from and printed as exact decimal strings.

/// An amount of money in minor units (cents) of one currency. Never a float.
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

    /// `"12.34"` for 1234 minor units (two decimal places).
    pub fn to_decimal_string(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        format!("{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::Money;

    #[test]
    fn money_parses_exactly() {
        assert_eq!(Money::parse("49.99").unwrap(), Money(4999));
        assert_eq!(Money::parse("0.5").unwrap(), Money(50));
        assert_eq!(Money::parse("12").unwrap(), Money(1200));
        for bad in ["", "-1", "1.", ".5", "1.234", "1e3", "abc", "1000000000"] {
            assert!(Money::parse(bad).is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn money_formats_exactly() {
        assert_eq!(Money(1234).to_decimal_string(), "12.34");
        assert_eq!(Money(5).to_decimal_string(), "0.05");
        assert_eq!(Money(4999).to_decimal_string(), "49.99");
        assert_eq!(Money(-250).to_decimal_string(), "-2.50");
    }
}
