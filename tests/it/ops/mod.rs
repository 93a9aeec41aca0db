//! Operating Keyward (issue 16): graceful shutdown, backups, metrics, per-key IP allow-lists.

mod backup;
mod ip_allow;
mod ip_allow_pages;
pub(crate) mod metrics;
mod request_ids;
mod shutdown;
