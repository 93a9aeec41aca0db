//! Pages of any list shown newest first on `(created_at, id)` (both descending, so an
//! index on `(…, created_at, id)` gives the order): an offset page in any order
//! (GraphQL), or a keyset page just past a row (the dashboard), which costs the same
//! however deep it goes. Every list reuses `KeyPage` and this one macro.

use time::PrimitiveDateTime;

/// Where a keyset page starts: the `(created_at, id)` of a row of the newest-first order.
pub type Cursor = (PrimitiveDateTime, String);

/// Applies a `KeyPage` to a boxed query whose rows have the `$at` time and `$id` column.
/// `|q, order| …` orders an offset page. Evaluates to `(query, reverse)`: a page of newer
/// rows is read oldest first, so the caller reverses it.
macro_rules! paged {
    ($q:expr, $page:expr, $at:expr, $id:expr, |$oq:ident, $order:ident| $offset_ordered:expr) => {{
        use $crate::db::models::api_key_list::KeyPage;
        match $page {
            KeyPage::Offset {
                limit,
                offset,
                order,
            } => {
                let ($oq, $order) = ($q, *order);
                ($offset_ordered.limit(*limit).offset(*offset), false)
            }
            KeyPage::OlderThan { limit, cursor } => {
                // `at <= X AND (at < X OR id < Y)`: the first term bounds an index range
                // on (…, at, id); both columns run the same way, so the index gives the
                // order and the page reads `limit` rows however deep it is.
                let q = match cursor {
                    Some((at, id)) => {
                        $q.filter($at.le(*at).and($at.lt(*at).or($id.lt(id.clone()))))
                    }
                    None => $q,
                };
                (q.order(($at.desc(), $id.desc())).limit(*limit), false)
            }
            KeyPage::NewerThan {
                limit,
                cursor: (at, id),
            } => (
                $q.filter($at.ge(*at).and($at.gt(*at).or($id.gt(id.clone()))))
                    .order(($at.asc(), $id.asc()))
                    .limit(*limit),
                true,
            ),
        }
    }};
}
pub(crate) use paged;
