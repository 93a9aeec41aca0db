//! What every dashboard list shares: 50 rows a page, Newer/Older links carrying keyset
//! cursors on `(created_at, id)` (page 2,000 costs what page 1 costs), the total ("2,418
//! keys") and a search box. Plain links and GET forms, so it all works without
//! JavaScript. Shown by the macros of `partials/list_frame.html`.

use crate::db::models::api_key_list::{contains_pattern, KeyPage};
use crate::db::models::paging::Cursor;
use crate::services::paging::Keyset;
use time::{OffsetDateTime, PrimitiveDateTime};

/// Rows a dashboard list shows a page.
pub const PAGE_SIZE: i64 = 50;

fn encode_cursor((at, id): &Cursor) -> String {
    format!("{}_{id}", at.assume_utc().unix_timestamp_nanos() / 1_000)
}

/// A cursor from a link; anything else (an edited URL) means the first page.
fn decode_cursor(raw: &str) -> Option<Cursor> {
    let (micros, id) = raw.trim().split_once('_')?;
    let micros: i128 = micros.parse().ok()?;
    let t = OffsetDateTime::from_unix_timestamp_nanos(micros.checked_mul(1_000)?).ok()?;
    let id = crate::domain::ids::parse_id("cursor", id).ok()?;
    Some((PrimitiveDateTime::new(t.date(), t.time()), id))
}

/// The page the `older` / `newer` cursors of a link ask for (neither: the first).
pub fn page_request(older: &str, newer: &str) -> KeyPage {
    match decode_cursor(newer) {
        Some(cursor) => KeyPage::NewerThan {
            limit: PAGE_SIZE,
            cursor,
        },
        None => KeyPage::OlderThan {
            limit: PAGE_SIZE,
            cursor: decode_cursor(older),
        },
    }
}

/// The typed search as a "contains" pattern, or nothing.
pub fn search_pattern(q: &str) -> Option<String> {
    Some(q.trim())
        .filter(|s| !s.is_empty())
        .map(contains_pattern)
}

/// `?q=…&older=…|newer=…`: the search and the position of a team list.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct ListQuery {
    pub q: String,
    pub older: String,
    pub newer: String,
}

impl ListQuery {
    pub fn page(&self) -> KeyPage {
        page_request(&self.older, &self.newer)
    }
}

/// The frame around a list: search box, total, Newer/Older links.
pub struct ListFrame {
    /// The prefix of the frame's element ids (`api-keys` → `api-keys-older`).
    pub id: &'static str,
    /// The list's own URL: the search form's action.
    pub list_url: String,
    pub search: String,
    /// What the search box searches, for its placeholder and label.
    pub search_label: &'static str,
    /// "2,418 keys".
    pub total: String,
    pub newer_url: Option<String>,
    pub older_url: Option<String>,
    /// Whether a search or filter narrows the list (for the empty message).
    pub filtered: bool,
}

/// How a list's links are made: its URL, what they keep (search, filter) and the names
/// of their cursor parameters.
pub struct Links<'a> {
    pub list_url: &'a str,
    pub kept: Vec<(&'static str, String)>,
    pub older: &'static str,
    pub newer: &'static str,
}

impl<'a> Links<'a> {
    /// The links of a list that keeps only its search.
    pub fn searched(list_url: &'a str, q: &str) -> Self {
        Self {
            list_url,
            kept: vec![("q", q.trim().to_string())],
            older: "older",
            newer: "newer",
        }
    }

    /// `kept` without empty values, URL-encoded.
    fn kept(&self) -> String {
        let pairs: Vec<_> = self.kept.iter().filter(|(_, v)| !v.is_empty()).collect();
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }

    fn link(&self, name: &str, cursor: &Cursor) -> String {
        let kept = self.kept();
        let sep = if kept.is_empty() { "" } else { "&" };
        format!(
            "{}?{kept}{sep}{name}={}",
            self.list_url,
            encode_cursor(cursor)
        )
    }
}

impl ListFrame {
    #[allow(clippy::too_many_arguments)]
    pub fn new<T>(
        id: &'static str,
        links: &Links<'_>,
        search: &str,
        search_label: &'static str,
        page: &Keyset<T>,
        cursor_of: impl Fn(&T) -> Cursor,
        (one, many): (&str, &str),
        filtered: bool,
    ) -> Self {
        Self {
            id,
            list_url: links.list_url.to_string(),
            search: search.trim().to_string(),
            search_label,
            total: count_of(page.total, one, many),
            newer_url: page
                .has_newer
                .then(|| page.rows.first())
                .flatten()
                .map(|r| links.link(links.newer, &cursor_of(r))),
            older_url: page
                .has_older
                .then(|| page.rows.last())
                .flatten()
                .map(|r| links.link(links.older, &cursor_of(r))),
            filtered: filtered || !search.trim().is_empty(),
        }
    }
}

/// `1 key`, `2,418 keys`.
pub fn count_of(n: i64, one: &str, many: &str) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{grouped} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(count_of(1, "key", "keys"), "1 key");
        assert_eq!(count_of(0, "key", "keys"), "0 keys");
        assert_eq!(count_of(2418, "key", "keys"), "2,418 keys");
        assert_eq!(count_of(100_001, "key", "keys"), "100,001 keys");
    }

    #[test]
    fn cursors_survive_a_link_and_edited_ones_mean_the_first_page() {
        let at = crate::domain::clock::parse_rfc3339_utc("2031-01-01T01:02:03.456789Z").unwrap();
        let id = "0b7f5e9a-3c1d-4e2f-8a9b-1c2d3e4f5a6b".to_string();
        let cursor = (at, id);
        assert_eq!(decode_cursor(&encode_cursor(&cursor)), Some(cursor));
        assert_eq!(decode_cursor("12_not-an-id"), None);
        assert_eq!(decode_cursor("x"), None);
    }
}
