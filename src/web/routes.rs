//! Every route, in one table. Each state-changing route names its GraphQL counterpart or
//! why it has none; the parity test reads this table and the schema, so a new route
//! without a counterpart fails it (DESIGN §5).

use crate::web::handlers::{api, health};
use actix_web::http::Method;
use actix_web::{web, Route};

/// How a route relates to the GraphQL surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parity {
    /// Changes nothing (GET pages, health checks).
    Read,
    /// Changes state; the named GraphQL mutation does the same through the same service.
    Mutation(&'static str),
    /// Changes state but has no GraphQL counterpart, for the reason given (login, logout,
    /// setup, tenant switch, invitation accept: browser-session concerns).
    Exempt(&'static str),
}

pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub parity: Parity,
    pub handler: fn() -> Route,
}

pub fn routes() -> Vec<RouteSpec> {
    vec![
        RouteSpec {
            method: Method::GET,
            path: "/healthz",
            parity: Parity::Read,
            handler: || web::route().to(health::healthz),
        },
        RouteSpec {
            method: Method::GET,
            path: "/readyz",
            parity: Parity::Read,
            handler: || web::route().to(health::readyz),
        },
        RouteSpec {
            method: Method::GET,
            path: "/api/whoami",
            parity: Parity::Read,
            handler: || web::route().to(api::whoami),
        },
    ]
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    for spec in routes() {
        cfg.route(spec.path, (spec.handler)().method(spec.method));
    }
}
