//! Manifests: the model (`model`), its JSON Schema (`schema`), YAML with positions
//! (`yaml`), text → typed objects (`load`, pure) and reading files from disk
//! (`files`, the only I/O here).

pub mod files;
pub mod load;
pub mod model;
pub mod schema;
pub mod source;
pub mod yaml;

use crate::manifest::model::{
    CustomerSpec, Kind, ResellerSpec, SubscriptionSpec, SupportContactSpec,
};
use crate::manifest::source::{FileId, Location};
use crate::manifest::yaml::{Node, PathSegment};

/// A typed manifest object and where it was written.
#[derive(Clone, Debug)]
pub struct Object<S> {
    pub name: String,
    pub spec: S,
    pub origin: Origin,
}

impl<S> Object<S> {
    pub fn new(name: String, spec: S, origin: Origin) -> Self {
        Object { name, spec, origin }
    }
}

/// The document an object came from, kept so any field can be located later.
#[derive(Clone, Debug)]
pub struct Origin {
    pub file: FileId,
    pub root: Node,
}

impl Origin {
    /// Location of the value at a dotted path such as `spec.resellers.1`; falls back to
    /// the deepest existing node, so a location is always found.
    pub fn value_at(&self, path: &str) -> Location {
        let (node, _) = self.root.find(&dotted(path));
        node.pos.location(self.file)
    }

    /// Location of the key of the last path step (e.g. `spec.agreement` → `agreement:`),
    /// or of the value where there is no key.
    pub fn key_at(&self, path: &str) -> Location {
        let (node, key) = self.root.find(&dotted(path));
        key.unwrap_or(node).pos.location(self.file)
    }
}

fn dotted(path: &str) -> Vec<PathSegment> {
    path.split('.')
        .filter(|s| !s.is_empty())
        .map(|s| match s.parse::<usize>() {
            Ok(index) => PathSegment::Index(index),
            Err(_) => PathSegment::Key(s.to_owned()),
        })
        .collect()
}

/// Every object of a run, by kind, in file order.
#[derive(Clone, Debug, Default)]
pub struct Manifests {
    pub resellers: Vec<Object<ResellerSpec>>,
    pub customers: Vec<Object<CustomerSpec>>,
    pub subscriptions: Vec<Object<SubscriptionSpec>>,
    pub support_contacts: Vec<Object<SupportContactSpec>>,
}

impl Manifests {
    pub fn len(&self) -> usize {
        self.resellers.len()
            + self.customers.len()
            + self.subscriptions.len()
            + self.support_contacts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counts per kind, for summaries.
    pub fn counts(&self) -> [(Kind, usize); 4] {
        [
            (Kind::Reseller, self.resellers.len()),
            (Kind::Customer, self.customers.len()),
            (Kind::Subscription, self.subscriptions.len()),
            (Kind::SupportContact, self.support_contacts.len()),
        ]
    }
}
