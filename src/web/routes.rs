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
        // GraphQL (DESIGN §5). The POST rows are the GraphQL surface itself; parity is
        // between the other routes and the mutations these serve.
        RouteSpec {
            method: Method::POST,
            path: "/graphql",
            parity: Parity::Exempt("the GraphQL endpoint itself"),
            handler: || web::route().to(crate::web::handlers::graphql::execute),
        },
        RouteSpec {
            method: Method::POST,
            path: "/",
            parity: Parity::Exempt(
                "the GraphQL endpoint itself (Prefect 1.x clients post to the bare URL)",
            ),
            handler: || web::route().to(crate::web::handlers::graphql::execute),
        },
        RouteSpec {
            method: Method::GET,
            path: "/graphql",
            parity: Parity::Read,
            handler: || web::route().to(crate::web::handlers::graphql::graphiql),
        },
        RouteSpec {
            method: Method::GET,
            path: "/static/vendor/graphiql-3.8.3.min.js",
            parity: Parity::Read,
            handler: || web::route().to(crate::web::handlers::graphql::graphiql_asset),
        },
        RouteSpec {
            method: Method::GET,
            path: "/static/vendor/graphiql-3.8.3.min.css",
            parity: Parity::Read,
            handler: || web::route().to(crate::web::handlers::graphql::graphiql_asset),
        },
        RouteSpec {
            method: Method::GET,
            path: "/static/vendor/react-18.3.1.production.min.js",
            parity: Parity::Read,
            handler: || web::route().to(crate::web::handlers::graphql::graphiql_asset),
        },
        RouteSpec {
            method: Method::GET,
            path: "/static/vendor/react-dom-18.3.1.production.min.js",
            parity: Parity::Read,
            handler: || web::route().to(crate::web::handlers::graphql::graphiql_asset),
        },
        RouteSpec {
            method: Method::GET,
            path: "/static/keyward-graphiql.js",
            parity: Parity::Read,
            handler: || web::route().to(crate::web::handlers::graphql::graphiql_asset),
        },
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
