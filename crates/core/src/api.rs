//! The wire contract: request bodies and response views of the HTTP API (and the CLI's JSON output).
//!
//! These are not storage rows: repository code reads rows and builds these views. Request types
//! reject unknown fields by name. Money in requests is an integer count of minor units in the
//! store's currency; money in responses is a [`Money`] object naming its currency.

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// Tells "absent" (`None`) from "set to null" (`Some(None)`) in PATCH bodies.
pub(crate) fn double_option<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

/// An amount in minor units (cents) of a currency.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq, Eq)]
pub struct Money {
    /// Minor units: 1999 is 19.99.
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// One page of a list, with the cursor for the next page when there is one.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A page of a list: how many (1 to 250, 50 by default) and after which cursor.
#[derive(Default, Clone, Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

// ----------------------------------------------------------------------------------------------
// Catalog

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct Product {
    pub id: i64,
    pub handle: String,
    pub title: String,
    pub description: String,
    pub vendor: String,
    pub product_type: String,
    pub tags: Vec<String>,
    /// Option names, e.g. `["Size", "Colour"]`; each variant has one value per name.
    pub options: Vec<String>,
    pub image_urls: Vec<String>,
    /// `draft`, `active` or `archived`.
    pub status: String,
    pub seo_title: Option<String>,
    pub seo_description: Option<String>,
    pub variants: Vec<Variant>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct Variant {
    pub id: i64,
    pub product_id: i64,
    pub sku: String,
    pub title: String,
    /// Option values in the order of the product's option names.
    pub options: Vec<String>,
    pub price: Money,
    pub compare_at_price: Option<Money>,
    pub unit_cost: Option<Money>,
    pub weight_grams: Option<i64>,
    pub barcode: Option<String>,
    /// `deny` (never sell beyond available) or `continue` (backorders allowed).
    pub inventory_policy: String,
    pub position: i64,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    pub title: String,
    /// URL slug; derived from the title when absent.
    pub handle: Option<String>,
    pub description: Option<String>,
    pub vendor: Option<String>,
    pub product_type: Option<String>,
    pub tags: Option<Vec<String>>,
    pub options: Option<Vec<String>>,
    pub image_urls: Option<Vec<String>>,
    /// `draft` (default), `active` or `archived`.
    pub status: Option<String>,
    pub seo_title: Option<String>,
    pub seo_description: Option<String>,
    /// At least one variant.
    pub variants: Vec<NewVariant>,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct NewVariant {
    pub sku: String,
    /// Derived from the option values when absent ("M / Red"), or "Default".
    pub title: Option<String>,
    pub options: Option<Vec<String>>,
    /// Minor units in the store currency.
    pub price: i64,
    pub compare_at_price: Option<i64>,
    pub unit_cost: Option<i64>,
    pub weight_grams: Option<i64>,
    pub barcode: Option<String>,
    /// `deny` (default) or `continue`.
    pub inventory_policy: Option<String>,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    pub title: Option<String>,
    pub handle: Option<String>,
    pub description: Option<String>,
    pub vendor: Option<String>,
    pub product_type: Option<String>,
    pub tags: Option<Vec<String>>,
    pub options: Option<Vec<String>>,
    pub image_urls: Option<Vec<String>>,
    pub status: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub seo_title: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub seo_description: Option<Option<String>>,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct VariantPatch {
    pub sku: Option<String>,
    pub title: Option<String>,
    pub options: Option<Vec<String>>,
    pub price: Option<i64>,
    #[serde(default, deserialize_with = "double_option")]
    pub compare_at_price: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    pub unit_cost: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    pub weight_grams: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    pub barcode: Option<Option<String>>,
    pub inventory_policy: Option<String>,
}

// ----------------------------------------------------------------------------------------------
// Locations and channels

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct Location {
    pub id: i64,
    pub code: String,
    pub name: String,
    /// `warehouse`, `boutique` or `third_party`.
    pub kind: String,
    pub ships_online: bool,
    pub offers_pickup: bool,
    pub sells_in_store: bool,
    /// Lower is preferred by sourcing.
    pub priority: i64,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct NewLocation {
    pub code: String,
    pub name: String,
    pub kind: String,
    pub ships_online: Option<bool>,
    pub offers_pickup: Option<bool>,
    pub sells_in_store: Option<bool>,
    pub priority: Option<i64>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct LocationPatch {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub ships_online: Option<bool>,
    pub offers_pickup: Option<bool>,
    pub sells_in_store: Option<bool>,
    pub priority: Option<i64>,
    #[serde(default, deserialize_with = "double_option")]
    pub latitude: Option<Option<f64>>,
    #[serde(default, deserialize_with = "double_option")]
    pub longitude: Option<Option<f64>>,
    #[serde(default, deserialize_with = "double_option")]
    pub postal_code: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub country: Option<Option<String>>,
    pub active: Option<bool>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct Channel {
    pub id: i64,
    pub code: String,
    pub name: String,
    /// `online`, `marketplace`, `pos` or `phone`.
    pub kind: String,
    pub active: bool,
    /// The locations this channel sells from.
    pub location_ids: Vec<i64>,
    /// How orders choose locations: `priority`, `fewest_shipments`, `nearest` or `highest_stock`.
    pub sourcing_strategy: String,
    /// Hours from placement to the promised ship-by time.
    pub handling_hours: i64,
    /// Hours a click-and-collect order waits once ready before it is cancelled and released.
    pub pickup_hold_hours: i64,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    pub code: String,
    pub name: String,
    pub kind: String,
    #[serde(default)]
    pub location_ids: Vec<i64>,
    /// `priority`, `fewest_shipments` (default), `nearest` or `highest_stock`.
    pub sourcing_strategy: Option<String>,
    /// Hours from placement to the promised ship-by time (48 by default).
    pub handling_hours: Option<i64>,
    /// Hours a ready pickup order waits to be collected (72 by default).
    pub pickup_hold_hours: Option<i64>,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct ChannelPatch {
    pub name: Option<String>,
    pub active: Option<bool>,
    pub location_ids: Option<Vec<i64>>,
    pub sourcing_strategy: Option<String>,
    pub handling_hours: Option<i64>,
    pub pickup_hold_hours: Option<i64>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct SafetyBuffer {
    pub sku: String,
    /// Units held back from this channel at each location; 0 removes the buffer.
    pub quantity: i64,
}

// ----------------------------------------------------------------------------------------------
// Inventory

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct StockLevel {
    pub sku: String,
    pub variant_id: i64,
    pub location_id: i64,
    pub location_code: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub unavailable: i64,
    /// `on_hand - reserved - unavailable`.
    pub available: i64,
    pub incoming: i64,
    /// Where the SKU sits at this location (aisle, shelf, bin).
    pub bin: Option<String>,
    pub updated_at: String,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, Default, PartialEq, Eq)]
pub struct StockTotals {
    pub on_hand: i64,
    pub reserved: i64,
    pub unavailable: i64,
    pub available: i64,
    pub incoming: i64,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct SkuStock {
    pub sku: String,
    pub variant_id: i64,
    pub inventory_policy: String,
    pub levels: Vec<StockLevel>,
    pub totals: StockTotals,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct ChannelAvailability {
    pub channel_id: i64,
    pub sku: String,
    /// What the channel may sell now: the sum over its locations of available less its buffer.
    pub available: i64,
    pub locations: Vec<LocationAvailability>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct LocationAvailability {
    pub location_id: i64,
    pub available: i64,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct ReceiveStock {
    pub sku: String,
    pub location_id: i64,
    pub quantity: i64,
    pub note: Option<String>,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct AdjustStock {
    pub sku: String,
    pub location_id: i64,
    /// Units added (positive) or removed (negative) from on hand.
    pub delta: i64,
    /// Why: required, in words (e.g. "found in back room", "shrinkage").
    pub note: String,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct CountStock {
    pub sku: String,
    pub location_id: i64,
    /// The absolute number counted; the variance from on hand is recorded.
    pub counted: i64,
    pub note: Option<String>,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct DamageStock {
    pub sku: String,
    pub location_id: i64,
    pub quantity: i64,
    /// `mark` (default: units become unavailable), `release` (back to sellable) or `write_off`
    /// (damaged units leave on hand).
    pub action: Option<String>,
    pub note: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct StockChange {
    pub level: StockLevel,
    pub ledger_entry: LedgerEntry,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct LedgerEntry {
    pub id: i64,
    pub sku: String,
    pub variant_id: i64,
    pub location_id: i64,
    pub on_hand_delta: i64,
    pub unavailable_delta: i64,
    pub reason: String,
    pub actor: String,
    pub reference_type: Option<String>,
    pub reference_id: Option<i64>,
    pub note: Option<String>,
    pub created_at: String,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct Transfer {
    pub id: i64,
    pub from_location_id: i64,
    pub to_location_id: i64,
    /// `draft`, `in_transit`, `partially_received`, `received` or `cancelled`.
    pub status: String,
    pub note: Option<String>,
    pub lines: Vec<TransferLine>,
    pub created_by: String,
    pub created_at: String,
    pub shipped_at: Option<String>,
    pub received_at: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct TransferLine {
    pub sku: String,
    pub variant_id: i64,
    pub quantity: i64,
    pub received_quantity: i64,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct NewTransfer {
    pub from_location_id: i64,
    pub to_location_id: i64,
    pub lines: Vec<SkuQuantity>,
    pub note: Option<String>,
    /// Ship at once (the first leg) instead of leaving a draft.
    #[serde(default)]
    pub ship: bool,
}

#[derive(Deserialize, Serialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct SkuQuantity {
    pub sku: String,
    pub quantity: i64,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct ReceiveTransfer {
    /// Units received per SKU; when absent, everything still outstanding.
    pub lines: Option<Vec<SkuQuantity>>,
}

// ----------------------------------------------------------------------------------------------
// Customers and orders

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct Customer {
    pub id: i64,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub accepts_marketing: bool,
    pub marketing_consent_at: Option<String>,
    pub marketing_consent_source: Option<String>,
    pub acquisition_source: Option<String>,
    pub tags: Vec<String>,
    pub note: Option<String>,
    /// Non-cancelled orders.
    pub orders_count: i64,
    /// Sum of totals of non-cancelled orders (tax and shipping included, refunds not deducted).
    pub total_spent: Money,
    /// Historic lifetime value: net sales to date, the merchandise of non-cancelled orders
    /// (subtotal less discounts, net of tax) less merchandise refunded. The same figure as the
    /// CLV report's `net_sales` and the customer export's `lifetime_value`.
    pub lifetime_value: Money,
    /// The placeholder that imported orders without a customer hang on (guest invoices): its
    /// orders count in orders and sales, never in the customer KPIs.
    pub guest: bool,
    /// Saved addresses, the default first: each new shipping address of an order is kept.
    pub addresses: Vec<Address>,
    pub created_at: String,
    pub updated_at: String,
}

/// A change to a customer: only the fields given change.
#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct CustomerPatch {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// An empty string clears it.
    pub phone: Option<String>,
    pub tags: Option<Vec<String>>,
    /// Staff notes; an empty string clears them.
    pub note: Option<String>,
    /// Marketing consent given or withdrawn now, recorded with the time and
    /// `marketing_consent_source`.
    pub accepts_marketing: Option<bool>,
    /// How consent was given or withdrawn (`phone call`, `in store form`); the staff member
    /// who made the change when absent.
    pub marketing_consent_source: Option<String>,
    /// The saved addresses, replacing the list (the default first; at most 20).
    pub addresses: Option<Vec<Address>>,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    /// Marketing consent given at checkout; recorded with time and channel as source.
    pub accepts_marketing: Option<bool>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2, e.g. `FR`.
    pub country: String,
    pub phone: Option<String>,
    /// Optional coordinates, used by the `nearest` sourcing strategy.
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrder {
    /// The channel's code, e.g. `online`.
    pub channel: String,
    pub customer: CustomerInput,
    pub shipping_address: Address,
    /// A shipping rate code (`standard` by default; `pickup` for click and collect).
    pub shipping_method: Option<String>,
    /// With `shipping_method: pickup`: the location (offering pickup) the customer collects from;
    /// every line is reserved there.
    pub pickup_location_id: Option<i64>,
    pub lines: Vec<SkuQuantity>,
    /// Discount codes (at most five); a code that does not apply refuses the order with the
    /// reason, unless `skip_invalid_codes` is set.
    pub discount_codes: Option<Vec<String>>,
    /// Place the order without the codes that do not apply (each shows in
    /// `discounts_not_applied` with its reason) instead of refusing it.
    pub skip_invalid_codes: Option<bool>,
    pub note: Option<String>,
    /// Endless aisle: the boutique where the sale was made, whichever location ships it.
    pub origin_location_id: Option<i64>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct Order {
    pub id: i64,
    pub number: i64,
    /// The number as staff say it: `#1001`.
    pub name: String,
    pub channel_id: i64,
    pub customer: OrderCustomer,
    pub currency: String,
    /// `open`, `closed` or `cancelled`.
    pub status: String,
    pub payment_status: String,
    pub fulfillment_status: String,
    pub subtotal: Money,
    /// What promotions took off the lines (each line's `discount` is its share).
    pub discounts: Money,
    /// The promotions the order got, each with what it took off.
    pub discount_applications: Vec<crate::promotions::apply::DiscountApplication>,
    /// Codes and near-miss automatic promotions that did not apply, with the reason.
    pub discounts_not_applied: Vec<crate::promotions::apply::DiscountNotApplied>,
    pub shipping: Money,
    pub tax: Money,
    /// The prices (and shipping price) hold the tax, which was extracted from them:
    /// `total = subtotal - discounts + shipping`. Otherwise the tax was added on top:
    /// `total = subtotal - discounts + shipping + tax`.
    pub prices_include_tax: bool,
    pub total: Money,
    pub paid: Money,
    pub refunded: Money,
    /// What the customer owes for what they keep: the total, less the value of units received
    /// back, less concessions (refunds beyond what the customer was owed).
    pub owed: Money,
    /// `paid - refunded - owed`. Positive: the store owes the customer (a refund is due);
    /// negative: the customer owes the store (a capture is due); zero: settled.
    pub balance: Money,
    pub shipping_method: String,
    pub shipping_address: Address,
    pub note: Option<String>,
    pub lines: Vec<OrderLine>,
    pub sourcing: Sourcing,
    /// Shipments, oldest first.
    pub fulfillments: Vec<Fulfillment>,
    /// Set while the order is held: it cannot ship until released.
    pub hold: Option<OrderHold>,
    /// When the order is promised to ship, from the channel's handling time.
    pub ship_by: Option<String>,
    /// Click and collect: where, by when, and the handover.
    pub pickup: Option<Pickup>,
    pub placed_at: String,
    pub updated_at: String,
    pub cancelled_at: Option<String>,
    pub cancel_reason: Option<String>,
    /// Endless aisle: the boutique that made the sale.
    pub origin_location_id: Option<i64>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct OrderCustomer {
    pub id: i64,
    pub email: String,
    pub name: String,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct OrderLine {
    pub id: i64,
    pub line_no: i64,
    pub variant_id: i64,
    pub sku: String,
    pub title: String,
    pub quantity: i64,
    pub unit_price: Money,
    pub discount: Money,
    pub tax: Money,
    /// Units received back on returns.
    pub returned_quantity: i64,
    /// Units refunded by line.
    pub refunded_quantity: i64,
    /// Set on lines an exchange added: the return they replace.
    pub exchange_return_id: Option<i64>,
    /// Where the units are reserved, and why (see `sourcing`).
    pub allocations: Vec<Allocation>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct Allocation {
    pub location_id: i64,
    pub quantity: i64,
    /// Units promised beyond stock (`continue` variants).
    pub backordered: i64,
    /// False once the reservation is released (cancelled or shipped).
    pub live: bool,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct Sourcing {
    pub strategy: String,
    pub reason: String,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct Fulfillment {
    pub id: i64,
    pub location_id: i64,
    /// `shipped` or `delivered`.
    pub status: String,
    pub carrier: Option<String>,
    pub service: Option<String>,
    pub tracking_number: Option<String>,
    pub tracking_url: Option<String>,
    pub lines: Vec<FulfillmentLine>,
    pub shipped_at: String,
    pub delivered_at: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct FulfillmentLine {
    pub order_line_id: i64,
    pub quantity: i64,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct Return {
    pub id: i64,
    pub order_id: i64,
    /// `requested`, `partially_received`, `received` or `cancelled`.
    pub status: String,
    pub label_carrier: Option<String>,
    pub label_tracking: Option<String>,
    pub note: Option<String>,
    pub lines: Vec<ReturnLine>,
    /// An exchange: the order lines it added in place of the returned ones.
    pub exchange: bool,
    pub exchange_line_ids: Vec<i64>,
    /// Value of the new lines less value of the returned units: positive means the customer
    /// pays the difference, negative that they get it back (see the order's `balance`).
    pub price_difference: Money,
    pub created_by: String,
    pub created_at: String,
    pub received_at: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct ReturnLine {
    pub order_line_id: i64,
    pub sku: String,
    pub quantity: i64,
    /// `damaged`, `defective`, `wrong_size`, `wrong_item`, `not_as_described`, `changed_mind`, `late` or `other`.
    pub reason: String,
    pub received_quantity: i64,
    pub restocked: i64,
    pub unavailable: i64,
    pub written_off: i64,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct NewReturn {
    pub lines: Vec<NewReturnLine>,
    /// An exchange: the new lines sent in place of the returned ones, sourced and reserved now.
    pub exchange_lines: Option<Vec<SkuQuantity>>,
    pub label_carrier: Option<String>,
    pub label_tracking: Option<String>,
    pub note: Option<String>,
}

#[derive(Deserialize, Serialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct NewReturnLine {
    pub line_id: i64,
    pub quantity: i64,
    pub reason: String,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct ReceiveReturn {
    pub lines: Vec<ReceivedLine>,
}

#[derive(Deserialize, Serialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct ReceivedLine {
    pub line_id: i64,
    pub quantity: i64,
    /// `restock` (sellable again at `location_id`, ledger `return_restock`), `unavailable`
    /// (on hand at `location_id` but not sellable) or `write_off` (discarded: no stock change).
    pub disposition: String,
    /// Where the units go back; required for `restock` and `unavailable`.
    pub location_id: Option<i64>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct Pickup {
    pub location_id: i64,
    /// Set when the order is ready: not collected by then, it is cancelled and its stock released.
    pub deadline: Option<String>,
    pub picked_up_at: Option<String>,
    /// Who handed it over.
    pub picked_up_by: Option<String>,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct PickedUp {
    /// The staff member who handed the order over.
    pub handed_over_by: String,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct OrderHold {
    /// `fraud_review`, `address_problem`, `customer_request`, `payment_issue` or `other`.
    pub reason: String,
    pub note: Option<String>,
    pub held_at: String,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct HoldOrder {
    /// `fraud_review`, `address_problem`, `customer_request`, `payment_issue` or `other`.
    pub reason: String,
    pub note: Option<String>,
}

/// What to pick at a location: units per SKU across orders, with the orders that need them.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct PickList {
    pub location_id: i64,
    pub generated_at: String,
    /// Orders on this list (open, not on hold, with units reserved here), oldest first.
    pub order_numbers: Vec<i64>,
    pub items: Vec<PickItem>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct PickItem {
    /// Where to pick it; items come in bin order, those without a bin last.
    pub bin: Option<String>,
    pub sku: String,
    pub title: String,
    pub quantity: i64,
    pub orders: Vec<PickOrder>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct PickOrder {
    pub order_id: i64,
    pub number: i64,
    pub line_id: i64,
    pub quantity: i64,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct ShipOrder {
    /// Where the units leave from; they must be reserved there.
    pub location_id: i64,
    /// Lines and quantities to ship; everything reserved at the location when absent.
    pub lines: Option<Vec<ShipLine>>,
    pub carrier: Option<String>,
    pub service: Option<String>,
    pub tracking_number: Option<String>,
    pub tracking_url: Option<String>,
}

#[derive(Deserialize, Serialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct ShipLine {
    pub line_id: i64,
    pub quantity: i64,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RefundOrder {
    /// Minor units; at most what was paid less what was already refunded. Give an amount, or
    /// lines and/or shipping to have the amount computed.
    pub amount: Option<i64>,
    /// Refund these units at what they were sold for (price less discount plus tax).
    pub lines: Option<Vec<RefundLine>>,
    /// Refund the shipping charge (with its tax), once.
    pub shipping: Option<bool>,
    /// Why, in a word or two: `damaged`, `late`, `goodwill`, ...
    pub reason: String,
    pub note: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct OrderEvent {
    pub id: i64,
    pub kind: String,
    pub message: String,
    pub actor: String,
    pub created_at: String,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct CancelOrder {
    pub reason: Option<String>,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RecordPayment {
    /// `authorized`, `paid` or `voided`.
    pub status: String,
    /// Minor units. Pending or authorized to paid: the order total. On a paid order whose balance
    /// is negative (an edit or exchange added value), `paid` captures what is due (all of it by
    /// default, or this amount).
    pub amount: Option<i64>,
    /// The gateway's reference.
    pub reference: Option<String>,
}

// ----------------------------------------------------------------------------------------------
// Staff, tokens and audit

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: String,
    pub active: bool,
    pub created_at: String,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub role: String,
    /// At least 10 characters; absent for integration accounts that only use API tokens.
    pub password: Option<String>,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub email: String,
    pub password: String,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub name: String,
    /// The user the token acts as (admins only); yourself when absent.
    pub user_id: Option<i64>,
    /// Days until it expires; never when absent.
    pub expires_in_days: Option<i64>,
    /// A write-only ingest key: it may send storefront and email events and nothing else, so a
    /// storefront's browser code can hold it.
    #[serde(default)]
    pub ingest: bool,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct ApiToken {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    /// `api` or `session`.
    pub kind: String,
    /// The first characters, to recognise it.
    pub prefix: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct IssuedToken {
    /// The secret: shown this once, stored only as a hash.
    pub token: String,
    pub details: ApiToken,
    pub user: User,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct AuditEntry {
    pub id: i64,
    pub actor_user_id: i64,
    pub actor: String,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    /// What changed: the new values, and the old ones where a value was replaced.
    #[schema(value_type = Object)]
    pub changes: serde_json::Value,
    pub created_at: String,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct CheckReport {
    pub ok: bool,
    pub levels_checked: i64,
    pub violations: Vec<Violation>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct Violation {
    /// `on_hand_ledger`, `unavailable_ledger`, `reserved_reservations`, `negative_available`,
    /// `incoming_transfers`.
    pub rule: String,
    pub sku: String,
    pub location_id: i64,
    /// What the row says.
    pub recorded: i64,
    /// What the rule says it should be.
    pub expected: i64,
    pub message: String,
}

#[derive(Deserialize, Serialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RefundLine {
    pub line_id: i64,
    pub quantity: i64,
}

/// An order edit before shipment: new lines, and new quantities for existing lines (0 removes the
/// unshipped units). Reservations and totals follow in the same transaction.
#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct EditOrder {
    #[serde(default)]
    pub add: Vec<SkuQuantity>,
    #[serde(default)]
    pub change: Vec<LineQuantity>,
    pub reason: Option<String>,
}

#[derive(Deserialize, Serialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct LineQuantity {
    pub line_id: i64,
    /// The line's new quantity: at least what has shipped.
    pub quantity: i64,
}

/// Moves the unshipped units of a line to another location (or re-runs the channel's strategy).
#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct ResourceLine {
    /// Reserve everything unshipped here; leave out to let the channel's strategy choose.
    pub location_id: Option<i64>,
}

/// Sets (or clears, with null) the reorder point of a SKU at a location.
#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct SetReorderPoint {
    pub sku: String,
    pub location_id: i64,
    /// Low stock means `available + incoming <= reorder_point`; null clears it.
    pub reorder_point: Option<i64>,
    /// How many units to order when low.
    pub reorder_quantity: Option<i64>,
    /// The supplier's lead time.
    pub lead_time_days: Option<i64>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct ReorderLevel {
    pub sku: String,
    pub variant_id: i64,
    pub location_id: i64,
    pub location_code: String,
    pub on_hand: i64,
    pub available: i64,
    pub incoming: i64,
    pub reorder_point: Option<i64>,
    pub reorder_quantity: Option<i64>,
    pub lead_time_days: Option<i64>,
    /// `available + incoming <= reorder_point`.
    pub low: bool,
    /// Since when the level has been low.
    pub low_since: Option<String>,
    /// Units to order: the reorder quantity, or enough to get back above the point.
    pub suggested_order: i64,
}

/// Fulfillment time and on-time shipping for orders placed in a period (DOMAIN.md).
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct FulfillmentReport {
    pub from: String,
    pub to: String,
    /// Non-cancelled orders placed in the period that ship (pickup orders excluded).
    pub orders: i64,
    /// Orders whose every unit has shipped.
    pub shipped: i64,
    /// Shipped by their ship-by time.
    pub on_time: i64,
    /// Shipped after their ship-by time, or not shipped and past it.
    pub late: i64,
    /// Not shipped and not yet due.
    pub pending: i64,
    /// `on_time / (on_time + late)`; null when no order is due yet.
    pub on_time_rate: Option<f64>,
    /// Placed to fully shipped, in hours: median and 90th percentile (nearest rank).
    pub median_hours: Option<f64>,
    pub p90_hours: Option<f64>,
}

/// Sets (or clears, with null) where a SKU sits at a location.
#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct SetBin {
    pub sku: String,
    pub location_id: i64,
    /// Up to 64 characters, like `A-03-2`.
    pub bin: Option<String>,
}

/// A note on an order's timeline.
#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct OrderNote {
    pub message: String,
}
