//! Renderers: a [`Plan`] as text for the person who reviews it, as versioned JSON
//! for machines (`plan --out`, CI tooling), as a Markdown pull-request comment, or as
//! GitHub Actions workflow annotations on the manifest lines. Rendering is pure: a plan in, a `String`
//! out, byte-for-byte deterministic, no terminal detection and no environment reads
//! (the caller decides whether `color` is on, e.g. from `NO_COLOR` and `isatty`).
//!
//! Each renderer destructures [`Plan`] and [`crate::plan::Action`] with every field
//! named, so a field added to the plan does not compile until every renderer has
//! decided whether to show it.

pub mod drift;
pub mod github;
pub mod json;
pub mod markdown;
mod pieces;
pub mod sensitive;
pub mod text;

pub use json::render_json;
// Every renderer shows untrusted text through this (see `crate::printable`).
pub use crate::printable::escape_controls;
pub use text::render_text;

use std::collections::HashMap;
use std::io;

use serde_json::Value;

use crate::plan::{Action, ActionType, PartlyKnown, Plan};

/// How `plan` prints its result (`--format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum PlanFormat {
    /// Grouped by customer, for people; coloured when `color` is on.
    Text,
    /// The whole plan as JSON, one action a line (`schemas/plan.schema.json`); never
    /// coloured.
    Json,
    /// A pull-request comment: summary and risks first, details folded, a Mermaid
    /// graph, under GitHub's comment limit; personal data masked.
    Markdown,
    /// GitHub Actions workflow commands: an annotation on the manifest line of each
    /// change; personal data masked.
    Github,
}

/// What a renderer may need besides the plan.
#[derive(Clone, Debug, Default)]
pub struct RenderOptions {
    /// ANSI colours (text format only).
    pub color: bool,
    /// Show personal data (contact names, emails, phone numbers) in the markdown and
    /// github formats, which end up in pull requests; masked otherwise.
    pub show_sensitive: bool,
    /// Where the full JSON plan is (a file or a URL), named when a markdown comment
    /// has to be truncated.
    pub full_plan: Option<String>,
}

/// Renders `plan` in `format`. Only the text format is ever coloured; without
/// `color` the output contains no escape sequences at all.
pub fn render_plan(plan: &Plan, format: PlanFormat, options: &RenderOptions) -> String {
    let mut bytes = Vec::new();
    // Writing to a `Vec` cannot fail.
    write_plan(plan, format, options, &mut bytes).expect("writing to memory");
    String::from_utf8(bytes).expect("every format is UTF-8")
}

/// [`render_plan`] written to `out` as it is rendered: the text, JSON and github
/// formats of a whole tenant's plan are hundreds of megabytes, never held in memory
/// at once (the markdown comment is at most [`markdown::GITHUB_COMMENT_LIMIT`]
/// bytes). The only errors are `out`'s.
pub fn write_plan(
    plan: &Plan,
    format: PlanFormat,
    options: &RenderOptions,
    out: &mut dyn io::Write,
) -> io::Result<()> {
    match format {
        PlanFormat::Text => text::write_text(plan, options.color, out),
        PlanFormat::Json => json::write_json(plan, out),
        PlanFormat::Markdown => out.write_all(
            markdown::render_markdown(
                plan,
                &markdown::MarkdownOptions {
                    show_sensitive: options.show_sensitive,
                    full_plan: options.full_plan.clone(),
                    ..markdown::MarkdownOptions::default()
                },
            )
            .as_bytes(),
        ),
        PlanFormat::Github => github::write_github_plan(plan, options.show_sensitive, out),
    }
}

/// Items by owner: `None` (resellers) first, then customers by first appearance;
/// the given (plan) order is kept inside each group so dependencies still read
/// top-down. Shared by every format, so a plan and a drift report group alike.
pub(crate) fn group_by_owner<T>(
    items: &[T],
    owner: impl Fn(&T) -> Option<&str>,
) -> Vec<(Option<&str>, Vec<&T>)> {
    let mut groups: Vec<(Option<&str>, Vec<&T>)> = Vec::new();
    // Each owner's place in `groups`: a tenant's plan has tens of thousands of them.
    let mut index: HashMap<Option<&str>, usize> = HashMap::new();
    if items.iter().any(|item| owner(item).is_none()) {
        groups.push((None, Vec::new()));
        index.insert(None, 0);
    }
    for item in items {
        let key = owner(item);
        let at = *index.entry(key).or_insert_with(|| {
            groups.push((key, Vec::new()));
            groups.len() - 1
        });
        groups[at].1.push(item);
    }
    groups
}

/// The heading of an owner's group: `Resellers`, or `Customer <name>`. Not escaped:
/// each format escapes for its medium.
pub(crate) fn owner_heading(owner: Option<&str>) -> String {
    match owner {
        None => "Resellers".to_owned(),
        Some(name) => format!("Customer {name}"),
    }
}

/// What an action does, in words: `create`, `set support contact`, `manual step`.
/// The text format says `manual` after its `?` symbol instead.
pub(crate) fn action_label(action_type: ActionType) -> &'static str {
    match action_type {
        ActionType::Create => "create",
        ActionType::Update => "update",
        ActionType::Suspend => "suspend",
        ActionType::Reactivate => "reactivate",
        ActionType::SetSupportContact => "set support contact",
        ActionType::ResetSupportContact => "reset support contact",
        ActionType::Manual => "manual step",
        ActionType::AtRenewal => "at renewal",
        ActionType::Cancel => "cancel",
    }
}

/// One subscription of the renewal calendar, for every format:
/// `2027-01-15 (in 3 days) Subscription/x: 40 seats P1Y, auto-renew on; at renewal: 30 seats`.
/// Escaped by the caller.
pub(crate) fn renewal_line(renewal: &crate::plan::Renewal) -> String {
    let crate::plan::Renewal {
        address,
        subscription_id,
        customer,
        friendly_name,
        renews,
        auto_renew,
        quantity,
        term_duration,
        next_term,
    } = renewal;
    let name = address.clone().unwrap_or_else(|| {
        format!("\"{friendly_name}\" of {customer} ({subscription_id}, unmanaged)")
    });
    let term = term_duration.map_or_else(String::new, |t| format!(" {t:?}"));
    let renewal_kind = match auto_renew {
        Some(true) => "auto-renew on",
        Some(false) => "auto-renew off: ends, does not renew",
        None => "auto-renew unknown",
    };
    let mut line = format!(
        "{} {name}: {quantity} seats{term}, {renewal_kind}",
        renews.describe()
    );
    if let Some(next) = next_term {
        line.push_str(&format!(
            "; at renewal: {} seats {:?} {}",
            next.quantity,
            next.term_duration,
            serde_json::json!(next.billing_cycle)
                .as_str()
                .unwrap_or_default()
        ));
    }
    line
}

/// A plan's actions by owner (see [`group_by_owner`]).
pub(crate) fn action_groups(actions: &[Action]) -> Vec<(Option<&str>, Vec<&Action>)> {
    group_by_owner(actions, |a| a.customer.as_deref())
}

/// A JSON value as a reviewer wants to read it: `(none)` for null, strings bare
/// unless that would hide something (empty, edge spaces, control characters, or the
/// word `(none)` itself: then as a JSON string), everything else as compact JSON.
/// Not escaped: each format escapes for its medium.
pub(crate) fn display_value(value: &Value) -> String {
    match value {
        Value::Null => "(none)".to_owned(),
        Value::String(s) => {
            let ambiguous =
                s.is_empty() || s.trim() != s || s == "(none)" || s.chars().any(char::is_control);
            if ambiguous {
                value.to_string()
            } else {
                s.clone()
            }
        }
        other => other.to_string(),
    }
}

/// How many partly known objects a renderer names per group before "and N more".
pub(crate) const PARTLY_KNOWN_SHOWN: usize = 10;

/// Partly known objects as reader lines, not escaped: one line per distinct reason
/// (the set of unreported fields, or a note such as a purchase in progress), with
/// how many objects share it and the first [`PARTLY_KNOWN_SHOWN`] addresses. Under
/// Partner Center's documented answers every subscription lacks its term and
/// billing cycle, so one line per object would bury the plan.
pub(crate) fn partly_known_lines(partly_known: &[PartlyKnown]) -> Vec<String> {
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for object in partly_known {
        // Every field named: a new one must be placed here (or explicitly skipped).
        let PartlyKnown {
            address,
            // The address names it; the JSON carries the id.
            id: _,
            unknown,
            note,
        } = object;
        let reason = match note {
            Some(note) => note.clone(),
            None => format!(
                "Partner Center did not report {}; not compared",
                unknown.join(", ")
            ),
        };
        match groups.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, addresses)) => addresses.push(address),
            None => groups.push((reason, vec![address])),
        }
    }
    groups
        .into_iter()
        .map(|(reason, addresses)| {
            let mut shown = addresses
                .iter()
                .take(PARTLY_KNOWN_SHOWN)
                .copied()
                .collect::<Vec<_>>()
                .join(", ");
            if addresses.len() > PARTLY_KNOWN_SHOWN {
                shown.push_str(&format!(
                    " and {} more",
                    addresses.len() - PARTLY_KNOWN_SHOWN
                ));
            }
            format!("{reason} ({} object(s)): {shown}", addresses.len())
        })
        .collect()
}
