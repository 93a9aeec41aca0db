//! The cost check every GraphQL document passes before async-graphql sees it, with or
//! without a key: async-graphql's own validation and execution expand each fragment
//! spread again, so a document of a few hundred bytes whose fragments spread each other
//! four times a level costs 4^levels (issue 23). Here each fragment's expanded cost is
//! computed once (memoized) and a document is refused when, expanded, it has
//!
//! - more than `MAX_SELECTIONS` selections (fields, spreads and inline fragments),
//! - fields nested deeper than `MAX_DEPTH`, or selections (fragments included) nested
//!   deeper than `MAX_RECURSION`,
//! - more than `MAX_MUTATIONS` mutation fields in one operation, wherever they stand
//!   (inside inline fragments or spreads, aliased or not),
//! - or a fragment that spreads itself.
//!
//! The walk is linear in the document's text, and its recursion is bounded by
//! `MAX_RECURSION`, so a long chain of fragments cannot overflow the stack either.
//! Rows are bounded separately, by async-graphql's complexity (a list counts its `limit`
//! times its children, see `MAX_COMPLEXITY`), which runs only on documents that pass here.

use crate::graphql::{MAX_DEPTH, MAX_RECURSION};
use async_graphql::parser::types::{
    ExecutableDocument, FragmentDefinition, OperationType, Selection, SelectionSet,
};
use async_graphql::{ErrorExtensionValues, Positioned, ServerError};
use std::collections::{HashMap, HashSet};

/// The most mutation fields one request may carry.
pub const MAX_MUTATIONS: u64 = 10;
/// The most selections a document may have once every fragment is spread. GraphiQL's
/// introspection query has a few hundred; the Prefect client's queries a dozen.
pub const MAX_SELECTIONS: u64 = 5_000;

/// A selection set's cost once expanded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    /// Fields, fragment spreads and inline fragments, each spread counted expanded.
    pub selections: u64,
    /// Fields within fields.
    pub depth: usize,
    /// Selections within selections, fragments included (what the parser's and
    /// async-graphql's recursion limit counts).
    pub nesting: usize,
    /// Fields at this level, through fragments: an operation's root fields.
    pub root_fields: u64,
}

impl Cost {
    fn beside(self, other: Cost) -> Cost {
        Cost {
            selections: self.selections.saturating_add(other.selections),
            depth: self.depth.max(other.depth),
            nesting: self.nesting.max(other.nesting),
            root_fields: self.root_fields.saturating_add(other.root_fields),
        }
    }
}

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Cycle { fragment: String },
    TooNested,
    TooLarge { selections: u64 },
    TooDeep { depth: usize },
    TooManyMutations { mutations: u64 },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Cycle { fragment } => write!(
                f,
                "fragment `{fragment}` spreads itself (directly or through other fragments): remove the cycle"
            ),
            Refusal::TooNested => write!(
                f,
                "this document nests selections (fields, fragment spreads and inline fragments) more than {MAX_RECURSION} levels deep: nest fewer fragments"
            ),
            Refusal::TooLarge { selections } => write!(
                f,
                "this document has {} selections once its fragments are spread; at most {MAX_SELECTIONS} are allowed: spread fragments fewer times or split the query into several requests",
                if *selections == u64::MAX { "more than 18 quintillion".to_string() } else { selections.to_string() }
            ),
            Refusal::TooDeep { depth } => write!(
                f,
                "this document nests fields {depth} levels deep once its fragments are spread; at most {MAX_DEPTH} are allowed: select fewer nested fields"
            ),
            Refusal::TooManyMutations { mutations } => write!(
                f,
                "this request carries {mutations} mutations (counting those inside fragments); at most {MAX_MUTATIONS} are allowed in one request: send the rest in further requests"
            ),
        }
    }
}

impl Refusal {
    pub fn into_server_error(self) -> ServerError {
        bad_user_input(self.to_string())
    }
}

pub fn bad_user_input(message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", "BAD_USER_INPUT");
    error.extensions = Some(extensions);
    error
}

/// Refuses `doc` when any of its operations or fragments, expanded, exceeds a limit.
pub fn check(doc: &ExecutableDocument) -> Result<(), Refusal> {
    let mut walk = Walk {
        doc,
        memo: HashMap::new(),
        spreading: HashSet::new(),
        level: 0,
    };
    for (_, operation) in doc.operations.iter() {
        let cost = walk.selection_set(&operation.node.selection_set.node)?;
        within_limits(cost)?;
        if operation.node.ty == OperationType::Mutation && cost.root_fields > MAX_MUTATIONS {
            return Err(Refusal::TooManyMutations {
                mutations: cost.root_fields,
            });
        }
    }
    // Fragments no operation spreads are still validated by async-graphql.
    for (name, fragment) in &doc.fragments {
        within_limits(walk.fragment(name.as_str(), fragment)?)?;
    }
    Ok(())
}

fn within_limits(cost: Cost) -> Result<(), Refusal> {
    if cost.nesting > MAX_RECURSION {
        return Err(Refusal::TooNested);
    }
    if cost.selections > MAX_SELECTIONS {
        return Err(Refusal::TooLarge {
            selections: cost.selections,
        });
    }
    if cost.depth > MAX_DEPTH {
        return Err(Refusal::TooDeep { depth: cost.depth });
    }
    Ok(())
}

/// A spread or inline fragment: one selection more, one level of nesting more, the same
/// fields.
fn nested(inner: Cost) -> Cost {
    Cost {
        selections: inner.selections.saturating_add(1),
        nesting: inner.nesting + 1,
        ..inner
    }
}

struct Walk<'a> {
    doc: &'a ExecutableDocument,
    /// Each fragment's expanded cost, computed once.
    memo: HashMap<&'a str, Cost>,
    /// The fragments being expanded on the current path, to find cycles.
    spreading: HashSet<&'a str>,
    /// How deep the walk is: above `MAX_RECURSION` the document is refused anyway, so
    /// the walk never recurses further than that.
    level: usize,
}

impl<'a> Walk<'a> {
    fn selection_set(&mut self, set: &'a SelectionSet) -> Result<Cost, Refusal> {
        self.level += 1;
        if self.level > MAX_RECURSION {
            return Err(Refusal::TooNested);
        }
        let mut total = Cost::default();
        for item in &set.items {
            let cost = match &item.node {
                Selection::Field(field) => {
                    let inner = self.selection_set(&field.node.selection_set.node)?;
                    Cost {
                        selections: inner.selections.saturating_add(1),
                        depth: inner.depth + 1,
                        nesting: inner.nesting + 1,
                        // `__typename` beside mutations runs nothing.
                        root_fields: u64::from(!field.node.name.node.starts_with("__")),
                    }
                }
                Selection::InlineFragment(fragment) => {
                    nested(self.selection_set(&fragment.node.selection_set.node)?)
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    match self.doc.fragments.get(name) {
                        Some(fragment) => nested(self.fragment(name, fragment)?),
                        // Reported by validation, which costs nothing here.
                        None => Cost::default(),
                    }
                }
            };
            total = total.beside(cost);
        }
        self.level -= 1;
        Ok(total)
    }

    fn fragment(
        &mut self,
        name: &'a str,
        fragment: &'a Positioned<FragmentDefinition>,
    ) -> Result<Cost, Refusal> {
        if let Some(cost) = self.memo.get(name) {
            return Ok(*cost);
        }
        if !self.spreading.insert(name) {
            return Err(Refusal::Cycle {
                fragment: name.to_string(),
            });
        }
        let cost = self.selection_set(&fragment.node.selection_set.node)?;
        self.spreading.remove(name);
        self.memo.insert(name, cost);
        Ok(cost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;

    fn cost_of(query: &str) -> Result<(), Refusal> {
        check(&parse_query(query).expect("the test document parses"))
    }

    /// `levels` fragments, each spreading the next four times; the last selects `hello`.
    fn fragment_tower(operation: &str, levels: usize) -> String {
        let root = match operation {
            "mutation" => "mutation_root",
            _ => "query_root",
        };
        let mut doc = format!("{operation} {{ ...F1 }}\n");
        for level in 1..levels {
            let next = format!("...F{} ", level + 1).repeat(4);
            doc.push_str(&format!("fragment F{level} on {root} {{ {next}}}\n"));
        }
        doc.push_str(&format!("fragment F{levels} on {root} {{ hello }}\n"));
        doc
    }

    #[test]
    fn a_fragment_tower_is_refused_for_its_expanded_size() {
        for levels in [7, 13, 24, 40] {
            let refusal = cost_of(&fragment_tower("query", levels)).unwrap_err();
            assert!(
                matches!(refusal, Refusal::TooLarge { .. }),
                "{levels}: {refusal}"
            );
        }
        assert_eq!(cost_of(&fragment_tower("query", 6)), Ok(()));
    }

    #[test]
    fn a_fragment_cycle_is_refused() {
        let refusal = cost_of(
            "{ ...A } fragment A on query_root { ...B } fragment B on query_root { hello ...A }",
        )
        .unwrap_err();
        assert!(matches!(refusal, Refusal::Cycle { .. }), "{refusal}");
        let refusal = cost_of("{ hello } fragment A on query_root { ...A }").unwrap_err();
        assert!(matches!(refusal, Refusal::Cycle { .. }), "{refusal}");
    }

    #[test]
    fn mutations_count_inside_inline_fragments_and_spreads() {
        let mut inner = (0..12)
            .map(|i| format!("d{i}: delete_api_key(input: {{key_id: \"x\"}}) {{ success }}"))
            .collect::<Vec<_>>()
            .join(" ");
        for _ in 0..17 {
            inner = format!("... on mutation_root {{ {inner} }}");
        }
        let refusal = cost_of(&format!("mutation {{ {inner} }}")).unwrap_err();
        assert_eq!(refusal, Refusal::TooManyMutations { mutations: 12 });

        let refusal = cost_of(
            "mutation { ...M ...M } fragment M on mutation_root { a: hello b: hello c: hello d: hello e: hello f: hello }",
        )
        .unwrap_err();
        assert_eq!(refusal, Refusal::TooManyMutations { mutations: 12 });
        assert_eq!(
            cost_of(
                "mutation { ...M } fragment M on mutation_root { a: hello b: hello __typename }"
            ),
            Ok(())
        );
    }

    #[test]
    fn a_long_chain_of_fragments_is_refused_without_deep_recursion() {
        let mut doc = String::from("{ ...F0 }\n");
        for i in 0..3_000 {
            doc.push_str(&format!(
                "fragment F{i} on query_root {{ ...F{} }}\n",
                i + 1
            ));
        }
        doc.push_str("fragment F3000 on query_root { hello }\n");
        assert_eq!(cost_of(&doc), Err(Refusal::TooNested));
    }

    #[test]
    fn fields_nested_too_deep_are_refused() {
        let mut doc = String::from("x");
        for _ in 0..20 {
            doc = format!("a {{ {doc} }}");
        }
        let refusal = cost_of(&format!("{{ {doc} }}")).unwrap_err();
        assert_eq!(refusal, Refusal::TooDeep { depth: 21 });
    }
}
