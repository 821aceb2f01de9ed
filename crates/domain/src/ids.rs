//! UUID identities, one type each so an order id is never passed where a product id belongs.

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
    /// Identity of a catalog product (owned by the inventory service; UUID v7).
    ProductId
);
