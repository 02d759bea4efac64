//! The storage contract suite: every test runs against SQLite, and against PostgreSQL when
//! `BACKROOM_TEST_PG_URL` is set (CI sets it). Each test gets a fresh database (a new SQLite file,
//! or a new PostgreSQL schema).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod analytics;
mod budgets;
mod catalog;
mod conventions;
mod desk;
mod desk_history;
mod desk_kpis;
mod fulfillment;
mod imports;
mod inventory;
mod jobs;
mod orders;
mod promotion_rules;
mod promotions;
mod returns;
mod storage;
mod support;
mod views;
