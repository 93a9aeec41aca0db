//! A key list as pages show it: 50 keys a page, Newer/Older links (keyset cursors on
//! `(created_at, id)`, so page 2,000 costs what page 1 costs), the total, a name search
//! and a filter. Plain links and a GET form: it all works without JavaScript.

use crate::db::models::api_key_list::{KeyPage, KeyWhere};
use crate::services::key_lists::{KeyFilter, KeysetPage};
use crate::web::handlers::list_page::{page_request, search_pattern, Links, ListFrame};
use crate::web::views::KeyRow;
use time::PrimitiveDateTime;

/// `?q=…&filter=…&older=…|newer=…` of a key list.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct KeyListQuery {
    pub q: String,
    pub filter: String,
    pub older: String,
    pub newer: String,
}

impl KeyListQuery {
    pub fn filter(&self) -> KeyFilter {
        KeyFilter::parse(&self.filter)
    }

    /// The conditions and the page this query asks for, at `now`.
    pub fn request(&self, now: PrimitiveDateTime) -> (KeyWhere, KeyPage) {
        let mut w = KeyWhere {
            name_like: search_pattern(&self.q),
            ..KeyWhere::default()
        };
        self.filter().apply(&mut w, now);
        (w, page_request(&self.older, &self.newer))
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
    pub filters: Vec<FilterOption>,
    /// Search, total and Newer/Older.
    pub frame: ListFrame,
    /// A service account's keys: all in its one tenant (no Tenant column), and the empty
    /// message speaks of the account, not of "you".
    pub for_service_account: bool,
}

impl KeyListView {
    pub fn new(list_url: &str, query: &KeyListQuery, page: &KeysetPage, keys: Vec<KeyRow>) -> Self {
        let selected = query.filter();
        let filter = if selected == KeyFilter::All {
            String::new()
        } else {
            selected.as_str().to_string()
        };
        let links = Links {
            list_url,
            kept: vec![("q", query.q.trim().to_string()), ("filter", filter)],
            older: "older",
            newer: "newer",
        };
        let frame = ListFrame::new(
            "api-keys",
            &links,
            &query.q,
            "key names",
            page,
            |l| (l.key.created_at, l.key.id.clone()),
            ("key", "keys"),
            selected != KeyFilter::All,
        );
        let current = serde_urlencoded::to_string([
            ("q", query.q.trim()),
            ("filter", selected.as_str()),
            ("older", query.older.as_str()),
            ("newer", query.newer.as_str()),
        ])
        .unwrap_or_default();
        Self {
            keys,
            list_url: list_url.to_string(),
            reload_url: format!("{list_url}?{current}"),
            filters: KeyFilter::ALL
                .into_iter()
                .map(|f| FilterOption {
                    value: f.as_str(),
                    label: f.label(),
                    selected: f == selected,
                })
                .collect(),
            frame,
            for_service_account: false,
        }
    }
}
