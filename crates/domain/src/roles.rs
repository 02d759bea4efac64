//! Staff roles and what each may do. The matrix lives here, once; the HTTP layer only asks.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The operations manager: everything, including users and the audit log.
    Admin,
    /// Runs the store day to day: everything but users and the audit log.
    Operations,
    /// Inventory planner: stock, transfers, counts.
    Inventory,
    /// Warehouse and boutique staff: pick, pack, ship.
    Fulfillment,
    /// Customer service: tickets, orders, customers, cancellations and payments, no stock
    /// changes.
    Support,
    /// A support lead: what an agent does, and assigns tickets and sets up the desk (teams,
    /// service-level policies, macros).
    SupportLead,
    /// Marketing: reads catalog, orders and customers.
    Marketing,
    /// Read-only access to everything but users and the audit log.
    Analyst,
    /// A storefront or channel integration: reads catalog and availability, places orders, sends
    /// events and customers' messages.
    Storefront,
    /// A write-only ingest key: sends storefront and email events, nothing else. Never a user's
    /// role: an ingest token acts with it whoever issued it.
    Ingest,
}

pub const ALL_ROLES: [Role; 9] = [
    Role::Admin,
    Role::Operations,
    Role::Inventory,
    Role::Fulfillment,
    Role::Support,
    Role::SupportLead,
    Role::Marketing,
    Role::Analyst,
    Role::Storefront,
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Permission {
    CatalogRead,
    CatalogWrite,
    InventoryRead,
    InventoryWrite,
    OrdersRead,
    OrdersPlace,
    OrdersManage,
    OrdersFulfil,
    CustomersRead,
    /// Editing customers: names, phone, tags, notes, consent, addresses.
    CustomersWrite,
    SettingsWrite,
    UsersAdmin,
    AuditRead,
    /// Reports and KPIs.
    AnalyticsRead,
    /// Ad spend, email campaigns, analytics rebuilds.
    MarketingWrite,
    /// Sending storefront and email events.
    EventsIngest,
    /// Reading tickets and the desk's reports.
    SupportRead,
    /// Working tickets: replies, notes, status, priority, tags, linked orders, taking a ticket.
    SupportWork,
    /// Setting up the desk and assigning tickets to others.
    SupportManage,
    /// Posting customers' messages (inbound email, chat, contact forms) with a write-only key.
    SupportIngest,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operations => "operations",
            Role::Inventory => "inventory",
            Role::Fulfillment => "fulfillment",
            Role::Support => "support",
            Role::SupportLead => "support_lead",
            Role::Marketing => "marketing",
            Role::Analyst => "analyst",
            Role::Storefront => "storefront",
            Role::Ingest => "ingest",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        ALL_ROLES.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether this role may do what `p` names.
    pub fn allows(self, p: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Admin => true,
            Role::Operations => !matches!(p, UsersAdmin | AuditRead),
            Role::Ingest => matches!(p, EventsIngest | SupportIngest),
            Role::Inventory => matches!(
                p,
                CatalogRead | CatalogWrite | InventoryRead | InventoryWrite | OrdersRead
            ),
            Role::Fulfillment => matches!(
                p,
                CatalogRead | InventoryRead | OrdersRead | OrdersFulfil | CustomersRead
            ),
            Role::Support => matches!(
                p,
                CatalogRead
                    | InventoryRead
                    | OrdersRead
                    | OrdersPlace
                    | OrdersManage
                    | CustomersRead
                    | CustomersWrite
                    | SupportRead
                    | SupportWork
            ),
            Role::SupportLead => Role::Support.allows(p) || matches!(p, SupportManage),
            Role::Marketing => matches!(
                p,
                CatalogRead
                    | CatalogWrite
                    | InventoryRead
                    | OrdersRead
                    | CustomersRead
                    | AnalyticsRead
                    | MarketingWrite
            ),
            Role::Analyst => matches!(
                p,
                CatalogRead
                    | InventoryRead
                    | OrdersRead
                    | CustomersRead
                    | AnalyticsRead
                    | SupportRead
            ),
            Role::Storefront => {
                matches!(
                    p,
                    CatalogRead | InventoryRead | OrdersPlace | EventsIngest | SupportIngest
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix() {
        assert!(Role::Admin.allows(Permission::UsersAdmin));
        assert!(!Role::Analyst.allows(Permission::CatalogWrite));
        assert!(!Role::Analyst.allows(Permission::OrdersManage));
        assert!(!Role::Support.allows(Permission::InventoryWrite));
        assert!(Role::Support.allows(Permission::CustomersWrite));
        assert!(!Role::Marketing.allows(Permission::CustomersWrite));
        assert!(Role::Inventory.allows(Permission::InventoryWrite));
        assert!(Role::Fulfillment.allows(Permission::OrdersFulfil));
        assert!(!Role::Support.allows(Permission::OrdersFulfil));
        assert!(!Role::Storefront.allows(Permission::CustomersRead));
        assert!(!Role::Operations.allows(Permission::AuditRead));
        assert!(Role::Analyst.allows(Permission::AnalyticsRead));
        assert!(!Role::Analyst.allows(Permission::MarketingWrite));
        assert!(Role::Ingest.allows(Permission::EventsIngest));
        assert!(!Role::Ingest.allows(Permission::CatalogRead));
        assert!(!Role::Ingest.allows(Permission::AnalyticsRead));
        assert!(Role::Ingest.allows(Permission::SupportIngest));
        assert!(!Role::Ingest.allows(Permission::SupportRead));
        assert!(Role::Support.allows(Permission::SupportWork));
        assert!(!Role::Support.allows(Permission::SupportManage));
        assert!(Role::SupportLead.allows(Permission::SupportManage));
        assert!(Role::SupportLead.allows(Permission::OrdersManage));
        assert!(!Role::SupportLead.allows(Permission::InventoryWrite));
        assert!(Role::Analyst.allows(Permission::SupportRead));
        assert!(!Role::Analyst.allows(Permission::SupportWork));
        assert!(!Role::Marketing.allows(Permission::SupportRead));
        assert!(Role::Storefront.allows(Permission::SupportIngest));
        assert!(!Role::Storefront.allows(Permission::SupportRead));
        assert_eq!(Role::parse("ingest"), None);
        for r in ALL_ROLES {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }
}
