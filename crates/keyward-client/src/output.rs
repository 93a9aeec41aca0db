//! Tables for people, JSON for scripts, confirmation prompts and key expiry input.

use crate::cli::CliError;
use serde_json::Value;
use std::io::{BufRead, IsTerminal};
use time::format_description::well_known::Rfc3339;
use time::{Date, Duration, OffsetDateTime, Time};

/// Prints `rows` (JSON objects) as a table of `columns` (heading, field); `-` for null.
pub fn table(rows: &[Value], columns: &[(&str, &str)], empty: &str) {
    if rows.is_empty() {
        println!("{empty}");
        return;
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| columns.iter().map(|(_, f)| cell(&row[*f])).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, (h, _))| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([h.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |values: Vec<&str>| {
        let padded: Vec<String> = values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(columns.iter().map(|(h, _)| *h).collect());
    for row in &cells {
        line(row.iter().map(String::as_str).collect());
    }
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        // Times to the minute, in UTC: a table is for reading.
        Value::String(s) => match OffsetDateTime::parse(s, &Rfc3339) {
            Ok(at) => at
                .to_offset(time::UtcOffset::UTC)
                .format(time::macros::format_description!(
                    "[year]-[month]-[day] [hour]:[minute]Z"
                ))
                .unwrap_or_else(|_| s.clone()),
            Err(_) => s.clone(),
        },
        other => other.to_string(),
    }
}

/// Asks on a terminal; with no terminal, `--yes` is required (exit 2 otherwise).
pub fn confirm(yes: bool, what: &str) -> Result<(), CliError> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::usage(format!(
            "refusing to {what} without confirmation: there is no terminal to ask on, so pass --yes"
        )));
    }
    eprint!("{}? [y/N] ", capitalize(what));
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::failure(e.to_string()))?;
    if matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(CliError::usage("not confirmed; nothing was changed"))
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// `--expires-in` (`90m`, `12h`, `30d`, `8w`) or `--expires-at` (RFC 3339 or `YYYY-MM-DD`,
/// midnight UTC) as the RFC 3339 time the server expects; `None` means never.
pub fn expiry(
    expires_in: Option<&str>,
    expires_at: Option<&str>,
    now: OffsetDateTime,
) -> Result<Option<String>, CliError> {
    let at = match (expires_in, expires_at) {
        (None, None) => return Ok(None),
        (Some(d), _) => now + parse_duration(d)?,
        (None, Some(at)) => parse_date(at)?,
    };
    at.format(&Rfc3339)
        .map(Some)
        .map_err(|e| CliError::usage(format!("the expiry time cannot be written: {e}")))
}

fn parse_duration(text: &str) -> Result<Duration, CliError> {
    let bad = || {
        CliError::usage(format!(
            "--expires-in {text:?} is not a duration: use a whole number and a unit, m (minutes), h, d or w, e.g. 30d"
        ))
    };
    let text = text.trim();
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: i64 = number.parse().map_err(|_| bad())?;
    if n <= 0 || n > 100 * 366 * 24 * 60 {
        return Err(bad());
    }
    match unit {
        "m" => Ok(Duration::minutes(n)),
        "h" => Ok(Duration::hours(n)),
        "d" => Ok(Duration::days(n)),
        "w" => Ok(Duration::weeks(n)),
        _ => Err(bad()),
    }
    .and_then(|d| {
        if d > Duration::days(100 * 366) {
            Err(bad())
        } else {
            Ok(d)
        }
    })
}

fn parse_date(text: &str) -> Result<OffsetDateTime, CliError> {
    let text = text.trim();
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(at);
    }
    let day = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text, day)
        .map(|d| d.with_time(Time::MIDNIGHT).assume_utc())
        .map_err(|_| {
            CliError::usage(format!(
                "--expires-at {text:?} is not a date: use YYYY-MM-DD (midnight UTC) or RFC 3339, e.g. 2031-01-01T00:00:00Z"
            ))
        })
}

/// `value` with every time field (a key ending in `_at`) to the whole second in UTC,
/// `2026-12-07T14:25:00Z`: what scripts compare and people read; the server's fractions of
/// a second say nothing a script needs.
pub fn whole_seconds(value: Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.into_iter().map(whole_seconds).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(name, v)| {
                    let v = match v {
                        Value::String(s) if name.ends_with("_at") => {
                            Value::String(to_the_second(&s).unwrap_or(s))
                        }
                        other => whole_seconds(other),
                    };
                    (name, v)
                })
                .collect(),
        ),
        other => other,
    }
}

fn to_the_second(s: &str) -> Option<String> {
    let at = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    at.to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .ok()?
        .format(&Rfc3339)
        .ok()
}
