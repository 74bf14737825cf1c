//! Renderers: a [`Plan`] as text for the person who reviews it, or as versioned JSON
//! for machines (`plan --out`, CI tooling). Rendering is pure: a plan in, a `String`
//! out, byte-for-byte deterministic, no terminal detection and no environment reads
//! (the caller decides whether `color` is on, e.g. from `NO_COLOR` and `isatty`).
//!
//! Each renderer destructures [`Plan`] and [`crate::plan::Action`] with every field
//! named, so a field added to the plan does not compile until every renderer has
//! decided whether to show it.

pub mod json;
pub mod text;

pub use json::{PLAN_SCHEMA_ID, plan_schema, render_json, schema_to_pretty};
pub use text::render_text;

use crate::plan::Plan;

/// How `plan` prints its result (`--format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum PlanFormat {
    /// Grouped by customer, for people; coloured when `color` is on.
    Text,
    /// The whole plan as pretty JSON (`schemas/plan.schema.json`); never coloured.
    Json,
}

/// Renders `plan` in `format`. `color` adds ANSI colours to the text format only;
/// without it the output contains no escape sequences at all.
pub fn render_plan(plan: &Plan, format: PlanFormat, color: bool) -> String {
    match format {
        PlanFormat::Text => render_text(plan, color),
        PlanFormat::Json => render_json(plan),
    }
}
