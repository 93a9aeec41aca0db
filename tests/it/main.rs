//! The one integration test binary (each extra binary costs a link on a 2-core machine).
//! Every area is a module; every test runs on SQLite and on PostgreSQL.

mod support;

mod api_keys;
mod cli;
mod dashboard;
mod foundation;
mod graphql;
mod permissions;
mod revocation;
mod team;
mod team_pages;
