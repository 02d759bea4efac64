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
pub(crate) use string_enum;

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
        PaymentStatus::Pending | PaymentStatus::Voided | PaymentStatus::Refunded => Ok(payment),
        PaymentStatus::Authorized => Ok(PaymentStatus::Voided),
        other => Err(Refused(format!(
            "the payment is {}; refund it before cancelling",
            other.as_str()
        ))),
    }
}

/// The fulfillment status from each line's (ordered, shipped) units.
pub fn fulfillment_status(lines: &[(i64, i64)]) -> FulfillmentStatus {
    let shipped: i64 = lines.iter().map(|(_, s)| *s).sum();
    if shipped == 0 {
        FulfillmentStatus::Unfulfilled
    } else if lines.iter().all(|(o, s)| s >= o) {
        FulfillmentStatus::Fulfilled
    } else {
        FulfillmentStatus::PartiallyFulfilled
    }
}

/// The fulfillment status from each line's (ordered, shipped, returned) units: units still to
/// ship come first (an exchange's new lines put a returned order back in the shipping queue);
/// once everything has shipped, returns show.
pub fn fulfillment_status_with_returns(lines: &[(i64, i64, i64)]) -> FulfillmentStatus {
    let pairs: Vec<(i64, i64)> = lines.iter().map(|(o, s, _)| (*o, *s)).collect();
    let shipping = fulfillment_status(&pairs);
    if shipping != FulfillmentStatus::Fulfilled {
        return shipping;
    }
    let shipped: i64 = lines.iter().map(|(_, s, _)| *s).sum();
    let returned: i64 = lines.iter().map(|(_, _, r)| *r).sum();
    if returned == 0 {
        FulfillmentStatus::Fulfilled
    } else if returned >= shipped {
        FulfillmentStatus::Returned
    } else {
        FulfillmentStatus::PartiallyReturned
    }
}

/// Whether units of an order may be shipped now.
pub fn can_ship(order: OrderStatus, fulfillment: FulfillmentStatus) -> Result<(), Refused> {
    match order {
        OrderStatus::Cancelled => Err(Refused("the order is cancelled".into())),
        OrderStatus::Closed => Err(Refused("the order is closed".into())),
        OrderStatus::Open if fulfillment == FulfillmentStatus::Fulfilled => {
            Err(Refused("every unit of the order has shipped".into()))
        }
        OrderStatus::Open => Ok(()),
    }
}

/// The payment status after refunding `amount` of what was `paid`, `refunded` already; a refund
/// never exceeds what was paid minus what was already refunded.
pub fn refund(
    payment: PaymentStatus,
    paid: i64,
    refunded: i64,
    amount: i64,
) -> Result<PaymentStatus, Refused> {
    if !matches!(
        payment,
        PaymentStatus::Paid | PaymentStatus::PartiallyRefunded
    ) {
        return Err(Refused(format!(
            "the payment is {}; only captured payments can be refunded",
            payment.as_str()
        )));
    }
    if amount <= 0 {
        return Err(Refused("a refund must be a positive amount".into()));
    }
    let left = paid - refunded;
    if amount > left {
        return Err(Refused(format!(
            "at most {left} can be refunded: {paid} paid, {refunded} already refunded"
        )));
    }
    Ok(if amount == left {
        PaymentStatus::Refunded
    } else {
        PaymentStatus::PartiallyRefunded
    })
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
    fn fulfilling_and_refunding() {
        use FulfillmentStatus::*;
        assert_eq!(fulfillment_status(&[(2, 0), (1, 0)]), Unfulfilled);
        assert_eq!(fulfillment_status(&[(2, 1), (1, 0)]), PartiallyFulfilled);
        assert_eq!(fulfillment_status(&[(2, 2), (1, 1)]), Fulfilled);
        assert!(can_ship(OrderStatus::Open, PartiallyFulfilled).is_ok());
        assert!(can_ship(OrderStatus::Open, Fulfilled).is_err());
        assert!(can_ship(OrderStatus::Cancelled, Unfulfilled).is_err());
        use PaymentStatus::*;
        assert_eq!(refund(Paid, 1000, 0, 400), Ok(PartiallyRefunded));
        assert_eq!(refund(PartiallyRefunded, 1000, 400, 600), Ok(Refunded));
        assert!(refund(PartiallyRefunded, 1000, 400, 601).is_err());
        assert!(refund(Paid, 1000, 0, 0).is_err());
        assert!(refund(Authorized, 1000, 0, 10).is_err());
        assert_eq!(
            cancel(OrderStatus::Open, Refunded, Unfulfilled),
            Ok(Refunded)
        );
    }

    #[test]
    fn exchanges_put_returned_orders_back_to_ship() {
        use FulfillmentStatus::*;
        let f = fulfillment_status_with_returns;
        assert_eq!(f(&[(2, 2, 0)]), Fulfilled);
        assert_eq!(f(&[(2, 2, 1)]), PartiallyReturned);
        assert_eq!(f(&[(2, 2, 2)]), Returned);
        assert_eq!(f(&[(2, 2, 1), (1, 0, 0)]), PartiallyFulfilled);
        assert_eq!(f(&[(2, 0, 0)]), Unfulfilled);
    }

    proptest::proptest! {
        /// Any sequence of refunds never takes back more than was paid.
        #[test]
        fn refunds_never_exceed_payment(paid in 1i64..1_000_000, asks in proptest::collection::vec(-10i64..400_000, 0..20)) {
            let (mut status, mut refunded) = (PaymentStatus::Paid, 0);
            for a in asks {
                if let Ok(s) = refund(status, paid, refunded, a) {
                    refunded += a;
                    status = s;
                }
                proptest::prop_assert!(refunded <= paid);
                proptest::prop_assert_eq!(status == PaymentStatus::Refunded, refunded == paid);
            }
        }
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
