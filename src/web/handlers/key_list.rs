//! A key list as pages show it: 50 keys a page, Newer/Older links (keyset cursors on
//! `(created_at, id)`, so page 2,000 costs what page 1 costs), the total, a name search
//! and a filter. Plain links and a GET form: it all works without JavaScript.

use crate::db::models::api_key_list::{contains_pattern, KeyPage, KeyWhere};
use crate::services::key_lists::{KeyFilter, KeysetPage};
use crate::web::views::KeyRow;
use time::{OffsetDateTime, PrimitiveDateTime};

/// Keys a dashboard page shows.
pub const PAGE_SIZE: i64 = 50;

/// `?q=…&filter=…&older=…|newer=…` of a key list.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct KeyListQuery {
    pub q: String,
    pub filter: String,
    pub older: String,
    pub newer: String,
}

fn encode_cursor(at: PrimitiveDateTime, id: &str) -> String {
    format!("{}_{id}", at.assume_utc().unix_timestamp_nanos() / 1_000)
}

/// A cursor from a link; anything else (an edited URL) means the first page.
fn decode_cursor(raw: &str) -> Option<(PrimitiveDateTime, String)> {
    let (micros, id) = raw.trim().split_once('_')?;
    let micros: i128 = micros.parse().ok()?;
    let t = OffsetDateTime::from_unix_timestamp_nanos(micros.checked_mul(1_000)?).ok()?;
    let id = crate::domain::ids::parse_id("cursor", id).ok()?;
    Some((PrimitiveDateTime::new(t.date(), t.time()), id))
}

impl KeyListQuery {
    pub fn filter(&self) -> KeyFilter {
        KeyFilter::parse(&self.filter)
    }

    /// The conditions and the page this query asks for, at `now`.
    pub fn request(&self, now: PrimitiveDateTime) -> (KeyWhere, KeyPage) {
        let mut w = KeyWhere::default();
        let search = self.q.trim();
        if !search.is_empty() {
            w.name_like = Some(contains_pattern(search));
        }
        self.filter().apply(&mut w, now);
        let page = match decode_cursor(&self.newer) {
            Some(cursor) => KeyPage::NewerThan {
                limit: PAGE_SIZE,
                cursor,
            },
            None => KeyPage::OlderThan {
                limit: PAGE_SIZE,
                cursor: decode_cursor(&self.older),
            },
        };
        (w, page)
    }

    /// The search and filter part of a link, `&`-joined, URL-encoded.
    fn kept(&self) -> String {
        let mut pairs = Vec::new();
        if !self.q.trim().is_empty() {
            pairs.push(("q", self.q.trim().to_string()));
        }
        if self.filter() != KeyFilter::All {
            pairs.push(("filter", self.filter().as_str().to_string()));
        }
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

/// One filter choice of the list's select.
pub struct FilterOption {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

/// What `partials/api_keys_list.html` shows.
pub struct KeyListView {
    pub keys: Vec<KeyRow>,
    /// The list's own URL: the search form's action.
    pub list_url: String,
    /// The list's URL with this page's query: where it reloads itself from.
    pub reload_url: String,
    /// "2,418 keys".
    pub total: String,
    pub search: String,
    pub filters: Vec<FilterOption>,
    pub newer_url: Option<String>,
    pub older_url: Option<String>,
    /// Whether any key exists at all without search or filter (for the empty message).
    pub filtered: bool,
    /// A service account's keys: all in its one tenant (no Tenant column), and the empty
    /// message speaks of the account, not of "you".
    pub for_service_account: bool,
}

impl KeyListView {
    pub fn new(list_url: &str, query: &KeyListQuery, page: &KeysetPage, keys: Vec<KeyRow>) -> Self {
        let kept = query.kept();
        let link = |cursor_name: &str, cursor: String| {
            let sep = if kept.is_empty() { "" } else { "&" };
            format!("{list_url}?{kept}{sep}{cursor_name}={cursor}")
        };
        let newer_url = page
            .has_newer
            .then(|| page.keys.first())
            .flatten()
            .map(|l| link("newer", encode_cursor(l.key.created_at, &l.key.id)));
        let older_url = page
            .has_older
            .then(|| page.keys.last())
            .flatten()
            .map(|l| link("older", encode_cursor(l.key.created_at, &l.key.id)));
        let current = serde_urlencoded::to_string([
            ("q", query.q.trim()),
            ("filter", query.filter().as_str()),
            ("older", query.older.as_str()),
            ("newer", query.newer.as_str()),
        ])
        .unwrap_or_default();
        let selected = query.filter();
        Self {
            keys,
            list_url: list_url.to_string(),
            reload_url: format!("{list_url}?{current}"),
            total: count_of(page.total, "key", "keys"),
            search: query.q.trim().to_string(),
            filters: KeyFilter::ALL
                .into_iter()
                .map(|f| FilterOption {
                    value: f.as_str(),
                    label: f.label(),
                    selected: f == selected,
                })
                .collect(),
            newer_url,
            older_url,
            filtered: !query.q.trim().is_empty() || selected != KeyFilter::All,
            for_service_account: false,
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
        let id = "0b7f5e9a-3c1d-4e2f-8a9b-1c2d3e4f5a6b";
        assert_eq!(
            decode_cursor(&encode_cursor(at, id)),
            Some((at, id.to_string()))
        );
        assert_eq!(decode_cursor("12_not-an-id"), None);
        assert_eq!(decode_cursor("x"), None);
    }
}
