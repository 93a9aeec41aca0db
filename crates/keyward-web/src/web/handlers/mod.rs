pub mod api;
pub mod assets;
pub mod form_answer;
pub mod graphql;
pub mod health;
pub mod key_allowed_ips;
pub mod key_creation;
pub mod key_dependents;

pub mod key_lifecycle;
pub mod key_list;
pub mod list_page;

pub mod metrics;
pub mod oidc;

pub mod notifications;
pub mod password;
pub mod recovery;
pub mod secret_scanning;
pub mod setup;
pub mod sign_in;
pub mod team;
pub mod tenant;
pub mod two_factor;
pub mod user_api_keys;
