//! The dependency graph (petgraph): which object or relationship must exist before
//! which. Nodes are the declared objects plus one node per customer–reseller
//! relationship; an edge `a → b` means "a must exist before b":
//!
//! - the associated (first) reseller → the customer (created for that reseller);
//! - customer → relationship(customer, reseller) ← reseller;
//! - customer → subscription; relationship(customer, reseller of record) → subscription;
//! - subscription → support contact; relationship(customer, its reseller) → support contact.
//!
//! Built only from validated manifests (references resolve), so a dangling edge is a
//! bug reported as a diagnostic; a cycle is reported as a diagnostic too. Pure.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Write as _;

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

use crate::diagnostic::Diagnostic;
use crate::hash::{HashMap, map_with_capacity};
use crate::manifest::model::Kind;
use crate::validate::Desired;

/// A node: an object (kind + index into the desired lists) or a relationship.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GraphNode {
    Object(Kind, usize),
    /// Customer index, reseller index.
    Relationship(usize, usize),
}

/// The graph and a node lookup.
#[derive(Clone, Debug)]
pub struct DependencyGraph {
    pub graph: DiGraph<GraphNode, ()>,
    index: HashMap<GraphNode, NodeIndex>,
}

impl DependencyGraph {
    /// Builds the graph. Unresolvable references are diagnostics (they should have
    /// been caught by validation).
    pub fn build(desired: &Desired) -> Result<DependencyGraph, Vec<Diagnostic>> {
        let m = &desired.manifests;
        let mut g = DependencyGraph {
            graph: DiGraph::with_capacity(m.len() * 2, m.len() * 3),
            index: map_with_capacity(m.len() * 2),
        };
        let mut problems = Vec::new();
        for i in 0..m.resellers.len() {
            g.add(GraphNode::Object(Kind::Reseller, i));
        }
        for (c, customer) in m.customers.iter().enumerate() {
            let node = g.add(GraphNode::Object(Kind::Customer, c));
            for (position, reseller) in customer.spec.resellers.iter().enumerate() {
                let Some(&r) = desired.reseller_index.get(reseller) else {
                    problems.push(dangling(
                        &customer.origin,
                        &format!("spec.resellers.{position}"),
                        Kind::Reseller,
                        reseller,
                    ));
                    continue;
                };
                let reseller_node = g.node(GraphNode::Object(Kind::Reseller, r));
                if position == 0 {
                    g.graph.add_edge(reseller_node, node, ());
                }
                let relationship = g.add(GraphNode::Relationship(c, r));
                g.graph.add_edge(node, relationship, ());
                g.graph.add_edge(reseller_node, relationship, ());
            }
        }
        for (s, subscription) in m.subscriptions.iter().enumerate() {
            let node = g.add(GraphNode::Object(Kind::Subscription, s));
            let Some(&c) = desired.customer_index.get(&subscription.spec.customer) else {
                problems.push(dangling(
                    &subscription.origin,
                    "spec.customer",
                    Kind::Customer,
                    &subscription.spec.customer,
                ));
                continue;
            };
            let customer_node = g.node(GraphNode::Object(Kind::Customer, c));
            g.graph.add_edge(customer_node, node, ());
            if let Some(reseller) = &subscription.spec.reseller {
                match desired
                    .reseller_index
                    .get(reseller)
                    .and_then(|&r| g.index.get(&GraphNode::Relationship(c, r)))
                {
                    Some(&relationship) => {
                        g.graph.add_edge(relationship, node, ());
                    }
                    None => problems.push(dangling(
                        &subscription.origin,
                        "spec.reseller",
                        Kind::Reseller,
                        reseller,
                    )),
                }
            }
        }
        for (i, contact) in m.support_contacts.iter().enumerate() {
            let node = g.add(GraphNode::Object(Kind::SupportContact, i));
            let Some(&s) = desired.subscription_index.get(&contact.spec.subscription) else {
                problems.push(dangling(
                    &contact.origin,
                    "spec.subscription",
                    Kind::Subscription,
                    &contact.spec.subscription,
                ));
                continue;
            };
            let subscription_node = g.node(GraphNode::Object(Kind::Subscription, s));
            g.graph.add_edge(subscription_node, node, ());
            let customer = desired
                .customer_index
                .get(&m.subscriptions[s].spec.customer);
            let reseller = desired.reseller_index.get(&contact.spec.reseller);
            match (customer, reseller) {
                (Some(&c), Some(&r)) => match g.index.get(&GraphNode::Relationship(c, r)) {
                    Some(&relationship) => {
                        g.graph.add_edge(relationship, node, ());
                    }
                    None => problems.push(dangling(
                        &contact.origin,
                        "spec.reseller",
                        Kind::Reseller,
                        &contact.spec.reseller,
                    )),
                },
                _ => problems.push(dangling(
                    &contact.origin,
                    "spec.reseller",
                    Kind::Reseller,
                    &contact.spec.reseller,
                )),
            }
        }
        if problems.is_empty() {
            Ok(g)
        } else {
            Err(problems)
        }
    }

    fn add(&mut self, node: GraphNode) -> NodeIndex {
        let index = self.graph.add_node(node);
        self.index.insert(node, index);
        index
    }

    fn node(&self, node: GraphNode) -> NodeIndex {
        self.index[&node]
    }

    /// Nodes in dependency order (Kahn's algorithm, ties broken by insertion order so
    /// the order is deterministic); a cycle is a diagnostic naming its nodes.
    pub fn topological_order(&self, desired: &Desired) -> Result<Vec<NodeIndex>, Vec<Diagnostic>> {
        let mut in_degree: Vec<usize> = self
            .graph
            .node_indices()
            .map(|n| self.graph.edges_directed(n, Direction::Incoming).count())
            .collect();
        let mut ready: BinaryHeap<Reverse<NodeIndex>> = self
            .graph
            .node_indices()
            .filter(|n| in_degree[n.index()] == 0)
            .map(Reverse)
            .collect();
        let mut order = Vec::with_capacity(self.graph.node_count());
        while let Some(Reverse(node)) = ready.pop() {
            order.push(node);
            for edge in self.graph.edges_directed(node, Direction::Outgoing) {
                let target = edge.target();
                in_degree[target.index()] -= 1;
                if in_degree[target.index()] == 0 {
                    ready.push(Reverse(target));
                }
            }
        }
        if order.len() == self.graph.node_count() {
            return Ok(order);
        }
        let cyclic: Vec<String> = self
            .graph
            .node_indices()
            .filter(|n| in_degree[n.index()] > 0)
            .map(|n| address(desired, self.graph[n]))
            .collect();
        Err(vec![Diagnostic::error(
            "dependency-cycle",
            None,
            format!("dependency cycle between: {}", cyclic.join(", ")),
        )])
    }

    /// Predecessors of a node (what must exist before it).
    pub fn prerequisites(&self, node: NodeIndex) -> impl Iterator<Item = NodeIndex> + '_ {
        self.graph.neighbors_directed(node, Direction::Incoming)
    }
}

fn dangling(origin: &crate::manifest::Origin, path: &str, kind: Kind, name: &str) -> Diagnostic {
    Diagnostic::error(
        "dangling-edge",
        Some(origin.value_at(path)),
        format!("dependency on {kind} `{name}` cannot be resolved"),
    )
}

/// The address of a node: `Kind/name`, or `Relationship/<customer>/<reseller>`.
pub fn address(desired: &Desired, node: GraphNode) -> String {
    let m = &desired.manifests;
    match node {
        GraphNode::Object(Kind::Reseller, i) => format!("Reseller/{}", m.resellers[i].name),
        GraphNode::Object(Kind::Customer, i) => format!("Customer/{}", m.customers[i].name),
        GraphNode::Object(Kind::Subscription, i) => {
            format!("Subscription/{}", m.subscriptions[i].name)
        }
        GraphNode::Object(Kind::SupportContact, i) => {
            format!("SupportContact/{}", m.support_contacts[i].name)
        }
        GraphNode::Relationship(c, r) => format!(
            "Relationship/{}/{}",
            m.customers[c].name, m.resellers[r].name
        ),
    }
}

/// Graphviz DOT text of the graph.
pub fn to_dot(graph: &DependencyGraph, desired: &Desired) -> String {
    let mut out = String::from(
        "digraph cspctl {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n",
    );
    for node in graph.graph.node_indices() {
        let shape = match graph.graph[node] {
            GraphNode::Relationship(..) => ", shape=ellipse, style=dashed",
            _ => "",
        };
        let _ = writeln!(
            out,
            "  n{} [label=\"{}\"{shape}];",
            node.index(),
            address(desired, graph.graph[node]).replace('"', "\\\"")
        );
    }
    for edge in graph.graph.edge_indices() {
        if let Some((a, b)) = graph.graph.edge_endpoints(edge) {
            let _ = writeln!(out, "  n{} -> n{};", a.index(), b.index());
        }
    }
    out.push_str("}\n");
    out
}

/// Mermaid flowchart text of the graph.
pub fn to_mermaid(graph: &DependencyGraph, desired: &Desired) -> String {
    let mut out = String::from("flowchart LR\n");
    for node in graph.graph.node_indices() {
        let label = address(desired, graph.graph[node]).replace('"', "#quot;");
        let _ = match graph.graph[node] {
            GraphNode::Relationship(..) => writeln!(out, "  n{}([\"{label}\"])", node.index()),
            _ => writeln!(out, "  n{}[\"{label}\"]", node.index()),
        };
    }
    for edge in graph.graph.edge_indices() {
        if let Some((a, b)) = graph.graph.edge_endpoints(edge) {
            let _ = writeln!(out, "  n{} --> n{}", a.index(), b.index());
        }
    }
    out
}
