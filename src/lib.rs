//! cspctl: GitOps for Microsoft Partner Center's CSP indirect channel.
//!
//! Map of the crate (functional core first, imperative shell last):
//! - [`manifest`]: YAML manifests → typed objects with positions; JSON Schema.
//! - [`validate`]: rules across objects → [`validate::Desired`].
//! - [`graph`]: the dependency graph (petgraph) and its DOT/Mermaid renderings.
//! - [`live`]: the normalized snapshot of a Partner Center tenant.
//! - [`plan`]: desired + live → an ordered, immutable [`plan::Plan`] (pure).
//! - [`render`]: plans and drift reports as text, JSON, Markdown (pull-request
//!   comments) and GitHub workflow annotations.
//! - [`backend`]: where live state comes from and where operations go (local state
//!   file, or Partner Center's REST API).
//! - [`apply`]: executes a plan's actions in dependency order against a backend.
//! - [`sim`]: the Partner Center simulator, an HTTP server speaking the same API.
//! - [`cli`]: argument parsing, settings, one file per command.
//! - [`time`], [`ids`]: RFC 3339 times and generated ids, shared by all of the above.
//!
//! Everything up to a rendered plan is deterministic and free of I/O except
//! `manifest::files` (reading manifests) and the backends.

pub mod apply;
pub mod backend;
pub mod cli;
pub mod diagnostic;
pub mod drift;
pub mod export;
pub mod graph;
pub mod ids;
pub mod live;
pub mod manifest;
pub mod plan;
pub mod render;
pub mod sim;
pub mod time;
pub mod validate;
