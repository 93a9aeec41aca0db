//! Parsed documents, kept per worker thread and keyed by the exact query text: clients
//! send the same few operations over and over, and parsing is most of what a small
//! query such as `auth_info` costs beyond its key check. Validation, limits and
//! execution still run on every request; only the parse is shared.
//!
//! Bounded: texts above `MAX_QUERY_BYTES` are never kept, and a thread's cache is emptied
//! when it holds `MAX_DOCUMENTS`, so a stream of distinct queries costs what it would
//! without the cache. A document that does not parse is never kept (its error is
//! reported by the schema as before).

use async_graphql::parser::types::ExecutableDocument;
use std::cell::RefCell;
use std::collections::HashMap;

pub const MAX_DOCUMENTS: usize = 64;
pub const MAX_QUERY_BYTES: usize = 4 * 1024;

thread_local! {
    static DOCUMENTS: RefCell<HashMap<String, ExecutableDocument>> = RefCell::new(HashMap::new());
}

/// Gives `request` its parsed document from the cache, or parses it and keeps it.
pub fn attach_parsed(request: &mut async_graphql::Request) {
    if request.query.len() > MAX_QUERY_BYTES {
        return;
    }
    let cached = DOCUMENTS.with(|docs| docs.borrow().get(&request.query).cloned());
    if let Some(document) = cached {
        request.set_parsed_query(document);
        return;
    }
    let Ok(document) = request.parsed_query().cloned() else {
        // Parsed again (and its error reported) by the schema.
        return;
    };
    DOCUMENTS.with(|docs| {
        let mut docs = docs.borrow_mut();
        if docs.len() >= MAX_DOCUMENTS {
            docs.clear();
        }
        docs.insert(request.query.clone(), document);
    });
}
