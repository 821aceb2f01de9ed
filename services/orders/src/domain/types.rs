//! Newtypes parsed at the edge, so handlers and the aggregate never see raw strings or numbers.
//! The ones the inventory service speaks too (ids, skus, money) come from `orderflow_domain`.

use serde::Serialize;

pub use orderflow_domain::{CustomerId, Money, OrderId, ProductId, Sku, SkuError};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantity_bounds() {
        assert!(Quantity::new(0).is_none());
        assert_eq!(Quantity::new(1).unwrap().get(), 1);
        assert!(Quantity::new(Quantity::MAX + 1).is_none());
    }
}
