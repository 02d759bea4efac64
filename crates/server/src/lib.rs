//! The Backroom server library: the HTTP layer over `backroom-core`, exposed as a library so that
//! integration tests drive the real router.

pub mod http;
pub mod kpi_view;
pub mod promo_view;
pub mod support_view;
