//! Validation: the JSON Schema pass happens while loading (`manifest::load`); this
//! module adds the rules across objects (`rules`) and produces [`Desired`], the
//! checked model with resolved references that the graph and planner consume.

pub mod rules;

use crate::diagnostic::{Diagnostic, Problems};
use crate::hash::{HashMap, map_with_capacity};
use crate::manifest::Manifests;
use crate::manifest::load::{SchemaValidators, load_manifests_keeping};
use crate::manifest::source::SourceMap;

pub use rules::check_rules;

/// Manifests that passed every check, with name → index maps for each kind.
#[derive(Clone, Debug, Default)]
pub struct Desired {
    pub manifests: Manifests,
    pub reseller_index: HashMap<String, usize>,
    pub customer_index: HashMap<String, usize>,
    pub subscription_index: HashMap<String, usize>,
    /// The dependency graph and its order, once [`validate`] has built them.
    pub graph: Option<(
        crate::graph::DependencyGraph,
        Vec<petgraph::graph::NodeIndex>,
    )>,
}

impl Desired {
    /// Builds the indices. Callers run [`check_rules`] first; unresolved names are
    /// simply absent from the maps.
    pub fn new(manifests: Manifests) -> Self {
        fn index<S>(objects: &[crate::manifest::Object<S>]) -> HashMap<String, usize> {
            let mut map = map_with_capacity(objects.len());
            for (i, o) in objects.iter().enumerate() {
                map.entry(o.name.clone()).or_insert(i);
            }
            map
        }
        Desired {
            reseller_index: index(&manifests.resellers),
            customer_index: index(&manifests.customers),
            subscription_index: index(&manifests.subscriptions),
            graph: None,
            manifests,
        }
    }
}

/// Runs the cross-object rules and checks the dependency graph; returns the desired
/// model when there is no error.
pub fn validate(manifests: Manifests) -> Result<(Desired, Vec<Diagnostic>), Vec<Diagnostic>> {
    let desired = Desired::new(manifests);
    let mut desired = desired;
    let mut diagnostics = check_rules(&desired);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(diagnostics);
    }
    // The graph must be buildable and acyclic; its problems are diagnostics too. It is
    // kept for the planner, which needs the same graph.
    match crate::graph::DependencyGraph::build(&desired).and_then(|graph| {
        graph
            .topological_order(&desired)
            .map(|order| (graph, order))
    }) {
        Ok(graph) => desired.graph = Some(graph),
        Err(problems) => {
            diagnostics.extend(problems);
            return Err(diagnostics);
        }
    }
    Ok((desired, diagnostics))
}

#[cfg(test)]
mod tests;

/// Manifests already read (`sources`, and the problems reading them) parsed,
/// schema-checked and rule-checked: the desired model with its warnings, or every
/// problem found, sorted by position, the first `limit` kept and the rest counted
/// (`usize::MAX` keeps all). What `validate`, `plan`, `apply` and `drift` do with
/// files, and `export` with the manifests it wrote.
pub fn check_sources(
    sources: &SourceMap,
    problems: Vec<Diagnostic>,
    limit: usize,
) -> Result<(Desired, Problems), Problems> {
    let (manifests, mut found) = load_manifests_keeping(sources, &SchemaValidators::new(), limit);
    found.extend(problems, sources);
    if found.errors() > 0 {
        return Err(found.finish(sources));
    }
    match validate(manifests) {
        Ok((desired, warnings)) => {
            found.extend(warnings, sources);
            Ok((desired, found.finish(sources)))
        }
        Err(rule_problems) => {
            found.extend(rule_problems, sources);
            Err(found.finish(sources))
        }
    }
}
