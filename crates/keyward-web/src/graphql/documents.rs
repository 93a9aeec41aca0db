//! Parsed documents: every document is parsed here, once, and passes the cost check
//! (`limits::check`) before async-graphql sees it; the schema then validates and executes
//! the parsed document without parsing it again.
//!
//! Parsed documents that passed are kept per worker thread and keyed by the exact query
//! text: clients send the same few operations over and over, and parsing is most of what
//! a small query such as `auth_info` costs beyond its key check. Bounded: texts above
//! `MAX_QUERY_BYTES` are never kept, and a thread's cache is emptied when it holds
//! `MAX_DOCUMENTS`, so a stream of distinct queries costs what it would without the cache.
//! A document that does not parse or is refused is never kept.
//!
//! Validation is kept too, for documents without variables: whether such a document
//! passes GraphQL's rules depends on its text alone, so once one has (its request got
//! data back, which async-graphql gives only after validation), later requests with it
//! run on `Schemas::validated`, which skips those rules but still checks what can change
//! per request (complexity, depth). A document with variables (a `$limit`) is validated
//! in full on every request, since the rules read the variables' values.

use crate::graphql::limits;
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::ServerError;
use std::cell::RefCell;
use std::collections::HashMap;

pub const MAX_DOCUMENTS: usize = 64;
pub const MAX_QUERY_BYTES: usize = 4 * 1024;

struct Kept {
    document: ExecutableDocument,
    /// No operation declares variables: validity depends on the text alone.
    variable_free: bool,
    /// A request with it got data back, so it passed validation.
    validated: bool,
}

thread_local! {
    static DOCUMENTS: RefCell<HashMap<String, Kept>> = RefCell::new(HashMap::new());
}

/// What `prepare` knows of a document's validation.
#[derive(Debug)]
pub enum Validation {
    /// It passed before: run it on `Schemas::validated`.
    Passed,
    /// Not known: run it on `Schemas::strict`; with `Some(text)`, call `passed(text)`
    /// when the request got data back.
    Needed(Option<String>),
}

/// Gives `request` its parsed document, from the cache or parsed and checked now; a
/// document that does not parse or costs too much is refused with a `BAD_USER_INPUT`
/// error that says which limit and what to do.
pub fn prepare(request: &mut async_graphql::Request) -> Result<Validation, ServerError> {
    let cacheable = request.query.len() <= MAX_QUERY_BYTES;
    if cacheable {
        let cached = DOCUMENTS.with(|docs| {
            docs.borrow()
                .get(&request.query)
                .map(|kept| (kept.document.clone(), kept.variable_free, kept.validated))
        });
        if let Some((document, variable_free, validated)) = cached {
            request.set_parsed_query(document);
            return Ok(match (variable_free, validated) {
                (true, true) => Validation::Passed,
                (true, false) => Validation::Needed(Some(request.query.clone())),
                (false, _) => Validation::Needed(None),
            });
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
    let variable_free = document
        .operations
        .iter()
        .all(|(_, operation)| operation.node.variable_definitions.is_empty());
    let validation =
        Validation::Needed((cacheable && variable_free).then(|| request.query.clone()));
    if cacheable {
        DOCUMENTS.with(|docs| {
            let mut docs = docs.borrow_mut();
            if docs.len() >= MAX_DOCUMENTS {
                docs.clear();
            }
            docs.insert(
                request.query.clone(),
                Kept {
                    document: document.clone(),
                    variable_free,
                    validated: false,
                },
            );
        });
    }
    request.set_parsed_query(document);
    Ok(validation)
}

/// Records that the variable-free document `text` passed validation on this thread.
pub fn passed(text: &str) {
    DOCUMENTS.with(|docs| {
        if let Some(kept) = docs.borrow_mut().get_mut(text) {
            kept.validated = true;
        }
    });
}
