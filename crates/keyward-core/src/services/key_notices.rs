//! Key notices by mail (issue 28): "a new API key was added to your account" (as GitHub
//! mails), and reminders 7 days and 1 day before a key expires (as GitLab mails).
//!
//! - The new-key notice is queued in the transaction that creates the key
//!   (`api_keys::create_api_key`), so it goes if and only if the key exists.
//! - Reminders are found by [`ReminderWorker`], beside the outbox worker on every
//!   instance: at start and then every [`CHECK_EVERY`], never in a request. The same pass
//!   raises the `api_key.expiring` webhook event (with mail off, only that).
//!   Each is sent once: a `key_reminders` row per (key, kind) is inserted in the same
//!   transaction as the outbox row, and its primary key lets only one instance (or pass)
//!   commit it. A key first seen within a day of its end gets the 1-day reminder only.
//! - Recipients: the key's owner; for a service account's key, the tenant's human
//!   admins. Each person can turn each kind off for themselves (User › Notifications).
//! - Bounded: at most [`NOTICES_PER_ADDRESS_PER_DAY`] notices go to one address in a day;
//!   beyond that they are skipped (and counted in the log). Notices belong to no tenant's
//!   mail quota, so a tenant's invitations are never crowded out by them.
//! - With mail off no reminder mail is queued; a new-key notice is
//!   queued and, unsent, given up by housekeeping after a day like any other mail.

use crate::db::models::key_notice::{KeyReminder, NotificationOptOut};
use crate::db::models::{Account, ApiKey, Membership, OutboxRow, Tenant};
use crate::db::{DbConnection, Pool};
use crate::domain::{AccountKind, AuditAction, Clock, Role};
use crate::error::{on_unique_violation, AppError};
use crate::services::actor::ActorKind;
use crate::services::audit::{self, Event};
use crate::services::mail::{self, MailKind};
use crate::services::permissions;
use crate::services::{outbox, transaction, webhooks, Actor};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration as StdDuration;
use time::{Duration, PrimitiveDateTime};

/// How often each instance looks for keys to remind about (and once at start).
pub const CHECK_EVERY: StdDuration = StdDuration::from_secs(3600);

/// Notices (of both kinds) one address gets in a day at most.
pub const NOTICES_PER_ADDRESS_PER_DAY: i64 = 50;

/// Keys looked at per query of a pass.
const BATCH: i64 = 200;

/// The notices a person can turn off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    KeyCreated,
    KeyExpiring,
}

impl NoticeKind {
    pub const ALL: [NoticeKind; 2] = [NoticeKind::KeyCreated, NoticeKind::KeyExpiring];

    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::KeyCreated => "key_created",
            NoticeKind::KeyExpiring => "key_expiring",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            NoticeKind::KeyCreated => "A new API key is added to my account",
            NoticeKind::KeyExpiring => "An API key expires in 7 days, and again in 1 day",
        }
    }

    fn mail(self) -> MailKind {
        match self {
            NoticeKind::KeyCreated => MailKind::KeyCreated,
            NoticeKind::KeyExpiring => MailKind::KeyExpiring,
        }
    }
}

/// The two reminders before a key expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reminder {
    SevenDays,
    OneDay,
}

impl Reminder {
    pub fn as_str(self) -> &'static str {
        match self {
            Reminder::SevenDays => "expires_in_7_days",
            Reminder::OneDay => "expires_in_1_day",
        }
    }

    /// The keys it is for: those expiring within `(now + from, now + until]`.
    fn window(self) -> (Duration, Duration) {
        match self {
            Reminder::OneDay => (Duration::ZERO, Duration::days(1)),
            Reminder::SevenDays => (Duration::days(1), Duration::days(7)),
        }
    }
}

/// One notice and whether it is on, as User › Notifications shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationSetting {
    pub kind: NoticeKind,
    pub on: bool,
}

/// The person acting: notices are set by each person for themselves.
fn person_of(actor: &Actor) -> Result<&str, AppError> {
    match &actor.kind {
        ActorKind::Person { account_id } => Ok(account_id.as_str()),
        ActorKind::ApiKey(p) if p.account_kind() == AccountKind::User => Ok(p.account_id().as_str()),
        ActorKind::ApiKey(_) => Err(AppError::forbidden(
            "service accounts get no mail; their keys' notices go to the tenant's admins, who set them for themselves",
        )),
        ActorKind::Operator => Err(AppError::forbidden(
            "notices are set by each person for themselves, signed in or with their own key",
        )),
    }
}

/// The actor's notices and whether each is on.
pub fn notification_settings(
    conn: &mut DbConnection,
    actor: &Actor,
) -> Result<Vec<NotificationSetting>, AppError> {
    let account_id = person_of(actor)?;
    let off = NotificationOptOut::kinds_of(conn, account_id)?;
    Ok(NoticeKind::ALL
        .into_iter()
        .map(|kind| NotificationSetting {
            kind,
            on: !off.iter().any(|k| k == kind.as_str()),
        })
        .collect())
}

/// Turns one of the actor's own notices on or off; answers all of them.
pub fn set_notification(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    kind: NoticeKind,
    on: bool,
) -> Result<Vec<NotificationSetting>, AppError> {
    permissions::require_writable(actor)?;
    let account_id = person_of(actor)?.to_string();
    // A stolen key must not silence the notice that would tell of the keys made with it:
    // notices are turned off in a signed-in dashboard session only (docs/DECISIONS.md).
    if !on && matches!(actor.kind, ActorKind::ApiKey(_)) {
        return Err(AppError::forbidden(
            "notices are turned off on the dashboard (User › Notifications) while signed in, not with an API key; an API key may only turn them on",
        ));
    }
    transaction(conn, |conn| {
        let was_on = !NotificationOptOut::is_off(conn, &account_id, kind.as_str())?;
        NotificationOptOut::delete(conn, &account_id, kind.as_str())?;
        if !on {
            NotificationOptOut {
                account_id: account_id.clone(),
                kind: kind.as_str().to_string(),
                since: now,
            }
            .insert(conn)?;
        }
        if was_on != on {
            audit::record(
                conn,
                actor,
                now,
                Event {
                    tenant_id: None,
                    action: AuditAction::NotificationChanged,
                    target_id: Some(&account_id),
                    detail: format!(
                        "notice \"{}\" turned {}",
                        kind.label(),
                        if on { "on" } else { "off" }
                    ),
                },
            )?;
        }
        notification_settings(conn, actor)
    })
}

/// Who is told about `key`: its owner, or for a service account's key the tenant's human
/// admins; people who turned `kind` off and accounts without an address left out.
fn recipients(
    conn: &mut DbConnection,
    owner: &Account,
    tenant_id: &str,
    kind: NoticeKind,
) -> Result<Vec<Account>, AppError> {
    let people = if owner.is_service_account() {
        Membership::members_of(conn, tenant_id)?
            .into_iter()
            .filter(|(a, m)| !a.is_service_account() && m.role() == Some(Role::Admin))
            .map(|(a, _)| a)
            .collect()
    } else {
        vec![owner.clone()]
    };
    let mut wanted = Vec::new();
    for person in people {
        if person.email.is_some() && !NotificationOptOut::is_off(conn, &person.id, kind.as_str())? {
            wanted.push(person);
        }
    }
    Ok(wanted)
}

/// Queues `body` of `kind` to each of `to` that has not had its day's notices yet.
fn queue(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    kind: NoticeKind,
    key: &ApiKey,
    to: &[Account],
    body: &str,
) -> Result<(), AppError> {
    let notice_kinds = NoticeKind::ALL.map(|k| k.mail().as_str());
    for person in to {
        let Some(address) = person.email.as_deref() else {
            continue;
        };
        let sent =
            OutboxRow::count_to_since(conn, address, &notice_kinds, now - Duration::days(1))?;
        if sent >= NOTICES_PER_ADDRESS_PER_DAY {
            tracing::warn!(kind = kind.as_str(), key_id = %key.id, "a key notice was skipped: its recipient had the day's notices already");
            continue;
        }
        outbox::enqueue(
            conn,
            now,
            outbox::NewMessage {
                kind: kind.mail().as_str(),
                tenant_id: None,
                about_id: Some(key.id.clone()),
                recipient: address.to_string(),
                payload: body.to_string(),
            },
        )?;
    }
    Ok(())
}

pub(crate) fn when(at: PrimitiveDateTime) -> String {
    at.format(time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute] UTC"
    ))
    .unwrap_or_default()
}

/// Whose key, in words: "your account" or the service account's.
fn whose(owner: &Account) -> String {
    if owner.is_service_account() {
        format!("the service account {}", mail::quoted(&owner.name))
    } else {
        "your account".to_string()
    }
}

/// Where a key was made from, in words.
fn made_from(conn: &mut DbConnection, actor: &Actor) -> Result<String, AppError> {
    let ip = actor
        .ip
        .as_deref()
        .map(|ip| format!(", from {ip}"))
        .unwrap_or_default();
    Ok(match &actor.kind {
        ActorKind::Operator => "by an operator at the command line (keyward admin)".to_string(),
        ActorKind::Person { account_id } => {
            let name = Account::find(conn, account_id.as_str())?
                .map_or_else(String::new, |a| format!(" by {}", mail::quoted(&a.name)));
            format!("in the dashboard{name}{ip}")
        }
        ActorKind::ApiKey(p) => {
            let by = ApiKey::find(conn, p.key_id().as_str())?.map_or_else(String::new, |k| {
                format!(" {} ({})", mail::quoted(&k.name), k.display_hint)
            });
            format!("through the API with the key{by}{ip}")
        }
    })
}

/// Queues the "new API key" notice for `key`, just made for `owner` by `actor`: in the
/// key's transaction. `rotated_from` is the key it replaces, when it was made by rotation.
pub(crate) fn notify_key_created(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    key: &ApiKey,
    owner: &Account,
    rotated_from: Option<&ApiKey>,
) -> Result<(), AppError> {
    let to = recipients(conn, owner, &key.tenant_id, NoticeKind::KeyCreated)?;
    if to.is_empty() {
        return Ok(());
    }
    let tenant = Tenant::find(conn, &key.tenant_id)?.map_or_else(String::new, |t| t.name);
    let body = format!(
        "Hello,\n\n\
         A new API key was added to {whose} on Keyward.\n\n\
         Key:     {name} ({hint})\n\
         Team:    {tenant}\n\
         Made:    {made}, {from}{rotated}\n\
         Expires: {expires}\n\n\
         If you know about this key, there is nothing to do. If you do not, delete it on the \
         dashboard (User › API Keys, or Team › Service Accounts for a service account's key) \
         and change your password.\n",
        whose = whose(owner),
        name = mail::quoted(&key.name),
        hint = key.display_hint,
        tenant = mail::quoted(&tenant),
        made = when(now),
        from = made_from(conn, actor)?,
        expires = key.expires_at.map_or_else(|| "never".to_string(), when),
        rotated = rotated_from.map_or_else(String::new, |old| format!(
            ", rotated from {} ({})",
            mail::quoted(&old.name),
            old.display_hint
        )),
    );
    queue(conn, now, NoticeKind::KeyCreated, key, &to, &body)
}

/// The reminder for one key, in its own transaction: `false` when another instance (or
/// an earlier pass) sent it already.
fn remind(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    key: &ApiKey,
    reminder: Reminder,
    mail_on: bool,
) -> Result<bool, AppError> {
    let claimed = transaction(conn, |conn| {
        KeyReminder {
            api_key_id: key.id.clone(),
            kind: reminder.as_str().to_string(),
            sent_at: now,
        }
        .insert(conn)
        .map_err(on_unique_violation(|| {
            AppError::Conflict("reminded already".into())
        }))?;
        let Some(owner) = Account::find(conn, &key.account_id)? else {
            return Ok(());
        };
        let Some(expires_at) = key.expires_at else {
            return Ok(());
        };
        let mut data = webhooks::key_data(key, &owner);
        data["reminder"] = serde_json::Value::from(reminder.as_str());
        webhooks::enqueue_event(
            conn,
            now,
            &key.tenant(),
            webhooks::WebhookEvent::ApiKeyExpiring,
            data,
        )?;
        if !mail_on {
            return Ok(());
        }
        let to = recipients(conn, &owner, &key.tenant_id, NoticeKind::KeyExpiring)?;
        if to.is_empty() {
            return Ok(());
        }
        let tenant = Tenant::find(conn, &key.tenant_id)?.map_or_else(String::new, |t| t.name);
        let left = expires_at - now;
        // Rounded to the nearest day (or hour): a key made "in 3 days" a moment ago
        // expires in 3 days, not 2.
        let in_words = if left >= Duration::hours(36) {
            format!("in {} days", (left.whole_hours() + 12) / 24)
        } else if left >= Duration::hours(2) {
            format!("in {} hours", (left.whole_minutes() + 30) / 60)
        } else {
            "within two hours".to_string()
        };
        let body = format!(
            "Hello,\n\n\
             The API key {name} ({hint}) of {whose} in the team {tenant} expires on \
             {expires} ({in_words}). After that, every request made with it is refused.\n\n\
             Make a new key (or rotate this one on the dashboard) and put it where this one \
             is used before then.\n",
            name = mail::quoted(&key.name),
            hint = key.display_hint,
            whose = whose(&owner),
            tenant = mail::quoted(&tenant),
            expires = when(expires_at),
        );
        queue(conn, now, NoticeKind::KeyExpiring, key, &to, &body)
    });
    match claimed {
        Ok(()) => Ok(true),
        Err(AppError::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// One pass: every reminder due at `now` that no instance has sent yet. Returns how many
/// keys were reminded about by this pass.
pub fn send_due_reminders(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    mail_on: bool,
) -> Result<usize, AppError> {
    let mut reminded = 0;
    for reminder in [Reminder::OneDay, Reminder::SevenDays] {
        let (from, until) = reminder.window();
        loop {
            let keys = KeyReminder::due(conn, now + from, now + until, reminder.as_str(), BATCH)?;
            let last_batch = i64::try_from(keys.len()).unwrap_or(0) < BATCH;
            for key in &keys {
                if remind(conn, now, key, reminder, mail_on)? {
                    reminded += 1;
                }
            }
            // Each key of the batch now has its row (ours or another instance's), so the
            // next query moves on.
            if last_batch {
                break;
            }
        }
    }
    Ok(reminded)
}

/// Looks for due reminders at start and every `CHECK_EVERY`, on its own thread, until
/// `stop` says the server is gone.
pub struct ReminderWorker {
    pub pool: Pool,
    pub clock: Clock,
    /// Without mail, the pass raises `api_key.expiring` webhooks only.
    pub mail_on: bool,
}

impl ReminderWorker {
    pub fn run(self, stop: Receiver<()>) {
        loop {
            let pass = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut conn = self.pool.get().map_err(AppError::from)?;
                send_due_reminders(&mut conn, self.clock.now(), self.mail_on)
            }));
            match pass {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(keys = n, "expiry reminders queued"),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "looking for keys to remind about failed; it will try again")
                }
                Err(_) => tracing::error!(
                    "a pass of the expiry reminders panicked (a bug; the panic is printed above); the worker goes on"
                ),
            }
            match stop.recv_timeout(CHECK_EVERY) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}
