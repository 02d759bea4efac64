//! The three independent statuses of an order and the transitions between them.

use serde::{Deserialize, Serialize};

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($v:ident => $s:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, Hash)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($v),* }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v),*];
            pub fn as_str(self) -> &'static str { match self { $($name::$v => $s),* } }
            pub fn parse(s: &str) -> Option<Self> { match s { $($s => Some($name::$v),)* _ => None } }
        }
    };
}

string_enum!(
    /// Whether the order is still being worked on.
    OrderStatus { Open => "open", Closed => "closed", Cancelled => "cancelled" }
);
string_enum!(
    /// Where the money stands.
    PaymentStatus {
        Pending => "pending",
        Authorized => "authorized",
        Paid => "paid",
        PartiallyRefunded => "partially_refunded",
        Refunded => "refunded",
        Voided => "voided",
    }
);
string_enum!(
    /// Where the goods stand.
    FulfillmentStatus {
        Unfulfilled => "unfulfilled",
        PartiallyFulfilled => "partially_fulfilled",
        Fulfilled => "fulfilled",
        ReadyForPickup => "ready_for_pickup",
        PickedUp => "picked_up",
        Returned => "returned",
        PartiallyReturned => "partially_returned",
    }
);
string_enum!(
    /// Why an inventory ledger row exists.
    LedgerReason {
        Receipt => "receipt",
        SaleShipped => "sale_shipped",
        ReturnRestock => "return_restock",
        Adjustment => "adjustment",
        Count => "count",
        Damage => "damage",
        DamageRelease => "damage_release",
        WriteOff => "write_off",
        TransferOut => "transfer_out",
        TransferIn => "transfer_in",
        Import => "import",
    }
);
string_enum!(
    /// A variant's behaviour when stock runs out.
    InventoryPolicy { Deny => "deny", Continue => "continue" }
);
string_enum!(
    /// The lifecycle of a product listing.
    ProductStatus { Draft => "draft", Active => "active", Archived => "archived" }
);
string_enum!(
    /// The two legs of a transfer.
    TransferStatus { Draft => "draft", InTransit => "in_transit", PartiallyReceived => "partially_received", Received => "received", Cancelled => "cancelled" }
);
string_enum!(
    /// The kind of place that holds stock.
    LocationKind { Warehouse => "warehouse", Boutique => "boutique", ThirdParty => "third_party" }
);

/// Why a status change was refused, in words an operator can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// The payment status after recording `to` on an order whose payment is `from`.
pub fn record_payment(
    order: OrderStatus,
    from: PaymentStatus,
    to: PaymentStatus,
) -> Result<PaymentStatus, Refused> {
    use PaymentStatus::*;
    if order == OrderStatus::Cancelled {
        return Err(Refused(
            "the order is cancelled; no payment can be recorded".into(),
        ));
    }
    match (from, to) {
        (Pending, Authorized) | (Pending, Paid) | (Authorized, Paid) => Ok(to),
        (Authorized, Voided) => Ok(Voided),
        (a, b) if a == b => Err(Refused(format!("the payment is already {}", a.as_str()))),
        (a, b) => Err(Refused(format!(
            "a payment cannot go from {} to {}",
            a.as_str(),
            b.as_str()
        ))),
    }
}

/// The payment status after cancelling, or why cancelling is refused.
pub fn cancel(
    order: OrderStatus,
    payment: PaymentStatus,
    fulfillment: FulfillmentStatus,
) -> Result<PaymentStatus, Refused> {
    if order == OrderStatus::Cancelled {
        return Err(Refused("the order is already cancelled".into()));
    }
    if order == OrderStatus::Closed {
        return Err(Refused("the order is closed".into()));
    }
    if fulfillment != FulfillmentStatus::Unfulfilled {
        return Err(Refused(format!(
            "the order is {}; only unfulfilled orders can be cancelled",
            fulfillment.as_str()
        )));
    }
    match payment {
        PaymentStatus::Pending | PaymentStatus::Voided => Ok(payment),
        PaymentStatus::Authorized => Ok(PaymentStatus::Voided),
        other => Err(Refused(format!(
            "the payment is {}; refund it before cancelling",
            other.as_str()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payments() {
        use PaymentStatus::*;
        assert_eq!(record_payment(OrderStatus::Open, Pending, Paid), Ok(Paid));
        assert_eq!(
            record_payment(OrderStatus::Open, Authorized, Paid),
            Ok(Paid)
        );
        assert!(record_payment(OrderStatus::Open, Paid, Authorized).is_err());
        assert!(record_payment(OrderStatus::Open, Paid, Paid).is_err());
        assert!(record_payment(OrderStatus::Cancelled, Pending, Paid).is_err());
    }

    #[test]
    fn cancelling() {
        use FulfillmentStatus::*;
        assert_eq!(
            cancel(OrderStatus::Open, PaymentStatus::Authorized, Unfulfilled),
            Ok(PaymentStatus::Voided)
        );
        assert_eq!(
            cancel(OrderStatus::Open, PaymentStatus::Pending, Unfulfilled),
            Ok(PaymentStatus::Pending)
        );
        assert!(cancel(OrderStatus::Open, PaymentStatus::Paid, Unfulfilled).is_err());
        assert!(cancel(OrderStatus::Open, PaymentStatus::Pending, Fulfilled).is_err());
        assert!(cancel(OrderStatus::Cancelled, PaymentStatus::Pending, Unfulfilled).is_err());
        for s in LedgerReason::ALL {
            assert_eq!(LedgerReason::parse(s.as_str()), Some(*s));
        }
    }
}
