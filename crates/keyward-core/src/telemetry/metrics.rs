//! Prometheus metrics (`GET /metrics`, off unless a metrics token is set). One registry
//! for the process, so the services can count what they do without knowing about HTTP.
//! Requests are labelled by route *pattern* (`/t/{slug}/team/members`), never the raw
//! path, which would grow without bound and can carry one-time tokens.
//!
//! Cost on the key path: the services' counters are single atomic increments of
//! children resolved once; requests are counted only while metrics are on.

use crate::db::Pool;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use std::sync::LazyLock;
use std::time::Duration;

/// Why an API request failed authentication (the `reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Malformed,
    UnknownOrRevoked,
    Expired,
    TenantMismatch,
    IpNotAllowed,
}

impl AuthFailure {
    const ALL: [AuthFailure; 5] = [
        AuthFailure::Malformed,
        AuthFailure::UnknownOrRevoked,
        AuthFailure::Expired,
        AuthFailure::TenantMismatch,
        AuthFailure::IpNotAllowed,
    ];

    fn label(self) -> &'static str {
        match self {
            AuthFailure::Malformed => "malformed",
            AuthFailure::UnknownOrRevoked => "unknown_or_revoked",
            AuthFailure::Expired => "expired",
            AuthFailure::TenantMismatch => "tenant_mismatch",
            AuthFailure::IpNotAllowed => "ip_not_allowed",
        }
    }
}

struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    auth_failures: [IntCounter; 5],
    keys_created: IntCounter,
    keys_revoked: IntCounter,
    sign_in_failures: IntCounter,
    password_checks: IntCounter,
    bookkeeping_dropped: IntCounter,
    pool_connections: IntGaugeVec,
    outbox_sent: IntCounterVec,
    outbox_send_failures: IntCounterVec,
    outbox_given_up: IntCounterVec,
    outbox_depth: IntGaugeVec,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let registry = Registry::new();
    let http_requests = IntCounterVec::new(
        Opts::new(
            "keyward_http_requests_total",
            "HTTP requests answered, by route pattern, method and status",
        ),
        &["route", "method", "status"],
    )
    .expect("valid metric");
    let http_duration = HistogramVec::new(
        HistogramOpts::new(
            "keyward_http_request_duration_seconds",
            "Time to answer an HTTP request, by route pattern",
        )
        .buckets(vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ]),
        &["route"],
    )
    .expect("valid metric");
    let auth_failures_vec = IntCounterVec::new(
        Opts::new(
            "keyward_auth_failures_total",
            "API requests refused at authentication, by reason",
        ),
        &["reason"],
    )
    .expect("valid metric");
    let auth_failures = AuthFailure::ALL.map(|r| auth_failures_vec.with_label_values(&[r.label()]));
    let counter = |name: &str, help: &str| IntCounter::new(name, help).expect("valid metric");
    let keys_created = counter("keyward_api_keys_created_total", "API keys created");
    let keys_revoked = counter(
        "keyward_api_keys_revoked_total",
        "API keys revoked (deleted), whatever the reason",
    );
    let sign_in_failures = counter(
        "keyward_sign_in_failures_total",
        "Dashboard sign-ins refused: wrong email or password, or too many attempts",
    );
    let password_checks = counter(
        "keyward_password_checks_total",
        "Passwords verified against a stored hash (argon2), at sign-in and password change",
    );
    let bookkeeping_dropped = counter(
        "keyward_bookkeeping_dropped_total",
        "Writes of a key's last use, a client seen or an IP refusal's audit not made because the database was busy",
    );
    let pool_connections = IntGaugeVec::new(
        Opts::new(
            "keyward_db_pool_connections",
            "Database pool connections of this instance, by state (idle, in_use)",
        ),
        &["state"],
    )
    .expect("valid metric");
    let outbox_sent = IntCounterVec::new(
        Opts::new(
            "keyward_outbox_sent_total",
            "Outbox messages this instance delivered (accepted by the SMTP server), by kind",
        ),
        &["kind"],
    )
    .expect("valid metric");
    let outbox_send_failures = IntCounterVec::new(
        Opts::new(
            "keyward_outbox_send_failures_total",
            "Outbox delivery attempts of this instance that failed, by kind",
        ),
        &["kind"],
    )
    .expect("valid metric");
    let outbox_given_up = IntCounterVec::new(
        Opts::new(
            "keyward_outbox_given_up_total",
            "Outbox messages this instance gave up on (last attempt or a permanent refusal), by kind",
        ),
        &["kind"],
    )
    .expect("valid metric");
    let outbox_depth = IntGaugeVec::new(
        Opts::new(
            "keyward_outbox_depth",
            "Outbox rows in the database (all instances), by status: pending (waiting to be sent) or failed (given up, kept a week)",
        ),
        &["status"],
    )
    .expect("valid metric");
    for collector in [
        Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
        Box::new(http_duration.clone()),
        Box::new(auth_failures_vec),
        Box::new(keys_created.clone()),
        Box::new(keys_revoked.clone()),
        Box::new(sign_in_failures.clone()),
        Box::new(password_checks.clone()),
        Box::new(bookkeeping_dropped.clone()),
        Box::new(pool_connections.clone()),
        Box::new(outbox_sent.clone()),
        Box::new(outbox_send_failures.clone()),
        Box::new(outbox_given_up.clone()),
        Box::new(outbox_depth.clone()),
    ] {
        registry
            .register(collector)
            .expect("metric names are unique");
    }
    Metrics {
        registry,
        http_requests,
        http_duration,
        auth_failures,
        keys_created,
        keys_revoked,
        sign_in_failures,
        password_checks,
        bookkeeping_dropped,
        pool_connections,
        outbox_sent,
        outbox_send_failures,
        outbox_given_up,
        outbox_depth,
    }
});

pub fn auth_failure(reason: AuthFailure) {
    METRICS.auth_failures[reason as usize].inc();
}

pub fn api_key_created() {
    METRICS.keys_created.inc();
}

pub fn api_key_revoked() {
    METRICS.keys_revoked.inc();
}

pub fn sign_in_failed() {
    METRICS.sign_in_failures.inc();
}

pub fn password_checked() {
    METRICS.password_checks.inc();
}

pub fn bookkeeping_dropped() {
    METRICS.bookkeeping_dropped.inc();
}

pub fn outbox_sent(kind: &str) {
    METRICS.outbox_sent.with_label_values(&[kind]).inc();
}

pub fn outbox_send_failed(kind: &str) {
    METRICS
        .outbox_send_failures
        .with_label_values(&[kind])
        .inc();
}

pub fn outbox_given_up(kind: &str) {
    METRICS.outbox_given_up.with_label_values(&[kind]).inc();
}

/// Everything in Prometheus' text format, with the pool's gauges read now and the
/// outbox's depth (pending, failed) as just counted (`None`: the database did not answer;
/// the gauges keep their last values).
pub fn render(pool: &Pool, outbox_depth: Option<(i64, i64)>) -> String {
    if let Some((pending, failed)) = outbox_depth {
        METRICS
            .outbox_depth
            .with_label_values(&["pending"])
            .set(pending);
        METRICS
            .outbox_depth
            .with_label_values(&["failed"])
            .set(failed);
    }
    let state = pool.state();
    let idle = i64::from(state.idle_connections);
    METRICS
        .pool_connections
        .with_label_values(&["idle"])
        .set(idle);
    METRICS
        .pool_connections
        .with_label_values(&["in_use"])
        .set(i64::from(state.connections) - idle);
    let mut out = Vec::new();
    // Encoding metrics we built ourselves into a Vec cannot fail.
    let _ = TextEncoder::new().encode(&METRICS.registry.gather(), &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// Counts and times one answered request, by its route pattern. Called by the request
/// log's middleware (which already knows all of it) only while metrics are on.
pub fn observe_request(route: &str, method: &str, status: u16, elapsed: Duration) {
    METRICS
        .http_requests
        .with_label_values(&[route, method, status_label(status)])
        .inc();
    METRICS
        .http_duration
        .with_label_values(&[route])
        .observe(elapsed.as_secs_f64());
}

/// The status as a label without an allocation for the common ones.
fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        201 => "201",
        204 => "204",
        302 => "302",
        303 => "303",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        409 => "409",
        413 => "413",
        422 => "422",
        429 => "429",
        500 => "500",
        503 => "503",
        s if s < 300 => "2xx",
        s if s < 400 => "3xx",
        s if s < 500 => "4xx",
        _ => "5xx",
    }
}
