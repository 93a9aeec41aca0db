//! The dashboard in a real Chromium, driven over WebDriver (fantoccini + Debian's
//! chromedriver) against the real server on port 0. Without a chromedriver the tests say
//! they were skipped; with `CI=true` they fail instead.

mod allow_list;
mod driver;
mod flows;
mod graphiql;
mod key_table;
mod keyboard;
mod oidc;
mod pages;
mod recovery;
mod rotation;
mod team;
mod two_factor;

pub use driver::{ada_in_two_tenants, row_of, Chrome, Page};
