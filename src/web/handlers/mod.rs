pub mod api;
pub mod assets;
pub mod health;
pub mod password;
pub mod setup;
pub mod sign_in;
pub mod tenant;
pub mod user_api_keys;
