//! Row types, their `New*` insert structs and the queries beside them (crates.io style).
//! Queries here are plain data access; the rules live in `services/`.

pub mod account;
pub mod agent;
pub mod api_key;
pub mod api_key_client;

pub mod api_key_batch;

pub mod api_key_ip;
pub mod api_key_list;
pub mod api_key_merge;
pub mod audit_event;
pub mod housekeeping;
pub mod invitation;
pub mod key_lineage;
pub mod key_notice;
pub mod key_policy;
pub mod membership;
pub mod oidc;
pub mod outbox;
pub mod paging;
pub mod password_reset;
pub mod session;
pub mod sign_in;
pub mod team_lists;
pub mod tenant;
pub mod two_factor;
pub mod webhook;

pub use account::Account;
pub use api_key::ApiKey;
pub use audit_event::AuditEvent;
pub use invitation::Invitation;
pub use membership::Membership;
pub use outbox::OutboxRow;
pub use session::SessionRow;
pub use tenant::Tenant;
