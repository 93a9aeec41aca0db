//! Webhooks per tenant (issue 28): endpoints the tenant's admins register, and the events
//! Keyward delivers to them, signed as Standard Webhooks specifies
//! (<https://www.standardwebhooks.com/>).
//!
//! - **Secrets.** `whsec_` + base64 of 32 random bytes, shown once (in the answer that made
//!   or rotated it), stored sealed with the server's keys like two-factor secrets
//!   (`sealing::SealingKeys`: AES-256-GCM under a key derived from the server secret,
//!   bound to the endpoint). After
//!   a rotation both secrets sign for [`ROTATION_OVERLAP`] (two `v1,` signatures).
//! - **Events** are queued by [`enqueue_event`] in the transaction that causes them: a
//!   `webhook_messages` row per endpoint that wants the event (its id is the
//!   `webhook-id` of every attempt, a redelivery too) and an outbox row of kind
//!   `webhook.<event>` (no tenant: webhooks do not count against the tenant's mail quota).
//! - **Delivery** is the outbox's: **at least once** (an instance that dies after the
//!   receiver answered but before it recorded so delivers again, with the same
//!   `webhook-id`, which receivers use to drop duplicates) and **unordered** (retries and
//!   several instances reorder events; receivers order by the payload's `timestamp`).
//!   One attempt per endpoint is in flight at a time (`webhook_endpoints.busy_until`, a
//!   conditional UPDATE every instance respects), and [`DELIVERERS`] deliverers per
//!   instance pass over busy endpoints, so one hanging receiver holds up no other, and
//!   take the least recently served endpoint's oldest due delivery, so every endpoint
//!   with due deliveries gets a turn before any gets a second; failed
//!   attempts are retried with the outbox's doubling back-off, due by the database's
//!   clock; each attempt gets a fresh `webhook-timestamp` (the server's time of that
//!   attempt), a 10 s
//!   limit for the whole exchange, and at most 1 KiB of the answer is read. After
//!   [`DISABLE_AFTER`] deliveries given up in a row the endpoint is disabled and the
//!   tenant's admins are mailed.
//! - **No server-side request forgery.** Each attempt resolves the host once, refuses an
//!   internal address ([`target_allowed`]) unless `--webhook-allow-private-targets`, and
//!   connects to the very address it checked (a resolver that answers only it: no second
//!   lookup). No redirect is followed (a 3xx is a failure), no `*_PROXY` variable is read.

use crate::config::OutboxTiming;
use crate::db::models::webhook::{WebhookAttempt, WebhookEndpoint, WebhookMessage};
use crate::db::models::{Account, Membership, OutboxRow};
use crate::db::{lock_tenant, DbConnection, Pool};
use crate::domain::{new_id, AuditAction, Clock, Role, TenantId};
use crate::error::AppError;
use crate::services::audit::{self, Event};
use crate::services::mail::MailKind;
use crate::services::outbox::{self, Claimed, Recorded};
use crate::services::permissions::{self, Permission};
use crate::services::sealing::SealingKeys;
use crate::services::{transaction, Actor};
use base64::Engine as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};
use time::{Duration, PrimitiveDateTime};

/// Endpoints one tenant may have.
pub const MAX_PER_TENANT: i64 = 10;
/// How long a rotated-out secret still signs.
pub const ROTATION_OVERLAP: Duration = Duration::hours(24);
/// Deliveries given up in a row after which an endpoint is disabled.
pub const DISABLE_AFTER: i32 = 5;
/// The whole attempt: connecting, sending, the answer's head and what is read of its body.
pub const ATTEMPT_LIMIT: StdDuration = StdDuration::from_secs(10);
/// How long resolving the host may take (part of the attempt's limit).
const RESOLVE_AT_MOST: StdDuration = StdDuration::from_secs(3);
/// What is read of an answer's body, at most.
pub const ANSWER_READ_AT_MOST: u64 = 1024;
/// The longest URL accepted.
const MAX_URL_LEN: usize = 2000;
/// Messages and attempts are kept this long for the delivery log, then deleted.
pub const KEPT_FOR: Duration = Duration::days(7);
/// Deliveries shown per endpoint.
pub const RECENT_DELIVERIES: i64 = 20;
/// Attempts shown per delivery at most (the latest).
pub const ATTEMPTS_SHOWN: i64 = 20;
/// Endpoints with due deliveries looked at per claim (the oldest due row of each), least
/// recently served first.
const CLAIM_CANDIDATES: i64 = 32;

macro_rules! events {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// The events a webhook can ask for.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum WebhookEvent { $($variant,)* }

        impl WebhookEvent {
            pub const ALL: &'static [WebhookEvent] = &[$(WebhookEvent::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(WebhookEvent::$variant => $name,)* }
            }
        }
    };
}

events! {
    ApiKeyCreated => "api_key.created",
    ApiKeyRevoked => "api_key.revoked",
    ApiKeyExpiring => "api_key.expiring",
    ApiKeyLeaked => "api_key.leaked",
    ServiceAccountCreated => "service_account.created",
    ServiceAccountRemoved => "service_account.removed",
    MemberAdded => "member.added",
    MemberRemoved => "member.removed",
}

impl WebhookEvent {
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|e| e.as_str() == text)
    }

    /// A list of event names, each known, without repeats, at least one.
    pub fn parse_list(names: &[String]) -> Result<Vec<WebhookEvent>, AppError> {
        let mut events = Vec::new();
        for name in names {
            let event = Self::parse(name.trim()).ok_or_else(|| {
                AppError::invalid(
                    "events",
                    format!(
                        "\"{}\" is not an event Keyward sends; choose among {}",
                        name.chars().take(60).collect::<String>(),
                        Self::ALL
                            .iter()
                            .map(|e| e.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
            if !events.contains(&event) {
                events.push(event);
            }
        }
        if events.is_empty() {
            return Err(AppError::invalid("events", "choose at least one event"));
        }
        Ok(events)
    }
}

fn stored_events(events: &[WebhookEvent]) -> String {
    events
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// A signing secret: `whsec_` + base64. Shown once; `Debug` shows nothing.
pub struct WebhookSecret(String);

impl WebhookSecret {
    fn generate() -> (Self, [u8; 32]) {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes[..]);
        let text = format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        );
        (Self(text), bytes)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

/// What sealing binds a secret to: its endpoint.
fn seal_context(endpoint_id: &str) -> String {
    format!("webhook:{endpoint_id}")
}

/// A URL webhooks may be sent to: `http` or `https`, a host, no user or password, at
/// most 2000 characters. Where it points is checked at each attempt.
pub fn check_url(raw: &str) -> Result<String, AppError> {
    let url = raw.trim();
    let invalid = |why: &str| AppError::invalid("url", why.to_string());
    if url.len() > MAX_URL_LEN {
        return Err(invalid("is longer than 2000 characters"));
    }
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|_| invalid("is not a URL; give one like https://hooks.example.com/keyward"))?;
    match uri.scheme_str() {
        Some("https") | Some("http") => {}
        _ => return Err(invalid("must start with https:// (or http://)")),
    }
    let Some(authority) = uri.authority() else {
        return Err(invalid("names no host"));
    };
    if authority.as_str().contains('@') {
        return Err(invalid("must not hold a user name or password; put credentials in the receiver's checks of the signature instead"));
    }
    if authority.host().is_empty() {
        return Err(invalid("names no host"));
    }
    Ok(url.to_string())
}

/// Whether webhooks may be delivered to `ip` when internal targets are not allowed: not
/// loopback, private (RFC 1918, `fc00::/7`), link-local, shared (`100.64.0.0/10`),
/// "this network" (`0.0.0.0/8`), unspecified, multicast, broadcast or reserved, nor any
/// of those embedded in an IPv4-mapped, IPv4-compatible, NAT64 (`64:ff9b::/96`) or 6to4
/// address.
pub fn target_allowed(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_allowed(v4),
        IpAddr::V6(v6) => v6_allowed(v6),
    }
}

fn v4_allowed(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let refused = ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240;
    !refused
}

fn v6_allowed(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_allowed(v4);
    }
    // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96).
    if s[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified() {
        return v4_allowed(embedded(s[6], s[7]));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return v4_allowed(embedded(s[6], s[7]));
    }
    // IPv4-translated (::ffff:0:a.b.c.d, ::ffff:0:0/96, RFC 2765).
    if s[..6] == [0, 0, 0, 0, 0xffff, 0] {
        return v4_allowed(embedded(s[6], s[7]));
    }
    // 6to4 (2002::/16) carries an IPv4 address in its next 32 bits.
    if s[0] == 0x2002 {
        return v4_allowed(embedded(s[1], s[2]));
    }
    let refused = ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) // local-use NAT64 64:ff9b:1::/48
        || (s[0] == 0x2001 && s[1] == 0) // Teredo 2001::/32 (hides an IPv4 address)
        || (s[0] == 0x2001 && s[1] == 0xdb8) // documentation
        || (s[0] == 0x100 && s[1..4] == [0, 0, 0]); // discard-only 100::/64
    !refused
}

/// An endpoint as its admins see it (never a secret).
#[derive(Debug, Clone)]
pub struct Webhook {
    pub endpoint: WebhookEndpoint,
    /// Its latest messages, newest first, each with its attempts.
    pub deliveries: Vec<Delivery>,
}

#[derive(Debug, Clone)]
pub struct Delivery {
    pub message: WebhookMessage,
    pub attempts: Vec<WebhookAttempt>,
}

/// An endpoint just made (or its secret just rotated), and the secret, once.
#[derive(Debug)]
pub struct CreatedWebhook {
    pub endpoint: WebhookEndpoint,
    pub secret: WebhookSecret,
}

fn audit_webhook(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    endpoint: &WebhookEndpoint,
    action: AuditAction,
    detail: String,
) -> Result<(), AppError> {
    audit::record(
        conn,
        actor,
        now,
        Event {
            tenant_id: Some(&endpoint.tenant_id),
            action,
            target_id: Some(&endpoint.id),
            detail,
        },
    )
}

/// Registers an endpoint in `tenant_id` for `events`; its secret is in the answer only.
pub fn create_webhook(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    keys: &SealingKeys,
    tenant_id: &TenantId,
    url: &str,
    events: &[String],
) -> Result<CreatedWebhook, AppError> {
    let url = check_url(url)?;
    let events = WebhookEvent::parse_list(events)?;
    transaction(conn, |conn| {
        permissions::require(conn, actor, tenant_id, Permission::ManageWebhooks)?;
        lock_tenant(conn, tenant_id.as_str())?;
        if WebhookEndpoint::count_of_tenant(conn, tenant_id.as_str())? >= MAX_PER_TENANT {
            return Err(AppError::Conflict(format!(
                "this tenant has {MAX_PER_TENANT} webhooks, the most it may have; delete one first"
            )));
        }
        let id = new_id();
        let (secret, bytes) = WebhookSecret::generate();
        let endpoint = WebhookEndpoint {
            secret_sealed: keys.seal(&seal_context(&id), &bytes)?,
            key_version: keys.version().to_string(),
            id,
            tenant_id: tenant_id.to_string(),
            url,
            events: stored_events(&events),
            previous_secret_sealed: None,
            previous_key_version: None,
            previous_until: None,
            enabled: true,
            disabled_reason: None,
            failures: 0,
            busy_until: None,
            created_at: now,
            created_by: actor.account_id().map(ToString::to_string),
            last_served_at: None,
        };
        endpoint.insert(conn)?;
        audit_webhook(
            conn,
            actor,
            now,
            &endpoint,
            AuditAction::WebhookCreated,
            format!("webhook to {} for {}", endpoint.url, endpoint.events),
        )?;
        Ok(CreatedWebhook { endpoint, secret })
    })
}

/// Refuses (FORBIDDEN, saying which permission is missing) an actor who may not manage
/// `tenant_id`'s webhooks: what a team page asks first, before it looks up an id.
pub fn require_manager(
    conn: &mut DbConnection,
    actor: &Actor,
    tenant_id: &TenantId,
) -> Result<(), AppError> {
    permissions::require(conn, actor, tenant_id, Permission::ManageWebhooks).map(drop)
}

/// An endpoint (or a delivery) by id, and the tenant it must belong to when the request
/// names one (a team page's URL): another tenant's id is not found there.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRef<'a> {
    pub id: &'a str,
    pub tenant_id: Option<&'a TenantId>,
}

impl<'a> WebhookRef<'a> {
    /// By id alone (GraphQL): whatever tenant the actor manages.
    pub fn any(id: &'a str) -> Self {
        Self {
            id,
            tenant_id: None,
        }
    }

    /// By id within `tenant_id` (the team page's tenant).
    pub fn in_tenant(id: &'a str, tenant_id: &'a TenantId) -> Self {
        Self {
            id,
            tenant_id: Some(tenant_id),
        }
    }

    fn holds(&self, tenant_id: &str) -> bool {
        self.tenant_id.is_none_or(|t| t == tenant_id)
    }
}

/// The endpoint `target` in a tenant the actor manages webhooks of; NOT_FOUND otherwise.
fn find_managed(
    conn: &mut DbConnection,
    actor: &Actor,
    target: WebhookRef<'_>,
) -> Result<WebhookEndpoint, AppError> {
    let not_found = || AppError::not_found("webhook not found");
    let endpoint = WebhookEndpoint::find(conn, target.id)?
        .filter(|e| target.holds(&e.tenant_id))
        .ok_or_else(not_found)?;
    let tenant_id = TenantId::from_stored(endpoint.tenant_id.clone());
    match permissions::require(conn, actor, &tenant_id, Permission::ManageWebhooks) {
        Ok(_) => Ok(endpoint),
        Err(AppError::Forbidden(_)) => Err(not_found()),
        Err(e) => Err(e),
    }
}

/// Changes an endpoint's URL, events, or whether it is enabled (enabling it again starts
/// its count of failures over). Enabling is refused while its secret does not open:
/// the next delivery would disable it again and mail every admin.
#[allow(clippy::too_many_arguments)]
pub fn update_webhook(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    keys: &SealingKeys,
    target: WebhookRef<'_>,
    url: Option<&str>,
    events: Option<&[String]>,
    enabled: Option<bool>,
) -> Result<WebhookEndpoint, AppError> {
    let id = target.id;
    let url = url.map(check_url).transpose()?;
    let events = events.map(WebhookEvent::parse_list).transpose()?;
    transaction(conn, |conn| {
        let endpoint = find_managed(conn, actor, target)?;
        let url = url.unwrap_or_else(|| endpoint.url.clone());
        let events = events
            .as_deref()
            .map(stored_events)
            .unwrap_or_else(|| endpoint.events.clone());
        if enabled == Some(true)
            && keys
                .open(
                    &endpoint.key_version,
                    &seal_context(&endpoint.id),
                    &endpoint.secret_sealed,
                )
                .is_err()
        {
            return Err(AppError::Conflict(
                "this webhook's signing secret could not be opened (was the server secret changed?); rotate the webhook's secret first, then enable it".into(),
            ));
        }
        let enabled = enabled.unwrap_or(endpoint.enabled);
        WebhookEndpoint::set_target(conn, id, &url, &events, enabled)?;
        let changed = WebhookEndpoint::find(conn, id)?
            .ok_or_else(|| AppError::not_found("webhook not found"))?;
        audit_webhook(
            conn,
            actor,
            now,
            &changed,
            AuditAction::WebhookChanged,
            format!(
                "webhook to {} for {}{}",
                changed.url,
                changed.events,
                if changed.enabled { "" } else { ", disabled" }
            ),
        )?;
        Ok(changed)
    })
}

pub fn delete_webhook(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    target: WebhookRef<'_>,
) -> Result<(), AppError> {
    let id = target.id;
    transaction(conn, |conn| {
        let endpoint = find_managed(conn, actor, target)?;
        WebhookEndpoint::delete(conn, id)?;
        audit_webhook(
            conn,
            actor,
            now,
            &endpoint,
            AuditAction::WebhookDeleted,
            format!("webhook to {}", endpoint.url),
        )
    })
}

/// A new secret for an endpoint, shown once; the old one signs too for
/// `ROTATION_OVERLAP` if it still opens (a secret sealed under a server secret that was
/// changed is dropped, and the audit entry says so).
pub fn rotate_webhook_secret(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    keys: &SealingKeys,
    target: WebhookRef<'_>,
) -> Result<CreatedWebhook, AppError> {
    transaction(conn, |conn| {
        let mut endpoint = find_managed(conn, actor, target)?;
        let (secret, bytes) = WebhookSecret::generate();
        let context = seal_context(&endpoint.id);
        // Only a secret that still opens can sign beside the new one; one that does not
        // (the server secret changed) is dropped rather than kept to fail each attempt.
        let old_opens = keys
            .open(&endpoint.key_version, &context, &endpoint.secret_sealed)
            .is_ok();
        let detail = if old_opens {
            endpoint.previous_secret_sealed = Some(endpoint.secret_sealed.clone());
            endpoint.previous_key_version = Some(endpoint.key_version.clone());
            endpoint.previous_until = Some(now + ROTATION_OVERLAP);
            format!(
                "webhook to {}: the old secret signs too until {}",
                endpoint.url,
                now + ROTATION_OVERLAP
            )
        } else {
            endpoint.previous_secret_sealed = None;
            endpoint.previous_key_version = None;
            endpoint.previous_until = None;
            format!(
                "webhook to {}: the old secret could not be opened (was the server secret changed?) and was dropped; only the new one signs",
                endpoint.url
            )
        };
        endpoint.secret_sealed = keys.seal(&context, &bytes)?;
        endpoint.key_version = keys.version().to_string();
        endpoint.set_secrets(conn)?;
        audit_webhook(
            conn,
            actor,
            now,
            &endpoint,
            AuditAction::WebhookSecretRotated,
            detail,
        )?;
        Ok(CreatedWebhook { endpoint, secret })
    })
}

/// The tenant's endpoints with their latest deliveries.
pub fn list_webhooks(
    conn: &mut DbConnection,
    actor: &Actor,
    tenant_id: &TenantId,
) -> Result<Vec<Webhook>, AppError> {
    permissions::require(conn, actor, tenant_id, Permission::ManageWebhooks)?;
    WebhookEndpoint::of_tenant(conn, tenant_id.as_str())?
        .into_iter()
        .map(|endpoint| {
            let deliveries = WebhookMessage::recent_of(conn, &endpoint.id, RECENT_DELIVERIES)?
                .into_iter()
                .map(|message| {
                    let attempts = WebhookAttempt::of_message(conn, &message.id, ATTEMPTS_SHOWN)?;
                    Ok(Delivery { message, attempts })
                })
                .collect::<Result<Vec<_>, AppError>>()?;
            Ok(Webhook {
                endpoint,
                deliveries,
            })
        })
        .collect()
}

/// Sends a message again, with the same `webhook-id` (a fresh timestamp, as always).
pub fn redeliver(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    target: WebhookRef<'_>,
) -> Result<WebhookMessage, AppError> {
    transaction(conn, |conn| {
        let not_found = || AppError::not_found("delivery not found");
        let message = WebhookMessage::find(conn, target.id)?.ok_or_else(not_found)?;
        let endpoint = find_managed(
            conn,
            actor,
            WebhookRef {
                id: &message.endpoint_id,
                tenant_id: target.tenant_id,
            },
        )
        .map_err(|_| not_found())?;
        // A read-only key is refused as such before anything else is said about the message.
        permissions::require_writable(actor)?;
        // One delivery of a message pending at a time: two redeliveries at once meet here
        // under the tenant's lock, and repeated clicks cannot queue without bound.
        lock_tenant(conn, &endpoint.tenant_id)?;
        if OutboxRow::is_pending_about(conn, &message.id)? {
            return Err(AppError::Conflict(
                "this delivery is already queued; wait for its attempt before sending it again"
                    .into(),
            ));
        }
        queue_delivery(conn, now, &message)?;
        audit_webhook(
            conn,
            actor,
            now,
            &endpoint,
            AuditAction::WebhookRedelivered,
            format!("{} ({}) to {}", message.event, message.id, endpoint.url),
        )?;
        Ok(message)
    })
}

fn queue_delivery(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    message: &WebhookMessage,
) -> Result<(), AppError> {
    outbox::enqueue(
        conn,
        now,
        outbox::NewMessage {
            kind: outbox_kind(&message.event),
            tenant_id: None,
            about_id: Some(message.id.clone()),
            recipient: message.endpoint_id.clone(),
            payload: String::new(),
        },
    )
    .map(drop)
}

/// The outbox kind of an event's deliveries.
fn outbox_kind(event: &str) -> &'static str {
    match WebhookEvent::parse(event) {
        Some(WebhookEvent::ApiKeyCreated) => "webhook.api_key.created",
        Some(WebhookEvent::ApiKeyRevoked) => "webhook.api_key.revoked",
        Some(WebhookEvent::ApiKeyExpiring) => "webhook.api_key.expiring",
        Some(WebhookEvent::ApiKeyLeaked) => "webhook.api_key.leaked",
        Some(WebhookEvent::ServiceAccountCreated) => "webhook.service_account.created",
        Some(WebhookEvent::ServiceAccountRemoved) => "webhook.service_account.removed",
        Some(WebhookEvent::MemberAdded) => "webhook.member.added",
        Some(WebhookEvent::MemberRemoved) => "webhook.member.removed",
        None => "webhook.other",
    }
}

/// Queues `event` with `data` for every enabled endpoint of `tenant_id` that asked for
/// it, in the caller's transaction: delivered if and only if that commits. The body is
/// `{"type", "timestamp", "data"}` as Standard Webhooks suggests; `data` must hold no
/// secret.
pub fn enqueue_event(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    tenant_id: &TenantId,
    event: WebhookEvent,
    data: serde_json::Value,
) -> Result<usize, AppError> {
    let endpoints: Vec<WebhookEndpoint> = WebhookEndpoint::of_tenant(conn, tenant_id.as_str())?
        .into_iter()
        .filter(|e| e.enabled && e.event_names().contains(&event.as_str()))
        .collect();
    if endpoints.is_empty() {
        return Ok(0);
    }
    let timestamp = now
        .assume_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let body = serde_json::json!({
        "type": event.as_str(),
        "timestamp": timestamp,
        "data": data,
    })
    .to_string();
    for endpoint in &endpoints {
        let message = WebhookMessage {
            id: format!("msg_{}", new_id().replace('-', "")),
            endpoint_id: endpoint.id.clone(),
            event: event.as_str().to_string(),
            body: body.clone(),
            created_at: now,
        };
        message.insert(conn)?;
        queue_delivery(conn, now, &message)?;
    }
    Ok(endpoints.len())
}

/// What an `api_key.*` event says about a key: never its secret.
pub fn key_data(key: &crate::db::models::ApiKey, owner: &Account) -> serde_json::Value {
    let at = |t: PrimitiveDateTime| {
        t.assume_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    serde_json::json!({
        "id": key.id,
        "name": key.name,
        "display_hint": key.display_hint,
        "user_id": key.account_id,
        "account_type": owner.kind().as_str(),
        "tenant_id": key.tenant_id,
        "created_at": at(key.created_at),
        "expires_at": key.expires_at.map(at),
        "created_by": key.created_by,
        "created_by_key_id": key.created_by_key_id,
    })
}

/// The `webhook-signature` header: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`
/// for each secret, space-separated.
pub fn signature(secrets: &[Vec<u8>], id: &str, timestamp: i64, body: &str) -> String {
    use hmac::{KeyInit, Mac};
    secrets
        .iter()
        .map(|secret| {
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret)
                .expect("HMAC-SHA256 takes a key of any length");
            mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
            format!(
                "v1,{}",
                base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Housekeeping: messages (and their attempts) older than `KEPT_FOR`.
pub fn sweep(conn: &mut DbConnection, now: PrimitiveDateTime) -> Result<usize, AppError> {
    Ok(WebhookMessage::delete_before(conn, now - KEPT_FOR)?)
}

/// How an attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    pub status: Option<u16>,
    /// `None`: delivered (a 2xx).
    pub error: Option<String>,
}

/// A resolver that answers only the address already checked: ureq connects to it and
/// looks nothing up again.
#[derive(Debug)]
struct CheckedAddress(SocketAddr);

impl ureq::unversioned::resolver::Resolver for CheckedAddress {
    fn resolve(
        &self,
        _uri: &ureq::http::Uri,
        _config: &ureq::config::Config,
        _timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let mut addrs = self.empty();
        addrs.push(self.0);
        Ok(addrs)
    }
}

/// Resolves `url`'s host once and picks an address delivery may go to.
pub fn resolve_target(url: &str, allow_private: bool) -> Result<SocketAddr, String> {
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|_| "the URL does not parse".to_string())?;
    let host = uri.host().ok_or("the URL names no host")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    // The lookup counts against the attempt's limit: on a thread of its own, waited for
    // at most `RESOLVE_AT_MOST`.
    let (sender, answer) = std::sync::mpsc::channel();
    let name = (host.to_string(), port);
    std::thread::Builder::new()
        .name("webhook-resolve".into())
        .spawn(move || {
            let _ = sender.send(name.to_socket_addrs().map(|a| a.collect::<Vec<_>>()));
        })
        .map_err(|e| format!("the host could not be resolved ({e})"))?;
    let addrs: Vec<SocketAddr> = answer
        .recv_timeout(RESOLVE_AT_MOST)
        .map_err(|_| "the host's name was not resolved in time".to_string())?
        .map_err(|e| format!("the host could not be resolved ({e})"))?;
    if addrs.is_empty() {
        return Err("the host resolves to no address".into());
    }
    addrs
        .iter()
        .copied()
        .find(|a| allow_private || target_allowed(a.ip()))
        .ok_or_else(|| {
            // The address itself is not for the tenant's eyes (it maps the inside).
            tracing::debug!(address = %addrs[0].ip(), "a webhook target resolved to an internal address");
            "refused: the host resolves to an internal address; the operator can allow internal targets with --webhook-allow-private-targets".to_string()
        })
}

/// One attempt: resolve and check, then POST `body` signed with `secrets`, within
/// `ATTEMPT_LIMIT`, reading at most `ANSWER_READ_AT_MOST` of the answer.
pub fn attempt(
    url: &str,
    allow_private: bool,
    message_id: &str,
    timestamp: i64,
    body: &str,
    secrets: &[Vec<u8>],
) -> AttemptOutcome {
    let failed = |status: Option<u16>, error: String| AttemptOutcome {
        status,
        error: Some(error),
    };
    let started = Instant::now();
    let target = match resolve_target(url, allow_private) {
        Ok(t) => t,
        Err(e) => return failed(None, e),
    };
    let config = ureq::Agent::config_builder()
        .max_redirects(0)
        .max_redirects_will_error(false)
        .save_redirect_history(false)
        .proxy(None)
        .http_status_as_error(false)
        .timeout_global(Some(ATTEMPT_LIMIT.saturating_sub(started.elapsed())))
        .user_agent("Keyward-Webhooks/1")
        .build();
    let agent = ureq::Agent::with_parts(
        config,
        ureq::unversioned::transport::DefaultConnector::default(),
        CheckedAddress(target),
    );
    let sent = agent
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header(
            "webhook-signature",
            signature(secrets, message_id, timestamp, body),
        )
        .send(body);
    let mut answer = match sent {
        Ok(a) => a,
        Err(e) => return failed(None, format!("no answer: {}", short(&e.to_string()))),
    };
    let status = answer.status().as_u16();
    // At most 1 KiB of the answer is read (within the same time limit), then dropped.
    let mut buffer = Vec::new();
    let _ = std::io::Read::read_to_end(
        &mut std::io::Read::take(answer.body_mut().as_reader(), ANSWER_READ_AT_MOST),
        &mut buffer,
    );
    if (200..300).contains(&status) {
        AttemptOutcome {
            status: Some(status),
            error: None,
        }
    } else if (300..400).contains(&status) {
        failed(
            Some(status),
            format!("answered {status}: redirects are not followed; register the final URL"),
        )
    } else {
        failed(Some(status), format!("answered {status}"))
    }
}

fn short(text: &str) -> String {
    crate::services::mail::log_line(text)
        .chars()
        .take(200)
        .collect()
}

/// Deliverers per instance, each a [`Worker`] on a thread of its own: a receiver that
/// hangs holds one of them (for at most [`ATTEMPT_LIMIT`]) while the others go on with
/// the other endpoints' deliveries.
pub const DELIVERERS: usize = 3;

/// One webhook deliverer of an instance, beside the mail worker: claims a due delivery
/// whose endpoint no attempt holds, and makes the attempt. Due times, claims and the
/// `webhook-timestamp` come from `outbox::claim_now` (the database's clock on
/// PostgreSQL), so several instances agree on them.
#[derive(Clone)]
pub struct Worker {
    pub pool: Pool,
    pub clock: Clock,
    pub keys: Arc<SealingKeys>,
    pub timing: OutboxTiming,
    pub allow_private: bool,
}

/// What an attempt needs, read before it (the connection goes back to the pool while
/// the receiver is talked to).
struct Prepared {
    endpoint: WebhookEndpoint,
    message: WebhookMessage,
    secrets: Vec<Vec<u8>>,
    now: PrimitiveDateTime,
}

impl Worker {
    /// Runs on its own thread (see `outbox::run_worker`).
    pub fn run(self, stop: Receiver<()>) {
        outbox::run_worker("webhook", self.timing.poll, stop, || self.step());
    }

    fn now(&self, conn: &mut DbConnection) -> Result<PrimitiveDateTime, AppError> {
        outbox::claim_now(conn, &self.clock)
    }

    /// Claims one due delivery whose endpoint no attempt holds, and makes the attempt;
    /// `false` when there was none.
    fn step(&self) -> Result<bool, AppError> {
        let Some(claimed) = self.claim()? else {
            return Ok(false);
        };
        let result = self.deliver(&claimed);
        self.release(&claimed.row.recipient)?;
        result.map(|()| true)
    }

    /// Gives the endpoint back after an attempt. Tried twice: an endpoint not given back
    /// stays held, its deliveries waiting, until the claim's lease ends.
    fn release(&self, endpoint_id: &str) -> Result<(), AppError> {
        let once = || -> Result<(), AppError> {
            let mut conn = self.pool.get().map_err(AppError::from)?;
            WebhookEndpoint::release(&mut conn, endpoint_id)?;
            Ok(())
        };
        once().or_else(|e| {
            tracing::warn!(endpoint = %endpoint_id, error = %e, "a webhook could not be given back after its attempt; trying once more");
            once().inspect_err(|e| {
                tracing::warn!(endpoint = %endpoint_id, error = %e, "a webhook could not be given back after its attempt; its deliveries wait until the claim's lease ends");
            })
        })
    }

    /// Takes a due delivery's endpoint, then the delivery (the endpoint's `busy_until` is
    /// set until the claim's lease ends).
    fn claim(&self) -> Result<Option<Claimed>, AppError> {
        let lease = self.timing.lease.max(ATTEMPT_LIMIT * 3);
        let mut conn = self.pool.get().map_err(AppError::from)?;
        let now = self.now(&mut conn)?;
        let lease_until = outbox::later(now, lease);
        for id in WebhookEndpoint::due_deliveries(&mut conn, now, CLAIM_CANDIDATES)? {
            let Some(row) = OutboxRow::find(&mut conn, &id)? else {
                continue;
            };
            // One attempt in flight per endpoint, across instances: take the endpoint
            // first, then the row; give the endpoint back if the row went to another.
            let endpoint_id = row.recipient;
            let endpoint_free =
                WebhookEndpoint::take(&mut conn, &endpoint_id, now, lease_until)? == 1;
            if !endpoint_free && WebhookEndpoint::find(&mut conn, &endpoint_id)?.is_some() {
                continue;
            }
            match outbox::claim_row(&mut conn, &id, now, lease) {
                Ok(Some(claimed)) => return Ok(Some(claimed)),
                Ok(None) => {
                    WebhookEndpoint::release(&mut conn, &endpoint_id)?;
                }
                Err(e) => {
                    let _ = WebhookEndpoint::release(&mut conn, &endpoint_id);
                    return Err(e);
                }
            }
        }
        Ok(None)
    }

    fn deliver(&self, claimed: &Claimed) -> Result<(), AppError> {
        let Some(prepared) = self.prepare(claimed)? else {
            return Ok(());
        };
        let Prepared {
            endpoint,
            message,
            secrets,
            now: attempted_at,
        } = prepared;
        // The timestamp is the server's now at this attempt (a retry minutes later
        // carries a fresh one), as receivers that refuse old timestamps need.
        let started = Instant::now();
        let outcome = attempt(
            &endpoint.url,
            self.allow_private,
            &message.id,
            attempted_at.assume_utc().unix_timestamp(),
            &message.body,
            &secrets,
        );
        let duration_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
        let mut conn = self.pool.get().map_err(AppError::from)?;
        let conn = &mut conn;
        let now = self.now(conn)?;
        // The log and the outbox change together: a page that shows the answer never
        // finds the delivery still queued.
        transaction(conn, |conn| {
            WebhookAttempt {
                id: new_id(),
                message_id: message.id.clone(),
                endpoint_id: endpoint.id.clone(),
                attempted_at,
                status_code: outcome.status.map(i32::from),
                duration_ms,
                error: outcome.error.clone(),
            }
            .insert(conn)?;
            let row = &claimed.row;
            match &outcome.error {
                None => {
                    outbox::record_sent(conn, now, claimed)?;
                    WebhookEndpoint::set_failures(conn, &endpoint.id, 0)?;
                    tracing::info!(id = %row.id, message = %message.id, status = ?outcome.status, "webhook delivered");
                }
                Some(reason) => {
                    let recorded =
                        outbox::record_failure(conn, now, claimed, &self.timing, false, reason)?;
                    tracing::warn!(id = %row.id, message = %message.id, reason = %reason, ?recorded, "webhook attempt failed");
                    if recorded == Recorded::GaveUp {
                        self.count_given_up(conn, now, &endpoint)?;
                    }
                }
            }
            Ok(())
        })
    }

    /// The endpoint, message and secrets of a claimed delivery; `None` when it cannot be
    /// attempted (recorded as given up: the endpoint or message is gone, the endpoint is
    /// disabled, or its secret does not open).
    fn prepare(&self, claimed: &Claimed) -> Result<Option<Prepared>, AppError> {
        let mut conn = self.pool.get().map_err(AppError::from)?;
        let conn = &mut conn;
        let row = &claimed.row;
        let endpoint = WebhookEndpoint::find(conn, &row.recipient)?;
        let message = match &row.about_id {
            Some(id) => WebhookMessage::find(conn, id)?,
            None => None,
        };
        let now = self.now(conn)?;
        let give_up = |conn: &mut DbConnection, reason: &str| {
            outbox::record_failure(conn, now, claimed, &self.timing, true, reason).map(drop)
        };
        let (Some(endpoint), Some(message)) = (endpoint, message) else {
            give_up(conn, "the webhook or its message was deleted")?;
            return Ok(None);
        };
        if !endpoint.enabled {
            give_up(conn, "the webhook is disabled")?;
            return Ok(None);
        }
        match self.secrets(&endpoint, now) {
            Ok(secrets) => Ok(Some(Prepared {
                endpoint,
                message,
                secrets,
                now,
            })),
            Err(e) => {
                // Retrying cannot help: the delivery fails for good and the endpoint is
                // disabled, saying what to do, rather than left stuck. The error names
                // key versions only, never a secret.
                tracing::error!(endpoint = %endpoint.id, error = %e, "a webhook's signing secret could not be opened");
                let reason = "its signing secret could not be opened (was the server secret changed?); rotate the webhook's secret, then enable it again";
                transaction(conn, |conn| {
                    give_up(conn, reason)?;
                    self.disable(conn, now, &endpoint, reason)
                })?;
                Ok(None)
            }
        }
    }

    /// The secrets that sign at `now`: the current one, and the previous one while it
    /// overlaps.
    fn secrets(
        &self,
        endpoint: &WebhookEndpoint,
        now: PrimitiveDateTime,
    ) -> Result<Vec<Vec<u8>>, AppError> {
        let context = seal_context(&endpoint.id);
        let mut secrets =
            vec![self
                .keys
                .open(&endpoint.key_version, &context, &endpoint.secret_sealed)?];
        if let (Some(sealed), Some(version), Some(until)) = (
            &endpoint.previous_secret_sealed,
            &endpoint.previous_key_version,
            endpoint.previous_until,
        ) {
            // A rotated-out secret that no longer opens (the server secret changed, and
            // the rotation was the way out) stops signing; the new one still does.
            if until > now {
                match self.keys.open(version, &context, sealed) {
                    Ok(previous) => secrets.push(previous),
                    Err(e) => {
                        tracing::warn!(endpoint = %endpoint.id, error = %e, "a webhook's rotated-out secret could not be opened; only its new one signs");
                    }
                }
            }
        }
        Ok(secrets)
    }

    /// A delivery given up: after `DISABLE_AFTER` in a row the endpoint is disabled and
    /// the tenant's human admins are mailed.
    fn count_given_up(
        &self,
        conn: &mut DbConnection,
        now: PrimitiveDateTime,
        endpoint: &WebhookEndpoint,
    ) -> Result<(), AppError> {
        transaction(conn, |conn| {
            let failures = endpoint.failures.saturating_add(1);
            WebhookEndpoint::set_failures(conn, &endpoint.id, failures)?;
            if failures < DISABLE_AFTER {
                return Ok(());
            }
            let reason = format!("{failures} deliveries in a row were given up");
            self.disable(conn, now, endpoint, &reason)
        })
    }

    /// Disables `endpoint` for `reason`, audited, and mails the tenant's human admins; in
    /// the caller's transaction.
    fn disable(
        &self,
        conn: &mut DbConnection,
        now: PrimitiveDateTime,
        endpoint: &WebhookEndpoint,
        reason: &str,
    ) -> Result<(), AppError> {
        {
            if WebhookEndpoint::disable(conn, &endpoint.id, reason)? == 0 {
                return Ok(());
            }
            audit::record_system(
                conn,
                &Actor::operator(),
                now,
                Event {
                    tenant_id: Some(&endpoint.tenant_id),
                    action: AuditAction::WebhookDisabled,
                    target_id: Some(&endpoint.id),
                    detail: format!("webhook to {}: {reason}", endpoint.url),
                },
            )?;
            let tenant = crate::db::models::Tenant::find(conn, &endpoint.tenant_id)?
                .map_or_else(String::new, |t| t.name);
            let body = format!(
                "Hello,\n\n\
                 Keyward disabled a webhook of the team {tenant}: {reason}.\n\n\
                 Webhook: {url}\n\n\
                 Check the receiver, then enable the webhook again on Team › Webhooks (its \
                 delivery log shows each attempt's answer).\n",
                tenant = crate::services::mail::quoted(&tenant),
                url = endpoint.url,
            );
            let admins: Vec<Account> = Membership::members_of(conn, &endpoint.tenant_id)?
                .into_iter()
                .filter(|(a, m)| !a.is_service_account() && m.role() == Some(Role::Admin))
                .map(|(a, _)| a)
                .collect();
            for admin in admins {
                let Some(to) = admin.email else { continue };
                outbox::enqueue(
                    conn,
                    now,
                    outbox::NewMessage {
                        kind: MailKind::WebhookDisabled.as_str(),
                        tenant_id: None,
                        about_id: Some(endpoint.id.clone()),
                        recipient: to,
                        payload: body.clone(),
                    },
                )?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(text: &str) -> bool {
        target_allowed(text.parse().unwrap())
    }

    #[test]
    fn internal_addresses_are_refused_in_every_form() {
        for refused in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::10.0.0.1",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:c0a8:101::1",
            "2001:0:4136:e378::1",
            "::ffff:0:127.0.0.1",
            "::ffff:0:a9fe:a9fe",
            "::ffff:0:10.0.0.1",
        ] {
            assert!(!allowed(refused), "{refused} must be refused");
        }
    }

    #[test]
    fn public_addresses_are_allowed_in_every_form() {
        for ok in [
            "93.184.216.34",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "::ffff:0:8.8.8.8",
        ] {
            assert!(allowed(ok), "{ok} must be allowed");
        }
    }

    #[test]
    fn urls_need_http_or_https_a_host_and_no_credentials() {
        assert!(check_url("https://hooks.example.com/x").is_ok());
        assert!(check_url("http://10.0.0.1:8080/x").is_ok());
        for bad in [
            "ftp://example.com/",
            "hooks.example.com/x",
            "https://user:pw@example.com/",
            "",
            "https:///x",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert!(check_url(&format!("https://e.com/{}", "a".repeat(2001))).is_err());
    }

    #[test]
    fn the_signature_is_standard_webhooks() {
        // The example of the Standard Webhooks specification's reference libraries.
        let secret = base64::engine::general_purpose::STANDARD
            .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap();
        let sig = signature(
            &[secret],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let (secret, _) = WebhookSecret::generate();
        assert!(secret.expose().starts_with("whsec_"));
        assert!(!format!("{secret:?}").contains("whsec_"));
    }
}
