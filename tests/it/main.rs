//! The one integration test binary (each extra binary costs a link on a 2-core machine).
//! Every area is a module; every test runs on SQLite and on PostgreSQL.

mod support;

mod agents;
mod api_keys;
mod audit_sign_ins;
mod browser;
mod cli;
mod client;
mod connections;
mod dashboard;
mod foundation;
mod graphql;
mod invitation_creators;
mod key_leaks;
mod key_reads;
mod key_role_recheck;
mod password_hashing;

mod key_notices;
mod lifecycle;
mod lifecycle_pages;
mod lifecycle_policy;

mod mail;
mod oidc;

mod ops;
mod permissions;
mod recovery;
mod reliability;
mod request_bounds;
mod request_cost;
mod revocation;
mod security;
mod security_files;
mod security_tenants;
mod session_ended;
mod session_rotation;
mod stored_vocabulary;
mod team;
mod team_pages;
mod two_factor;
mod unbounded;
mod unbounded_team;
mod webhooks;
