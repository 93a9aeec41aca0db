//! Parsed documents: every document is parsed here, once, and passes the cost check
//! (`limits::check`) before async-graphql sees it; the schema then validates and executes
//! the parsed document without parsing it again.
//!
//! Parsed documents that passed are kept per worker thread and keyed by the exact query
//! text: clients send the same few operations over and over, and parsing is most of what
//! a small query such as `auth_info` costs beyond its key check. Validation and execution
//! still run on every request. Bounded: texts above `MAX_QUERY_BYTES` are never kept, and
//! a thread's cache is emptied when it holds `MAX_DOCUMENTS`, so a stream of distinct
//! queries costs what it would without the cache. A document that does not parse or is
//! refused is never kept.

use crate::graphql::limits;
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::ServerError;
use std::cell::RefCell;
use std::collections::HashMap;

pub const MAX_DOCUMENTS: usize = 64;
pub const MAX_QUERY_BYTES: usize = 4 * 1024;

thread_local! {
    static DOCUMENTS: RefCell<HashMap<String, ExecutableDocument>> = RefCell::new(HashMap::new());
}

/// Gives `request` its parsed document, from the cache or parsed and checked now; a
/// document that does not parse or costs too much is refused with a `BAD_USER_INPUT`
/// error that says which limit and what to do.
pub fn prepare(request: &mut async_graphql::Request) -> Result<(), ServerError> {
    let cacheable = request.query.len() <= MAX_QUERY_BYTES;
    if cacheable {
        let cached = DOCUMENTS.with(|docs| docs.borrow().get(&request.query).cloned());
        if let Some(document) = cached {
            request.set_parsed_query(document);
            return Ok(());
        }
    }
    // The parser's own recursion limit (64) bounds its stack.
    let document = async_graphql::parser::parse_query(&request.query).map_err(|e| {
        let mut error = ServerError::from(e);
        let mut extensions = async_graphql::ErrorExtensionValues::default();
        extensions.set("code", "BAD_USER_INPUT");
        error.extensions = Some(extensions);
        error
    })?;
    limits::check(&document).map_err(limits::Refusal::into_server_error)?;
    if cacheable {
        DOCUMENTS.with(|docs| {
            let mut docs = docs.borrow_mut();
            if docs.len() >= MAX_DOCUMENTS {
                docs.clear();
            }
            docs.insert(request.query.clone(), document.clone());
        });
    }
    request.set_parsed_query(document);
    Ok(())
}
