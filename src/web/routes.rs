//! Every route, in one table. Each state-changing route names its GraphQL counterpart or
//! why it has none; the parity test reads this table and the schema, so a new route
//! without a counterpart fails it (DESIGN §5).

use crate::web::handlers::team::{
    audit_log, join, members, service_account_keys, service_accounts, settings,
};
use crate::web::handlers::{
    api, assets, health, key_lifecycle, password, setup, sign_in, team, tenant, user_api_keys,
};
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
            path: "/metrics",
            parity: Parity::Read,
            handler: || web::route().to(crate::web::handlers::metrics::metrics),
        },
        RouteSpec {
            method: Method::GET,
            path: "/api/whoami",
            parity: Parity::Read,
            handler: || web::route().to(api::whoami),
        },
        // ---- the dashboard (issue 4) ----
        RouteSpec {
            method: Method::GET,
            path: "/",
            parity: Parity::Read,
            handler: || web::route().to(sign_in::home),
        },
        RouteSpec {
            method: Method::GET,
            path: "/static/{path:.*}",
            parity: Parity::Read,
            handler: || web::route().to(assets::asset),
        },
        RouteSpec {
            method: Method::GET,
            path: "/favicon.ico",
            parity: Parity::Read,
            handler: || web::route().to(assets::favicon),
        },
        RouteSpec {
            method: Method::GET,
            path: "/setup",
            parity: Parity::Read,
            handler: || web::route().to(setup::setup_page),
        },
        RouteSpec {
            method: Method::POST,
            path: "/setup",
            parity: Parity::Exempt(
                "first-run setup: creates the first tenant and admin once, before any account or key exists",
            ),
            handler: || web::route().to(setup::complete),
        },
        RouteSpec {
            method: Method::GET,
            path: "/login",
            parity: Parity::Read,
            handler: || web::route().to(sign_in::login_page),
        },
        RouteSpec {
            method: Method::POST,
            path: "/login",
            parity: Parity::Exempt("signing in starts a browser session; API callers present a key"),
            handler: || web::route().to(sign_in::login),
        },
        RouteSpec {
            method: Method::POST,
            path: "/logout",
            parity: Parity::Exempt("signing out ends a browser session; API keys have none"),
            handler: || web::route().to(sign_in::logout),
        },
        RouteSpec {
            method: Method::POST,
            path: "/tenant",
            parity: Parity::Exempt(
                "tenant switch: a browser-session preference; a key serves exactly one tenant",
            ),
            handler: || web::route().to(tenant::switch),
        },
        RouteSpec {
            method: Method::GET,
            path: "/user/api-keys",
            parity: Parity::Read,
            handler: || web::route().to(user_api_keys::list),
        },
        RouteSpec {
            method: Method::POST,
            path: "/user/api-keys",
            parity: Parity::Mutation("create_api_key"),
            handler: || web::route().to(user_api_keys::create),
        },
        RouteSpec {
            method: Method::GET,
            path: "/user/api-keys/new",
            parity: Parity::Read,
            handler: || web::route().to(user_api_keys::new_form),
        },
        RouteSpec {
            method: Method::GET,
            path: "/user/api-keys/{id}/delete",
            parity: Parity::Read,
            handler: || web::route().to(user_api_keys::delete_form),
        },
        RouteSpec {
            method: Method::POST,
            path: "/user/api-keys/{id}/delete",
            parity: Parity::Mutation("delete_api_key"),
            handler: || web::route().to(user_api_keys::delete),
        },
        RouteSpec {
            method: Method::GET,
            path: "/user/api-keys/{id}/rotate",
            parity: Parity::Read,
            handler: || web::route().to(key_lifecycle::rotate_form),
        },
        RouteSpec {
            method: Method::POST,
            path: "/user/api-keys/{id}/rotate",
            parity: Parity::Mutation("rotate_api_key"),
            handler: || web::route().to(key_lifecycle::rotate),
        },
        RouteSpec {
            method: Method::GET,
            path: "/user/password",
            parity: Parity::Read,
            handler: || web::route().to(password::page_get),
        },
        RouteSpec {
            method: Method::POST,
            path: "/user/password",
            parity: Parity::Mutation("change_password"),
            handler: || web::route().to(password::change),
        },
        // ---- Team pages (issue 5): every one acts on the tenant in its URL ----
        RouteSpec {
            method: Method::GET,
            path: "/team/{page}",
            parity: Parity::Read,
            handler: || web::route().to(team::current),
        },
        RouteSpec {
            method: Method::GET,
            path: "/t/{slug}/team/service-accounts",
            parity: Parity::Read,
            handler: || web::route().to(service_accounts::list),
        },
        RouteSpec {
            method: Method::GET,
            path: "/t/{slug}/team/service-accounts/new",
            parity: Parity::Read,
            handler: || web::route().to(service_accounts::new_form),
        },
        RouteSpec {
            method: Method::POST,
            path: "/t/{slug}/team/service-accounts",
            parity: Parity::Mutation("create_service_account"),
            handler: || web::route().to(service_accounts::create),
        },
        RouteSpec {
            method: Method::GET,
            path: "/t/{slug}/team/service-accounts/{sa_id}",
            parity: Parity::Read,
            handler: || web::route().to(service_accounts::show),
        },
        RouteSpec {
            method: Method::POST,
            path: "/t/{slug}/team/service-accounts/{sa_id}/rename",
            parity: Parity::Mutation("rename_service_account"),
            handler: || web::route().to(service_accounts::rename),
        },
        RouteSpec {
            method: Method::GET,
            path: "/t/{slug}/team/service-accounts/{sa_id}/remove",
            parity: Parity::Read,
            handler: || web::route().to(service_accounts::remove_form),
        },
        RouteSpec {
            method: Method::POST,
            path: "/t/{slug}/team/service-accounts/{sa_id}/remove",
            parity: Parity::Mutation("remove_service_account"),
            handler: || web::route().to(service_accounts::remove),
        },
        RouteSpec {
            method: Method::GET,
            path: "/t/{slug}/team/service-accounts/{sa_id}/api-keys",
            parity: Parity::Read,
            handler: || web::route().to(service_account_keys::keys),
        },
        RouteSpec {
            method: Method::GET,
            path: "/t/{slug}/team/service-accounts/{sa_id}/api-keys/new",
            parity: Parity::Read,
            handler: || web::route().to(service_account_keys::new_key_form),
        },
        RouteSpec {
            method: Method::POST,
            path: "/t/{slug}/team/service-accounts/{sa_id}/api-keys",
            parity: Parity::Mutation("create_api_key"),
            handler: || web::route().to(service_account_keys::create_key),
        },
        RouteSpec {
            method: Method::GET,
            path: "/t/{slug}/team/service-accounts/{sa_id}/api-keys/{id}/delete",
            parity: Parity::Read,
            handler: || web::route().to(service_account_keys::delete_key_form),
        },
        RouteSpec {
            method: Method::POST,
            path: "/t/{slug}/team/service-accounts/{sa_id}/api-keys/{id}/delete",
            parity: Parity::Mutation("delete_api_key"),
            handler: || web::route().to(service_account_keys::delete_key),
        },
        RouteSpec {
            method: Method::GET,
            path: "/t/{slug}/team/members",
            parity: Parity::Read,
            handler: || web::route().to(members::list),
        },
        RouteSpec {
            method: Method::POST,
            path: "/t/{slug}/team/members/{account_id}/role",
            parity: Parity::Mutation("change_member_role"),
            handler: || web::route().to(members::change_role),
        },
        RouteSpec {
            method: Method::GET,
            path: "/t/{slug}/team/members/{account_id}/remove",
            parity: Parity::Read,
            handler: || web::route().to(members::remove_form),
        },
        RouteSpec {
            method: Method::POST,
            path: "/t/{slug}/team/members/{account_id}/remove",
            parity: Parity::Mutation("remove_member"),
            handler: || web::route().to(members::remove),
        },
        RouteSpec {
            method: Method::GET,
            path: "/t/{slug}/team/invitations/new",
            parity: Parity::Read,
            handler: || web::route().to(members::new_invitation),
        },
        RouteSpec {
            method: Method::POST,
            path: "/t/{slug}/team/invitations",
            parity: Parity::Mutation("create_invitation"),
            handler: || web::route().to(members::create_invitation),
        },
        RouteSpec {
            method: Method::POST,
            path: "/t/{slug}/team/invitations/{invitation_id}/revoke",
            parity: Parity::Mutation("revoke_invitation"),
            handler: || web::route().to(members::revoke_invitation),
        },
        RouteSpec {
            method: Method::GET,
            path: "/t/{slug}/team/settings",
            parity: Parity::Read,
            handler: || web::route().to(settings::show),
        },
        RouteSpec {
            method: Method::POST,
            path: "/t/{slug}/team/settings",
            parity: Parity::Mutation("set_tenant_key_policy"),
            handler: || web::route().to(settings::save),
        },
        RouteSpec {
            method: Method::GET,
            path: "/t/{slug}/team/audit-log",
            parity: Parity::Read,
            handler: || web::route().to(audit_log::page),
        },
        RouteSpec {
            method: Method::GET,
            path: "/t/{slug}/join/{token}",
            parity: Parity::Read,
            handler: || web::route().to(join::page),
        },
        RouteSpec {
            method: Method::POST,
            path: "/t/{slug}/join/{token}",
            parity: Parity::Exempt(
                "invitation accept: a signed-in person joins with a one-time link; keys serve one tenant and cannot join others",
            ),
            handler: || web::route().to(join::accept),
        },
        RouteSpec {
            method: Method::POST,
            path: "/t/{slug}/join/{token}/account",
            parity: Parity::Exempt(
                "invitation accept with a new account: a person signs up and joins in the browser",
            ),
            handler: || web::route().to(join::sign_up),
        },
    ]
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    for spec in routes() {
        // HEAD answers wherever GET does (actix sends the headers without the body).
        if spec.method == Method::GET {
            cfg.route(spec.path, (spec.handler)().method(Method::HEAD));
        }
        cfg.route(spec.path, (spec.handler)().method(spec.method));
    }
}
