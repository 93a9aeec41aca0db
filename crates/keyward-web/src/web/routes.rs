//! Every route, in one table. Each state-changing route names its GraphQL counterpart or
//! why it has none; the parity test reads this table and the schema, so a new route
//! without a counterpart fails it (DESIGN §5).

use crate::web::handlers::team::{
    audit_log, invitations, join, members, security, service_account_key_allowed_ips,
    service_account_key_rotation, service_account_keys, service_account_page, service_accounts,
    settings, team_sso, team_two_factor, webhooks,
};
use crate::web::handlers::{
    api, assets, graphql, health, key_allowed_ips, key_lifecycle, metrics, notifications, oidc,
    password, recovery, secret_scanning, setup, sign_in, team, tenant, two_factor, user_api_keys,
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

// Why these routes change state with no GraphQL counterpart (browser-session concerns).
const GRAPHQL_ITSELF: &str = "the GraphQL endpoint itself";
const GRAPHQL_BARE_URL: &str =
    "the GraphQL endpoint itself (Prefect 1.x clients post to the bare URL)";
const FIRST_RUN: &str =
    "first-run setup: creates the first tenant and admin once, before any account or key exists";
const SIGN_IN: &str = "signing in starts a browser session; API callers present a key";
const RECOVERY: &str =
    "account recovery: a person who cannot sign in asks for a reset link or sets a new password with one; API callers present a key";
const ADMIN_RESET_LINK: &str =
    "an admin's password reset link: dashboard only, so a leaked API key cannot take over a person's account";
const SIGN_OUT: &str = "signing out ends a browser session; API keys have none";
const SIGN_IN_CODE: &str =
    "signing in: the two-factor code step of a pending sign-in; API callers present a key";
const SSO_LINKS: &str =
    "links to an identity provider are the browser sign-in's: a person removes theirs signed in (operators: `keyward admin remove-sso-link`), and an API key must not change how its owner signs in";
const TWO_FACTOR: &str =
    "two-factor guards the browser sign-in: a person manages it signed in, and an API key must not turn it on or off";
const TENANT_SWITCH: &str =
    "tenant switch: a browser-session preference; a key serves exactly one tenant";
const JOIN: &str =
    "invitation accept: a signed-in person joins with a one-time link; keys serve one tenant and cannot join others";
const SECRET_SCANNING: &str =
    "GitLab's Token Revocation API: a self-managed GitLab reports keys it found, with a pre-shared token; it is not a Keyward key's caller";
const FOUND_KEY: &str =
    "revoking a found key by its value: incident response on the dashboard; machines report found keys to the revocation API, and a key's holder revokes it with delete_api_key";
const JOIN_NEW_ACCOUNT: &str =
    "invitation accept with a new account: a person signs up and joins in the browser";

/// One row of the table: `route!(METHOD "path" => handler, parity)`.
macro_rules! route {
    ($method:ident $path:literal => $handler:path, $parity:expr) => {
        RouteSpec {
            method: Method::$method,
            path: $path,
            parity: $parity,
            handler: || web::route().to($handler),
        }
    };
}

#[rustfmt::skip]
pub fn routes() -> Vec<RouteSpec> {
    use Parity::{Exempt, Mutation, Read};
    vec![
        // GraphQL (DESIGN §5). The POST rows are the GraphQL surface itself; parity is
        // between the other routes and the mutations these serve.
        route!(POST "/graphql"                                                          => graphql::execute,                                  Exempt(GRAPHQL_ITSELF)),
        route!(POST "/"                                                                 => graphql::execute,                                  Exempt(GRAPHQL_BARE_URL)),
        route!(GET  "/graphql"                                                          => graphql::graphiql,                                 Read),
        route!(GET  "/healthz"                                                          => health::healthz,                                   Read),
        route!(GET  "/readyz"                                                           => health::readyz,                                    Read),
        route!(GET  "/metrics"                                                          => metrics::metrics,                                  Read),
        route!(GET  "/api/whoami"                                                       => api::whoami,                                       Read),
        route!(GET  "/api/secret-scanning/gitlab/v1/revocable_token_types"              => secret_scanning::revocable_token_types,            Read),
        route!(POST "/api/secret-scanning/gitlab/v1/revoke_tokens"                      => secret_scanning::revoke_tokens,                    Exempt(SECRET_SCANNING)),
        // ---- the dashboard (issue 4) ----
        route!(GET  "/"                                                                 => sign_in::home,                                     Read),
        route!(GET  "/static/{path:.*}"                                                 => assets::asset,                                     Read),
        route!(GET  "/favicon.ico"                                                      => assets::favicon,                                   Read),
        route!(GET  "/setup"                                                            => setup::setup_page,                                 Read),
        route!(POST "/setup"                                                            => setup::complete,                                   Exempt(FIRST_RUN)),
        route!(GET  "/login"                                                            => sign_in::login_page,                               Read),
        route!(POST "/login"                                                            => sign_in::login,                                    Exempt(SIGN_IN)),
        route!(GET  "/sign-in/oidc"                                                     => oidc::start,                                       Read),
        route!(GET  "/sign-in/oidc/callback"                                            => oidc::callback,                                    Read),
        route!(GET  "/sign-in/oidc/link"                                                => oidc::link_form,                                   Read),
        route!(POST "/sign-in/oidc/link"                                                => oidc::link,                                        Exempt(SIGN_IN)),
        route!(GET  "/forgot-password"                                                  => recovery::forgot_form,                             Read),
        route!(POST "/forgot-password"                                                  => recovery::forgot,                                  Exempt(RECOVERY)),
        route!(GET  "/reset-password"                                                   => recovery::reset_form,                              Read),
        route!(POST "/reset-password"                                                   => recovery::reset,                                   Exempt(RECOVERY)),
        route!(GET  "/reset-password/{token}"                                           => recovery::open_link,                               Read),
        route!(GET  "/login/two-factor"                                                 => two_factor::code_form,                             Read),
        route!(POST "/login/two-factor"                                                 => two_factor::submit_code,                           Exempt(SIGN_IN_CODE)),
        route!(POST "/logout"                                                           => sign_in::logout,                                   Exempt(SIGN_OUT)),
        route!(POST "/tenant"                                                           => tenant::switch,                                    Exempt(TENANT_SWITCH)),
        route!(GET  "/user"                                                             => user_api_keys::home,                               Read),
        route!(GET  "/user/api-keys"                                                    => user_api_keys::list,                               Read),
        route!(POST "/user/api-keys"                                                    => user_api_keys::create,                             Mutation("create_api_key")),
        route!(GET  "/user/api-keys/new"                                                => user_api_keys::new_form,                           Read),
        route!(GET  "/user/api-keys/{id}/delete"                                        => user_api_keys::delete_form,                        Read),
        route!(POST "/user/api-keys/{id}/delete"                                        => user_api_keys::delete,                             Mutation("delete_api_key")),
        route!(GET  "/user/api-keys/{id}/rotate"                                        => key_lifecycle::rotate_form,                        Read),
        route!(POST "/user/api-keys/{id}/rotate"                                        => key_lifecycle::rotate,                             Mutation("rotate_api_key")),
        route!(GET  "/user/api-keys/{id}/allowed-ips"                                   => key_allowed_ips::allowed_ips_form,                 Read),
        route!(POST "/user/api-keys/{id}/allowed-ips"                                   => key_allowed_ips::set_allowed_ips,                  Mutation("set_api_key_allowed_ips")),
        route!(GET  "/user/password"                                                    => password::page_get,                                Read),
        route!(POST "/user/password"                                                    => password::change,                                  Mutation("change_password")),
        route!(GET  "/user/notifications"                                               => notifications::show,                               Read),
        route!(POST "/user/notifications"                                               => notifications::set,                                Mutation("set_notification")),
        route!(GET  "/user/two-factor"                                                  => two_factor::show,                                  Read),
        route!(GET  "/user/single-sign-on"                                              => oidc::links,                                       Read),
        route!(POST "/user/single-sign-on/remove"                                       => oidc::unlink,                                      Exempt(SSO_LINKS)),
        route!(POST "/user/two-factor/enable"                                           => two_factor::enable,                                Exempt(TWO_FACTOR)),
        route!(POST "/user/two-factor/recovery-codes"                                   => two_factor::regenerate_recovery_codes,             Exempt(TWO_FACTOR)),
        route!(POST "/user/two-factor/disable"                                          => two_factor::disable,                               Exempt(TWO_FACTOR)),
        // ---- Team pages (issue 5): every one acts on the tenant in its URL ----
        route!(GET  "/team"                                                             => team::current_home,                                Read),
        route!(GET  "/team/{page}"                                                      => team::current,                                     Read),
        route!(GET  "/t/{slug}"                                                         => team::home,                                        Read),
        route!(GET  "/t/{slug}/team"                                                    => team::home,                                        Read),
        route!(GET  "/t/{slug}/team/service-accounts"                                   => service_accounts::list,                            Read),
        route!(GET  "/t/{slug}/team/service-accounts/new"                               => service_accounts::new_form,                        Read),
        route!(POST "/t/{slug}/team/service-accounts"                                   => service_accounts::create,                          Mutation("create_service_account")),
        route!(GET  "/t/{slug}/team/service-accounts/{sa_id}"                           => service_account_page::show,                        Read),
        route!(POST "/t/{slug}/team/service-accounts/{sa_id}/rename"                    => service_account_page::rename,                      Mutation("rename_service_account")),
        route!(POST "/t/{slug}/team/service-accounts/{sa_id}/role"                      => service_account_page::change_role,                 Mutation("change_member_role")),
        route!(GET  "/t/{slug}/team/service-accounts/{sa_id}/remove"                    => service_account_page::remove_form,                 Read),
        route!(POST "/t/{slug}/team/service-accounts/{sa_id}/remove"                    => service_account_page::remove,                      Mutation("remove_service_account")),
        route!(GET  "/t/{slug}/team/service-accounts/{sa_id}/api-keys"                  => service_account_keys::keys,                        Read),
        route!(GET  "/t/{slug}/team/service-accounts/{sa_id}/api-keys/new"              => service_account_keys::new_key_form,                Read),
        route!(POST "/t/{slug}/team/service-accounts/{sa_id}/api-keys"                  => service_account_keys::create_key,                  Mutation("create_api_key")),
        route!(GET  "/t/{slug}/team/service-accounts/{sa_id}/api-keys/{id}/delete"      => service_account_keys::delete_key_form,             Read),
        route!(POST "/t/{slug}/team/service-accounts/{sa_id}/api-keys/{id}/delete"      => service_account_keys::delete_key,                  Mutation("delete_api_key")),
        route!(GET  "/t/{slug}/team/service-accounts/{sa_id}/api-keys/{id}/rotate"      => service_account_key_rotation::rotate_key_form,     Read),
        route!(POST "/t/{slug}/team/service-accounts/{sa_id}/api-keys/{id}/rotate"      => service_account_key_rotation::rotate_key,          Mutation("rotate_api_key")),
        route!(GET  "/t/{slug}/team/service-accounts/{sa_id}/api-keys/{id}/allowed-ips" => service_account_key_allowed_ips::allowed_ips_form, Read),
        route!(POST "/t/{slug}/team/service-accounts/{sa_id}/api-keys/{id}/allowed-ips" => service_account_key_allowed_ips::set_allowed_ips,  Mutation("set_api_key_allowed_ips")),
        route!(GET  "/t/{slug}/team/members"                                            => members::list,                                     Read),
        route!(POST "/t/{slug}/team/members/{account_id}/role"                          => members::change_role,                              Mutation("change_member_role")),
        route!(GET  "/t/{slug}/team/members/{account_id}/remove"                        => members::remove_form,                              Read),
        route!(POST "/t/{slug}/team/members/{account_id}/remove"                        => members::remove,                                   Mutation("remove_member")),
        route!(POST "/t/{slug}/team/members/{account_id}/reset-link"                    => recovery::create_link,                             Exempt(ADMIN_RESET_LINK)),
        route!(GET  "/t/{slug}/team/invitations/new"                                    => invitations::new_form,                             Read),
        route!(POST "/t/{slug}/team/invitations"                                        => invitations::create,                               Mutation("create_invitation")),
        route!(POST "/t/{slug}/team/invitations/{invitation_id}/revoke"                 => invitations::revoke,                               Mutation("revoke_invitation")),
        route!(GET  "/t/{slug}/team/settings"                                           => settings::show,                                    Read),
        route!(POST "/t/{slug}/team/settings"                                           => settings::save,                                    Mutation("set_tenant_key_policy")),
        route!(POST "/t/{slug}/team/settings/two-factor"                                => team_two_factor::save,                             Mutation("set_tenant_two_factor_required")),
        route!(POST "/t/{slug}/team/settings/single-sign-on"                            => team_sso::save,                                    Mutation("set_tenant_sso_required")),
        route!(GET  "/t/{slug}/team/security"                                           => security::show,                                    Read),
        route!(POST "/t/{slug}/team/security/revoke-key"                                => security::revoke_found_key,                        Exempt(FOUND_KEY)),

        route!(GET  "/t/{slug}/team/webhooks"                                           => webhooks::show,                                    Read),
        route!(POST "/t/{slug}/team/webhooks"                                           => webhooks::create,                                  Mutation("create_webhook")),
        route!(POST "/t/{slug}/team/webhooks/{id}/delete"                               => webhooks::delete,                                  Mutation("delete_webhook")),
        route!(POST "/t/{slug}/team/webhooks/{id}/rotate"                               => webhooks::rotate,                                  Mutation("rotate_webhook_secret")),
        route!(POST "/t/{slug}/team/webhooks/{id}/enable"                               => webhooks::enable,                                  Mutation("update_webhook")),
        route!(POST "/t/{slug}/team/webhooks/deliveries/{id}/redeliver"                 => webhooks::redeliver,                               Mutation("redeliver_webhook")),
        route!(GET  "/t/{slug}/team/audit-log"                                          => audit_log::page,                                   Read),
        route!(GET  "/t/{slug}/team/audit-log/export"                                   => audit_log::export,                                 Read),
        route!(GET  "/t/{slug}/join/{token}"                                            => join::page,                                        Read),
        route!(POST "/t/{slug}/join/{token}"                                            => join::accept,                                      Exempt(JOIN)),
        route!(POST "/t/{slug}/join/{token}/account"                                    => join::sign_up,                                     Exempt(JOIN_NEW_ACCOUNT)),
    ]
}

/// The surfaces that authenticate by API key only and never read the session cookie:
/// GraphQL (`/graphql`, and `POST /` where Prefect 1.x clients post), `/api/*`, and the
/// probes and metrics. They run outside the session and CSRF middlewares (DESIGN §4), so a
/// cookie a browser sends along (GraphiQL does) loads no session; every other route is
/// the dashboard's and keeps them.
pub fn authenticates_by_key(method: &Method, path: &str) -> bool {
    path == "/graphql"
        || path.starts_with("/graphql/")
        || (path == "/" && method == Method::POST)
        || path.starts_with("/api/")
        || matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// Whether a route runs outside the session and CSRF middlewares: the key-authenticated
/// ones, and the static files (GraphiQL's among them), which need no session, so a cookie
/// the browser sends along loads none and a session-store outage leaves them answering.
pub fn runs_without_session(method: &Method, path: &str) -> bool {
    authenticates_by_key(method, path)
        || (method == Method::GET || method == Method::HEAD)
            && (path.starts_with("/static/") || path == "/favicon.ico")
}

/// Registers the routes that run without a session (`surface = Sessionless`) or the
/// dashboard's.
pub fn configure(cfg: &mut web::ServiceConfig, surface: Surface) {
    for spec in routes() {
        if (surface == Surface::Sessionless) != runs_without_session(&spec.method, spec.path) {
            continue;
        }
        // HEAD answers wherever GET does (actix sends the headers without the body).
        if spec.method == Method::GET {
            cfg.route(spec.path, (spec.handler)().method(Method::HEAD));
        }
        cfg.route(spec.path, (spec.handler)().method(spec.method));
    }
}

/// Which routes `configure` registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// GraphQL, `/api/*`, probes, static files: see `runs_without_session`.
    Sessionless,
    /// Everything else: pages and forms, behind the session and CSRF middlewares.
    Dashboard,
}
