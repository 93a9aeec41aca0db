pub mod api;
pub mod graphql;
pub mod health;
