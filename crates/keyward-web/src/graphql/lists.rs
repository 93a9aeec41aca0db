//! What every list field shares, Hasura style: `limit` / `offset` (at most `MAX_ROWS` rows
//! an answer), comparison inputs for `where`, `order_by` directions and the
//! `<list>_aggregate { aggregate { count } }` answer.

use crate::db::models::api_key_list::{KeyOrder, KeyOrderField, KeyPage};
use crate::error::{AppError, GraphqlAnswer};
use crate::graphql::scalars::DateTime;
use async_graphql::{Enum, InputObject, SimpleObject};
use time::PrimitiveDateTime;

/// The most rows one list field answers, and its default `limit`.
pub const MAX_ROWS: i64 = 1_000;
/// The deepest `offset` a list accepts (Elasticsearch's `max_result_window`): a page
/// at offset n reads the n rows before it, so deeper pages are asked for with a `where`
/// on the order's column instead, which an index answers at any depth.
pub const MAX_OFFSET: i64 = 10_000;

/// A list's `limit` and `offset`, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub limit: i64,
    pub offset: i64,
}

impl Window {
    pub fn parse(limit: Option<i32>, offset: Option<i32>) -> Result<Self, AppError> {
        let limit = match limit {
            None => MAX_ROWS,
            Some(n) if n < 0 => return Err(AppError::invalid("limit", "must be 0 or more")),
            Some(n) if i64::from(n) > MAX_ROWS => {
                return Err(AppError::invalid(
                    "limit",
                    format!(
                    "must be at most {MAX_ROWS}, the most rows one list answers; page with offset"
                ),
                ))
            }
            Some(n) => i64::from(n),
        };
        let offset = match offset {
            None => 0,
            Some(n) if n < 0 => return Err(AppError::invalid("offset", "must be 0 or more")),
            Some(n) if i64::from(n) > MAX_OFFSET => {
                return Err(AppError::invalid(
                    "offset",
                    format!(
                        "must be at most {MAX_OFFSET}: to read further, continue from the last row you have with a `where` on the order's column instead of an offset (for example `order_by: {{created_at: desc}}, where: {{created_at: {{_lt: <its created_at>}}}}`), or narrow the list with a filter"
                    ),
                ))
            }
            Some(n) => i64::from(n),
        };
        Ok(Self { limit, offset })
    }

    /// The rows a list may answer with this `limit` argument, for complexity: what it
    /// asks for, never more than `MAX_ROWS` (a larger one is refused anyway).
    pub fn rows(limit: Option<i32>) -> usize {
        limit.map_or(MAX_ROWS, |n| i64::from(n).clamp(0, MAX_ROWS)) as usize
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "order_by", rename_items = "lowercase")]
pub enum OrderBy {
    Asc,
    Desc,
}

impl OrderBy {
    pub fn descending(self) -> bool {
        self == OrderBy::Desc
    }
}

/// The first sort key given (each `order_by` item offers its fields), or newest first.
pub fn first_order<const N: usize>(
    items: impl IntoIterator<Item = [(KeyOrderField, Option<OrderBy>); N]>,
) -> KeyOrder {
    items
        .into_iter()
        .find_map(|fields| {
            fields.into_iter().find_map(|(field, dir)| {
                dir.map(|d| KeyOrder {
                    field,
                    descending: d.descending(),
                })
            })
        })
        .unwrap_or_default()
}

/// A list field's `limit`, `offset` and order as a page, checked.
pub fn offset_page(
    limit: Option<i32>,
    offset: Option<i32>,
    order: KeyOrder,
) -> async_graphql::Result<KeyPage> {
    let window = Window::parse(limit, offset).map_err(AppError::into_graphql)?;
    Ok(KeyPage::Offset {
        limit: window.limit,
        offset: window.offset,
        order,
    })
}

/// `{ _eq, _ilike }`. Nullable, because clients pass `String` variables that may be
/// null; a null comparison matches everything, as in Hasura.
#[derive(InputObject, Default)]
#[graphql(name = "String_comparison_exp")]
pub struct StringComparison {
    #[graphql(name = "_eq")]
    pub eq: Option<String>,
    /// A LIKE pattern (`%` any text, `_` one character), case-insensitive.
    #[graphql(name = "_ilike")]
    pub ilike: Option<String>,
}

impl StringComparison {
    pub fn eq_of(c: &Option<StringComparison>) -> Option<String> {
        c.as_ref().and_then(|c| c.eq.clone())
    }
    pub fn ilike_of(c: &Option<StringComparison>) -> Option<String> {
        c.as_ref().and_then(|c| c.ilike.clone())
    }
}

/// `{ _lt, _gt, _is_null }` on a time.
#[derive(InputObject, Default)]
#[graphql(name = "DateTime_comparison_exp")]
pub struct TimeComparison {
    #[graphql(name = "_lt")]
    pub lt: Option<DateTime>,
    #[graphql(name = "_gt")]
    pub gt: Option<DateTime>,
    #[graphql(name = "_is_null")]
    pub is_null: Option<bool>,
}

impl TimeComparison {
    pub fn parts(
        c: &Option<TimeComparison>,
    ) -> (
        Option<PrimitiveDateTime>,
        Option<PrimitiveDateTime>,
        Option<bool>,
    ) {
        match c {
            Some(c) => (
                c.lt.as_ref().map(|t| t.0),
                c.gt.as_ref().map(|t| t.0),
                c.is_null,
            ),
            None => (None, None, None),
        }
    }
}

/// `<list>_aggregate { aggregate { count } }`.
#[derive(SimpleObject)]
#[graphql(name = "aggregate", rename_fields = "snake_case")]
pub struct Aggregate {
    pub aggregate: AggregateFields,
}

#[derive(SimpleObject)]
#[graphql(name = "aggregate_fields", rename_fields = "snake_case")]
pub struct AggregateFields {
    /// How many rows match the `where`, on every page.
    pub count: i64,
}

impl Aggregate {
    pub fn count(count: i64) -> Self {
        Self {
            aggregate: AggregateFields { count },
        }
    }
}
