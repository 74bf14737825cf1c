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
use std::sync::{Arc, OnceLock};

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

/// The document an object came from, so any of its fields can be located later.
///
/// Only the position of `metadata.name` is kept; other positions are found by parsing
/// the file again, once, when a diagnostic first needs one. Keeping every document's
/// node tree instead would cost hundreds of megabytes for a large tenant, to serve
/// the rare error.
#[derive(Clone, Debug)]
pub struct Origin {
    pub file: FileId,
    /// Index of the document in its file (counting empty ones).
    pub document: usize,
    /// Where `metadata.name`'s value is.
    pub name: Location,
    source: Arc<FileDocuments>,
}

/// A file's text and, once needed, its parsed documents; shared by its objects.
#[derive(Debug)]
pub struct FileDocuments {
    file: FileId,
    text: Arc<str>,
    roots: OnceLock<Vec<Node>>,
}

impl FileDocuments {
    pub fn new(file: FileId, text: Arc<str>) -> Arc<FileDocuments> {
        Arc::new(FileDocuments {
            file,
            text,
            roots: OnceLock::new(),
        })
    }

    pub fn file(&self) -> FileId {
        self.file
    }
}

impl Origin {
    pub fn new(source: &Arc<FileDocuments>, document: usize, name: Location) -> Origin {
        Origin {
            file: source.file,
            document,
            name,
            source: Arc::clone(source),
        }
    }

    fn root(&self) -> Option<&Node> {
        self.source
            .roots
            .get_or_init(|| {
                // The file parsed when it was loaded, so it parses again the same way.
                yaml::parse_documents(&self.source.text, self.file)
                    .map(|documents| documents.into_iter().map(|d| d.root).collect())
                    .unwrap_or_default()
            })
            .get(self.document)
    }

    /// Location of the value at a dotted path such as `spec.resellers.1`; falls back to
    /// the deepest existing node, so a location is always found.
    pub fn value_at(&self, path: &str) -> Location {
        if path == "metadata.name" {
            return self.name;
        }
        match self.root() {
            Some(root) => root.find(&dotted(path)).0.pos.location(self.file),
            None => self.name,
        }
    }

    /// Location of the key of the last path step (e.g. `spec.agreement` → `agreement:`),
    /// or of the value where there is no key.
    pub fn key_at(&self, path: &str) -> Location {
        match self.root() {
            Some(root) => {
                let (node, key) = root.find(&dotted(path));
                key.unwrap_or(node).pos.location(self.file)
            }
            None => self.name,
        }
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

    /// Moves `other`'s objects after this one's, kind by kind.
    pub fn append(&mut self, other: Manifests) {
        self.resellers.extend(other.resellers);
        self.customers.extend(other.customers);
        self.subscriptions.extend(other.subscriptions);
        self.support_contacts.extend(other.support_contacts);
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

/// `work` on `items` in consecutive chunks, one per thread (at most 8, no more than
/// the machine's cores), the results in the chunks' order: the same as one run
/// over all of them, sooner. A panic in `work` is resumed here.
pub(crate) fn in_chunks<T: Sync, R: Send>(items: &[T], work: impl Fn(&[T]) -> R + Sync) -> Vec<R> {
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, 8);
    let chunk = items.len().div_ceil(workers).max(1);
    let work = &work;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|chunk| scope.spawn(move || work(chunk)))
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}
