//! Export of a tenant's audit log as CSV or JSON Lines (issue 31 point 12, as GitHub's
//! audit-log export): admins only (`ReadAuditLog`, re-read for every chunk), the export
//! itself audited before the first row, the list's filters applied, read in chunks of
//! `CHUNK` newest first and cut at `MAX_ROWS`, so a surface can stream it without holding
//! it. CSV cells that a spreadsheet would run as a formula get a leading `'` (OWASP's
//! advice on CSV injection).

use crate::db::models::paging::Cursor;
use crate::db::models::team_lists::TeamWhere;
use crate::db::models::AuditEvent;
use crate::db::DbConnection;
use crate::domain::{AuditAction, InvalidInput, TenantId};
use crate::error::AppError;
use crate::services::audit::{self, AuditEntry, Event};
use crate::services::permissions::{self, Permission};
use crate::services::{transaction, Actor};
use time::PrimitiveDateTime;

/// At most this many events per export (the newest); the last line says when it was cut.
pub const MAX_ROWS: usize = 100_000;
/// Events read per query.
pub const CHUNK: i64 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    JsonLines,
}

impl ExportFormat {
    /// `csv` or `jsonl`.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        match raw.trim() {
            "csv" => Ok(Self::Csv),
            "jsonl" => Ok(Self::JsonLines),
            _ => Err(InvalidInput::new("format", "must be csv or jsonl")),
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::JsonLines => "jsonl",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::JsonLines => "application/x-ndjson; charset=utf-8",
        }
    }

    /// What comes before the first event (the CSV header).
    pub fn header(self) -> &'static str {
        match self {
            Self::Csv => {
                "at,action,actor_id,actor,actor_kind,via_key_id,via_key,target_id,detail,ip\n"
            }
            Self::JsonLines => "",
        }
    }
}

/// Checks the actor may read the log and records the export (with its filters) in one
/// transaction; call it before sending anything.
pub fn begin_export(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    tenant_id: &TenantId,
    format: ExportFormat,
    filters: &str,
) -> Result<(), AppError> {
    transaction(conn, |conn| {
        permissions::require(conn, actor, tenant_id, Permission::ReadAuditLog)?;
        audit::record_system(
            conn,
            actor,
            now,
            Event {
                tenant_id: Some(tenant_id.as_str()),
                action: AuditAction::AuditLogExported,
                target_id: None,
                detail: format!(
                    "{} export{}",
                    format.extension().to_uppercase(),
                    if filters.is_empty() {
                        String::new()
                    } else {
                        format!(", filtered by {filters}")
                    }
                ),
            },
        )
    })
}

/// The next `CHUNK` events older than `after` (the newest first when `None`).
pub fn export_chunk(
    conn: &mut DbConnection,
    actor: &Actor,
    tenant_id: &TenantId,
    w: &TeamWhere,
    after: Option<Cursor>,
) -> Result<Vec<AuditEntry>, AppError> {
    permissions::require(conn, actor, tenant_id, Permission::ReadAuditLog)?;
    let page = crate::db::models::api_key_list::KeyPage::OlderThan {
        limit: CHUNK,
        cursor: after,
    };
    let rows = AuditEvent::tenant_page(conn, tenant_id.as_str(), w, &page)?;
    audit::describe_audit_events(conn, rows)
}

/// One event as a line of the export (ending in a newline).
pub fn line(format: ExportFormat, e: &AuditEntry) -> String {
    let ev = &e.event;
    let at = crate::domain::clock::rfc3339(ev.at);
    let kind = match e.actor_kind {
        Some(crate::domain::AccountKind::ServiceAccount) => "service_account",
        Some(crate::domain::AccountKind::User) => "person",
        None if ev.actor_id.is_none() => "operator",
        None => "removed_account",
    };
    match format {
        ExportFormat::Csv => {
            let cells = [
                at.as_str(),
                ev.action.as_str(),
                ev.actor_id.as_deref().unwrap_or(""),
                e.actor_name.as_deref().unwrap_or(""),
                kind,
                ev.actor_key_id.as_deref().unwrap_or(""),
                e.key_name.as_deref().unwrap_or(""),
                ev.target_id.as_deref().unwrap_or(""),
                ev.detail.as_str(),
                ev.ip.as_deref().unwrap_or(""),
            ];
            let mut out = cells.map(csv_cell).join(",");
            out.push('\n');
            out
        }
        ExportFormat::JsonLines => {
            let mut out = serde_json::json!({
                "at": at,
                "action": ev.action,
                "actor_id": ev.actor_id,
                "actor": e.actor_name,
                "actor_kind": kind,
                "via_key_id": ev.actor_key_id,
                "via_key": e.key_name,
                "target_id": ev.target_id,
                "detail": ev.detail,
                "ip": ev.ip,
            })
            .to_string();
            out.push('\n');
            out
        }
    }
}

/// The last line when the export stopped at `MAX_ROWS`.
pub fn truncated_note(format: ExportFormat) -> String {
    let note = format!(
        "export stopped at {MAX_ROWS} events (the newest); narrow the filters (days, action) for the rest"
    );
    match format {
        ExportFormat::Csv => format!("# {note}\n"),
        ExportFormat::JsonLines => format!("{}\n", serde_json::json!({ "truncated": note })),
    }
}

/// A CSV cell: quoted when it must be, and with a leading `'` when a spreadsheet would
/// run it (it starts with `=`, `+`, `-`, `@`, a tab or a carriage return).
pub fn csv_cell(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::{csv_cell, ExportFormat};

    #[test]
    fn cells_a_spreadsheet_would_run_are_prefixed_and_quoting_is_csvs() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("-2"), "'-2");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("\tx"), "'\tx");
        assert_eq!(csv_cell("\rx"), "\"'\rx\"");
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(csv_cell(""), "");
    }

    #[test]
    fn formats_are_csv_and_jsonl_only() {
        assert_eq!(ExportFormat::parse("csv"), Ok(ExportFormat::Csv));
        assert_eq!(ExportFormat::parse("jsonl"), Ok(ExportFormat::JsonLines));
        assert!(ExportFormat::parse("xlsx").is_err());
    }
}
