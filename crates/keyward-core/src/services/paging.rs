//! A keyset page with its total and whether there is more on either side: what every
//! dashboard list shows (keys, service accounts, members, invitations, audit events).

use crate::db::models::api_key_list::KeyPage;
use crate::db::models::paging::Cursor;
use crate::error::AppError;

#[derive(Debug)]
pub struct Keyset<T> {
    pub rows: Vec<T>,
    pub total: i64,
    pub has_newer: bool,
    pub has_older: bool,
}

impl<T> Keyset<T> {
    /// The same page with its rows turned into something else (in one go, so a batch
    /// lookup can describe them all with one query).
    pub fn try_map<U>(
        self,
        f: impl FnOnce(Vec<T>) -> Result<Vec<U>, AppError>,
    ) -> Result<Keyset<U>, AppError> {
        Ok(Keyset {
            rows: f(self.rows)?,
            total: self.total,
            has_newer: self.has_newer,
            has_older: self.has_older,
        })
    }
}

/// Reads `page` with `fetch`, then one row past either end to tell whether Newer and
/// Older lead anywhere: three bounded queries, however deep the page.
pub fn keyset<T, E>(
    page: &KeyPage,
    total: i64,
    mut fetch: impl FnMut(&KeyPage) -> Result<Vec<T>, E>,
    cursor_of: impl Fn(&T) -> Cursor,
) -> Result<Keyset<T>, AppError>
where
    AppError: From<E>,
{
    let rows = fetch(page)?;
    let (has_newer, has_older) = match (rows.first(), rows.last()) {
        (Some(first), Some(last)) => {
            let newer = KeyPage::NewerThan {
                limit: 1,
                cursor: cursor_of(first),
            };
            let older = KeyPage::OlderThan {
                limit: 1,
                cursor: Some(cursor_of(last)),
            };
            (!fetch(&newer)?.is_empty(), !fetch(&older)?.is_empty())
        }
        _ => (false, false),
    };
    Ok(Keyset {
        rows,
        total,
        has_newer,
        has_older,
    })
}
