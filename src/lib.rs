//! cspctl: GitOps for Microsoft Partner Center's CSP indirect channel.
//!
//! Map of the crate (functional core first, imperative shell last):
//! - [`manifest`]: YAML manifests → typed objects with positions; JSON Schema.
//! - [`rules`]: the catalogue of Partner Center rules checked at plan time, with
//!   their stable ids and the error codes Partner Center refuses them with.
//! - [`validate`]: rules across objects → [`validate::Desired`].
//! - [`graph`]: the dependency graph (petgraph) and its DOT/Mermaid renderings.
//! - [`live`]: the normalized snapshot of a Partner Center tenant.
//! - [`plan`]: desired + live → an ordered, immutable [`plan::Plan`] (pure), and
//!   [`plan::integrity`]: a saved plan's operations checked against its changes.
//! - [`render`]: plans and drift reports as text, JSON, Markdown (pull-request
//!   comments) and GitHub workflow annotations.
//! - [`drift`]: the drift report (pure).
//! - [`scope`]: what a scoped plan, apply or drift reads and plans (pure).
//! - [`export`]: a live snapshot as manifests (DNS-label names, its own YAML
//!   emitter) and the round trip that plans them against the same snapshot.
//! - [`backend`]: where live state comes from and where operations go: the Partner
//!   Center client, over HTTP (Partner Center, `cspctl sim serve`) or in process
//!   (the local backend, the simulator's tenant kept in a state file), with a
//!   per-run deadline and capped response bodies; `backend::remote` keeps a
//!   backend's files and the apply lock in an object store (`--state-url`).
//! - [`apply`]: executes a plan's actions in dependency order against a backend.
//! - [`sim`]: the Partner Center simulator, the one model of a tenant's behaviour:
//!   served over HTTP, or called in process by the local backend.
//! - [`cli`]: argument parsing, settings, one file per command; `cli::output`
//!   (stdout and stderr that survive a closed pipe) and `cli::signals` (SIGINT and
//!   SIGTERM, the same in every command).
//! - [`time`], [`ids`], [`diagnostic`], [`printable`]: RFC 3339 times, generated
//!   ids, diagnostics and text or JSON safe to print, shared by all of the above;
//!   [`memory`]: how the binaries ask the kernel for memory.
//!
//! Everything up to a rendered plan is deterministic and free of I/O except
//! `manifest::files` (reading manifests) and the backends. `docs/architecture.md`
//! draws the whole.

pub mod apply;
pub mod backend;
pub mod cache;
pub mod cli;
pub mod diagnostic;
pub mod diagnostic_report;
pub mod drift;
pub mod export;
pub mod graph;
pub mod hash;
pub mod ids;
pub mod live;
pub mod manifest;
pub mod memory;
pub mod plan;
pub mod printable;
pub mod render;
pub mod rules;
pub mod scope;
pub mod sim;
pub mod time;
pub mod validate;
