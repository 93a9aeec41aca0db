//! Keyward's core: storage (`db`), the use cases (`services`), configuration, telemetry and
//! the framework-free error. No web framework, template engine or GraphQL library may be
//! named here (docs/ARCHITECTURE.md); the surfaces in `keyward-web` ask these services.

/// The domain crate under its old path, so `crate::domain::…` reads as it did before the
/// split.
pub use keyward_domain as domain;

pub mod config;
pub mod db;
pub mod error;
pub mod services;
pub mod telemetry;
