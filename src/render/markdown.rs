//! The plan as a Markdown pull-request comment, for a reviewer who has seconds.
//!
//! Top to bottom, most important first:
//! 1. a hidden marker (`<!-- cspctl:plan -->`, so CI finds and updates its previous
//!    comment instead of adding one per push), a heading, [`Plan::summary_line`] and
//!    a table of the non-zero counts;
//! 2. what a reviewer must not miss, as GitHub alerts: purchases, cost increases,
//!    suspensions, irreversible and customer-visible changes, and Partner Center's
//!    warnings, each a capped list of addresses with a one-line reason;
//! 3. the manual steps (instructions, link) and what the blocked actions wait for;
//! 4. every action with its field changes, folded per owner (resellers first, then
//!    customers by first appearance, as the text format groups them);
//! 5. a Mermaid graph of the actions (the changed objects) and their dependencies,
//!    as far as GitHub draws one ([`GRAPH_MAX_EDGES`]);
//! 6. the unmanaged objects, folded, and a footer naming the backend.
//!
//! GitHub refuses a comment over [`GITHUB_COMMENT_LIMIT`] characters, and a refused
//! comment shows nothing at all. So the output never exceeds `max_len` bytes (bytes ≥
//! characters): when the whole plan does not fit, sections 1–3 are kept (their lists
//! shortened if they must), the graph gets a share of the rest ([`GRAPH_SHARE`]),
//! then as many detail blocks as fit, in order; the unmanaged list goes first, and a
//! notice at the very end says what was left out and where the full plan is. Only
//! what is shown is rendered: a whole tenant's plan has a hundred thousand actions,
//! the comment a few hundred.
//!
//! Everything from manifests or Partner Center (names, values, instructions) is
//! untrusted: in text it is written with HTML entities for every character that
//! Markdown or HTML would read as syntax, inside code spans with a long enough
//! backtick fence, in Mermaid labels with Mermaid's `#code;` entities; control and
//! bidirectional-formatting characters are shown escaped (`\n`, `\u{202e}`). No line
//! ever starts with untrusted text, so none can open a heading, a list, an HTML
//! block or a fence. Personal data is masked unless asked for ([`super::sensitive`]).
//! Rendering is pure and deterministic: no clock, no environment.

use std::fmt::Write as _;

use serde_json::Value;

use super::{escape_controls, sensitive};
use crate::plan::{
    Action, ActionStatus, ActionType, FieldChange, PartlyKnown, Plan, Precondition, Risk,
    SourceRef, Summary, Unmanaged,
};

/// GitHub's limit on the body of an issue or pull-request comment, in characters.
pub const GITHUB_COMMENT_LIMIT: usize = 65_535;

/// The comment's first line: CI looks for it to update its previous comment.
pub const MARKER: &str = "<!-- cspctl:plan -->";

const HEADING: &str = "## cspctl plan";

/// Items per attention or manual-steps list, tried in order until sections 1–3 fit.
const LIST_CAPS: [usize; 5] = [25, 10, 5, 1, 0];

/// The most edges GitHub draws in a Mermaid diagram (Mermaid's `maxEdges`): a larger
/// one shows an error instead of a graph. The comment's graph stops before it.
pub const GRAPH_MAX_EDGES: usize = 500;

/// Mermaid's `maxTextSize`, in characters: a longer diagram is not drawn either.
const GRAPH_MAX_TEXT: usize = 50_000;

/// When the comment must be truncated, the graph gets at most this share (1/N) of
/// what the top sections leave, and the details the rest.
const GRAPH_SHARE: usize = 4;

/// Unmanaged objects listed, tried in order until the list fits; their count is
/// in the table anyway, so a list of none is left out rather than shown.
const UNMANAGED_CAPS: [usize; 2] = [50, 10];

/// Field changes named in a one-line reason, and the characters of each value.
const REASON_CHANGES: usize = 3;
const REASON_VALUE_CHARS: usize = 80;

/// Dependencies named per action in the details.
const DEPENDS_CAP: usize = 10;

/// How a markdown plan is rendered.
#[derive(Clone, Debug)]
pub struct MarkdownOptions {
    /// Show contact names, emails and phone numbers instead of masking them.
    pub show_sensitive: bool,
    /// Where the full plan is (a path or a URL), named when the comment is truncated.
    pub full_plan: Option<String>,
    /// The longest output, in bytes.
    pub max_len: usize,
}

impl Default for MarkdownOptions {
    fn default() -> MarkdownOptions {
        MarkdownOptions {
            show_sensitive: false,
            full_plan: None,
            max_len: GITHUB_COMMENT_LIMIT,
        }
    }
}

/// Renders the plan as a pull-request comment of at most `options.max_len` bytes.
/// Deterministic byte for byte; ends with a newline (unless `max_len` is too small
/// for even the heading, when the output is cut to `max_len`).
pub fn render_markdown(plan: &Plan, options: &MarkdownOptions) -> String {
    let MarkdownOptions {
        show_sensitive,
        full_plan,
        max_len,
    } = options;
    // Every field named: a new one must be placed here (or explicitly skipped).
    let Plan {
        // Versions the JSON contract; meaningless to a reader.
        format_version: _,
        backend,
        // What apply PLANFILE opens; the description above names it for a reader.
        backend_settings: _,
        summary,
        actions,
        unmanaged,
        partly_known,
        // The ids behind the reseller names the changes show, and the file's
        // digest: for apply to check (`plan::integrity`), not for a reader.
        resellers: _,
        // Shown under the summary line, by `head` and `no_changes`.
        cost: _,
        // Shown under the summary line, by `head` and `no_changes`.
        scope: _,
        digest: _,
        renewals,
    } = plan;
    let (show, max_len) = (*show_sensitive, *max_len);

    if actions.is_empty() {
        return no_changes(plan, unmanaged, partly_known, max_len);
    }

    let mut head = head(plan, summary);
    head.push_str(&partly_known_note(partly_known));
    head.push_str(&renewals_section(renewals));
    let footer = footer(backend, full_plan.as_deref());
    // Nothing below renders more than fits: a whole tenant's plan has a hundred
    // thousand actions, and the comment shows a few hundred. Items are formatted
    // only while they may still fit (see `GroupBlock::fitting`), the alerts and
    // manual steps only as many as are listed, the graph only as far as it is drawn.
    let blocks: Vec<GroupBlock> = super::action_groups(actions)
        .into_iter()
        .map(|(owner, group)| GroupBlock::new(owner, group, show))
        .collect();
    let graph = Graph::of(actions);
    let whole_graph = graph.render(GRAPH_MAX_TEXT);
    let unmanaged_whole = unmanaged_list(unmanaged, UNMANAGED_CAPS[0]);

    // The whole comment, when it fits: a part costs its length and a separating
    // newline, so the parts fit when their costs add up to at most `max_len + 1`.
    let top_whole = [
        head.clone(),
        attention(actions, show, LIST_CAPS[0]),
        manual_steps(actions, LIST_CAPS[0]),
    ];
    let fixed_whole: usize = top_whole.iter().map(|p| Parts::cost(p)).sum::<usize>()
        + Parts::cost(DETAILS_HEADING)
        + Parts::cost(&whole_graph)
        + Parts::cost(&unmanaged_whole)
        + Parts::cost(&footer);
    if let Some(mut budget) = (max_len + 1).checked_sub(fixed_whole) {
        let mut details = Vec::new();
        for block in &blocks {
            let (text, shown) = block.fitting(budget);
            if shown < block.len() {
                break;
            }
            budget -= Parts::cost(&text);
            details.push(text);
        }
        if details.len() == blocks.len() {
            let mut whole = Parts::default();
            for part in top_whole {
                whole.push(part);
            }
            whole.push(DETAILS_HEADING.to_owned());
            for block in details {
                whole.push(block);
            }
            whole.push(whole_graph);
            whole.push(unmanaged_whole);
            whole.push(footer);
            return whole.finish();
        }
    }

    // Too long: sections 1–3, then a share of the rest for the graph, then the
    // details in order while they fit, then what else fits; the notice is reserved
    // for at its longest.
    let customers = blocks.iter().filter(|b| b.owner.is_some()).count();
    let reserve = Parts::cost(&notice(
        &Omitted {
            actions: actions.len(),
            customers,
            graph: true,
            unmanaged: true,
            shortened: true,
        },
        actions.len(),
        customers,
        max_len,
        full_plan.as_deref(),
    ));
    let fixed = Parts::cost(&head) + Parts::cost(&footer) + reserve;
    let top = LIST_CAPS.iter().find_map(|&cap| {
        let attention = attention(actions, show, cap);
        let manual = manual_steps(actions, cap);
        let cost = fixed + Parts::cost(&attention) + Parts::cost(&manual);
        let budget = max_len.checked_sub(cost)?;
        Some((cap, attention, manual, budget))
    });
    let Some((cap, attention, manual, mut budget)) = top else {
        // Not even the top sections fit: the heading and the notice, cut if need be.
        let omitted = Omitted {
            actions: actions.len(),
            customers,
            graph: true,
            unmanaged: !unmanaged.is_empty(),
            shortened: true,
        };
        let mut parts = Parts::default();
        parts.push(format!(
            "{MARKER}\n{HEADING}\n\n**{}**\n",
            plan.summary_line()
        ));
        parts.push(notice(
            &omitted,
            actions.len(),
            customers,
            max_len,
            full_plan.as_deref(),
        ));
        return cut(parts.finish(), max_len);
    };

    let mut omitted = Omitted {
        actions: 0,
        customers: 0,
        graph: false,
        unmanaged: false,
        shortened: cap < LIST_CAPS[0],
    };
    // The graph's share first, so that details cannot crowd it out.
    let graph_budget = budget / GRAPH_SHARE;
    let graph = if Parts::cost(&whole_graph) <= graph_budget {
        whole_graph
    } else {
        graph.render(graph_budget.saturating_sub(1))
    };
    omitted.graph = graph.is_empty();
    budget -= Parts::cost(&graph);
    let mut details = Vec::new();
    let mut fits = budget >= Parts::cost(DETAILS_HEADING);
    if fits {
        // Reserved whether or not a block follows; pushed only if one does.
        budget -= Parts::cost(DETAILS_HEADING);
    }
    for block in &blocks {
        if fits {
            let (text, shown) = block.fitting(budget);
            if shown > 0 {
                budget -= Parts::cost(&text);
                details.push(text);
            }
            if shown == block.len() {
                continue;
            }
            fits = false;
            omitted.actions += block.len() - shown;
        } else {
            omitted.actions += block.len();
        }
        omitted.customers += usize::from(block.owner.is_some());
    }
    let fitting = UNMANAGED_CAPS
        .iter()
        .map(|&cap| (cap, unmanaged_list(unmanaged, cap)))
        .find(|(_, list)| Parts::cost(list) <= budget);
    omitted.unmanaged = !unmanaged.is_empty() && fitting.is_none();
    omitted.shortened |= fitting
        .as_ref()
        .is_some_and(|(cap, _)| *cap < unmanaged.len() && *cap < UNMANAGED_CAPS[0]);
    let unmanaged = fitting.map(|(_, list)| list).unwrap_or_default();

    let mut parts = Parts::default();
    parts.push(head);
    parts.push(attention);
    parts.push(manual);
    if !details.is_empty() {
        parts.push(DETAILS_HEADING.to_owned());
    }
    for block in details {
        parts.push(block);
    }
    parts.push(graph);
    parts.push(unmanaged);
    parts.push(footer);
    parts.push(notice(
        &omitted,
        actions.len(),
        customers,
        max_len,
        full_plan.as_deref(),
    ));
    // The budget above makes this a no-op; it is the guarantee, not the plan.
    cut(parts.finish(), max_len)
}

/// Sections joined by blank lines; each section ends with a newline.
#[derive(Default)]
struct Parts {
    parts: Vec<String>,
}

impl Parts {
    /// Empty sections are skipped, so optional ones need no `if`.
    fn push(&mut self, part: String) {
        if !part.is_empty() {
            self.parts.push(part);
        }
    }

    /// What a section adds to the output at most: itself and a blank line.
    fn cost(part: &str) -> usize {
        if part.is_empty() { 0 } else { part.len() + 1 }
    }

    fn finish(self) -> String {
        self.parts.join("\n")
    }
}

/// `text` cut to at most `max_len` bytes, on a character boundary.
fn cut(mut text: String, max_len: usize) -> String {
    if text.len() > max_len {
        let mut end = max_len;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

fn no_changes(
    plan: &Plan,
    unmanaged: &[Unmanaged],
    partly_known: &[PartlyKnown],
    max_len: usize,
) -> String {
    let head = format!(
        "{MARKER}\n{HEADING}\n\n{}\n{}{}",
        plan.summary_line(),
        scope_and_cost(plan),
        partly_known_note(partly_known) + &renewals_section(&plan.renewals)
    );
    let budget = max_len.saturating_sub(Parts::cost(&head));
    let list = UNMANAGED_CAPS
        .iter()
        .map(|&cap| unmanaged_list(unmanaged, cap))
        .find(|list| Parts::cost(list) <= budget)
        .unwrap_or_default();
    let mut parts = Parts::default();
    parts.push(head);
    parts.push(list);
    cut(parts.finish(), max_len)
}

/// The renewal calendar (`--renewals`), as a short list (empty when not asked
/// for or nothing renews in the period): a reviewer sees "this renews in 3 days
/// with 40 seats" next to the changes.
pub(crate) fn renewals_section(renewals: &[crate::plan::Renewal]) -> String {
    if renewals.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n**Renewals** in the period:\n\n");
    for renewal in renewals {
        let _ = writeln!(out, "- {}", text(&super::renewal_line(renewal)));
    }
    out
}

/// What was compared only in part, as a short paragraph (empty when nothing was):
/// a reviewer must know that "no changes" did not look at those fields.
fn partly_known_note(partly_known: &[PartlyKnown]) -> String {
    if partly_known.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n**Partly known** (not compared):\n\n");
    for line in super::partly_known_lines(partly_known) {
        let _ = writeln!(out, "- {}", text(&line));
    }
    out
}

/// Marker, heading, summary line and the non-zero counts.
/// What a scoped plan left out, and what the read cost (on Partner Center), each
/// as its own paragraph, so a reviewer sees what was not refreshed and what the
/// plan spent of the partner's request budget.
fn scope_and_cost(plan: &Plan) -> String {
    let scope = plan
        .scope
        .as_ref()
        .map(|scope| format!("\n{}\n", text(&scope.line())))
        .unwrap_or_default();
    let cost = plan
        .cost
        .as_ref()
        .map(|cost| format!("\n{}\n", text(&cost.line())))
        .unwrap_or_default();
    scope + &cost
}

fn head(plan: &Plan, summary: &Summary) -> String {
    let Summary {
        // The rows add up to it; the summary line says it again.
        total: _,
        by_type,
        by_status,
        unmanaged,
        // Told in its own paragraph, after the table.
        partly_known: _,
    } = summary;
    let mut out = format!(
        "{MARKER}\n{HEADING}\n\n**{}**\n{}\n| Change | Count |\n| :-- | --: |\n",
        plan.summary_line(),
        scope_and_cost(plan)
    );
    for action_type in ActionType::ALL {
        let n = by_type.get(&action_type).copied().unwrap_or(0);
        if n > 0 {
            let _ = writeln!(out, "| {} | {n} |", super::action_label(action_type));
        }
    }
    let manual_steps = by_type.get(&ActionType::Manual).copied().unwrap_or(0);
    for (status, label) in [
        (ActionStatus::Manual, "other changes waiting on a person"),
        (ActionStatus::Blocked, "blocked by a manual step"),
    ] {
        let mut n = by_status.get(&status).copied().unwrap_or(0);
        if status == ActionStatus::Manual {
            // Manual steps are counted above; only other types waiting are news.
            n = n.saturating_sub(manual_steps);
        }
        if n > 0 {
            let _ = writeln!(out, "| {label} | {n} |");
        }
    }
    if *unmanaged > 0 {
        let _ = writeln!(out, "| unmanaged objects (left alone) | {unmanaged} |");
    }
    out
}

/// One alert: how loudly, why its actions are listed, and one line per action.
struct Callout {
    alert: &'static str,
    title: &'static str,
    why: &'static str,
    /// The first `cap` lines (only those are formatted), and how many there are.
    items: Vec<String>,
    total: usize,
}

impl Callout {
    fn of(
        (alert, title, why): (&'static str, &'static str, &'static str),
        actions: &[Action],
        cap: usize,
        filter: impl Fn(&Action) -> bool,
        reason: impl Fn(&Action) -> String,
    ) -> Callout {
        let mut items = Vec::new();
        let mut total = 0;
        for action in actions.iter().filter(|a| filter(a)) {
            if total < cap {
                items.push(format!("{}: {}", code(&action.address), reason(action)));
            }
            total += 1;
        }
        Callout {
            alert,
            title,
            why,
            items,
            total,
        }
    }
}

/// Section 2: the alerts, each list capped at `cap` items. Empty when nothing
/// needs a second look.
fn attention(actions: &[Action], show: bool, cap: usize) -> String {
    let has = |a: &Action, risk: Risk| a.risks.contains(&risk);
    let callouts = [
        Callout::of(
            (
                "CAUTION",
                "Purchases",
                "each places an order the customer is billed for.",
            ),
            actions,
            cap,
            |a| has(a, Risk::Purchase),
            |a| purchase_reason(a, show),
        ),
        // A purchase raises the bill by definition; listed once, above.
        Callout::of(
            ("WARNING", "Cost increases", "the customer is billed more."),
            actions,
            cap,
            |a| has(a, Risk::CostIncrease) && !has(a, Risk::Purchase),
            |a| cost_reason(a, show),
        ),
        Callout::of(
            (
                "CAUTION",
                "Suspensions",
                "the customer loses the use of these subscriptions.",
            ),
            actions,
            cap,
            |a| a.action_type == ActionType::Suspend,
            |a| changes_reason(a, show),
        ),
        Callout::of(
            (
                "CAUTION",
                "Irreversible",
                "cannot be undone through the API.",
            ),
            actions,
            cap,
            |a| has(a, Risk::Irreversible),
            |a| changes_reason(a, show),
        ),
        // Purchases, suspensions and irreversible changes are listed louder above.
        Callout::of(
            (
                "IMPORTANT",
                "Customer-visible",
                "the customer notices (access, licenses, tenant, support).",
            ),
            actions,
            cap,
            |a| {
                has(a, Risk::CustomerVisible)
                    && !has(a, Risk::Purchase)
                    && !has(a, Risk::Irreversible)
                    && a.action_type != ActionType::Suspend
            },
            |a| changes_reason(a, show),
        ),
        Callout {
            alert: "WARNING",
            title: "Warnings",
            why: "what Partner Center will do that a reviewer may not expect.",
            items: actions
                .iter()
                .flat_map(|a| {
                    a.warnings
                        .iter()
                        .map(move |w| format!("{}: {}", code(&a.address), text(w)))
                })
                .take(cap)
                .collect(),
            total: actions.iter().map(|a| a.warnings.len()).sum(),
        },
    ];
    let blocks: Vec<String> = callouts
        .iter()
        .filter(|c| c.total > 0)
        .map(|c| {
            let mut out = format!(
                "> [!{}]\n> **{} ({})**: {}\n",
                c.alert, c.title, c.total, c.why
            );
            push_capped(&mut out, "> ", &c.items, c.total, cap);
            out
        })
        .collect();
    if blocks.is_empty() {
        return String::new();
    }
    format!("### Needs attention\n\n{}", blocks.join("\n"))
}

/// `- item` lines, at most `cap` of them, then `- and N more` of the `total`
/// (`items` holds at least the first `cap`, or all of them).
fn push_capped(out: &mut String, prefix: &str, items: &[String], total: usize, cap: usize) {
    for item in items.iter().take(cap) {
        let _ = writeln!(out, "{prefix}- {item}");
    }
    if total > cap {
        let _ = writeln!(out, "{prefix}- and {} more", total - cap);
    }
}

/// `10 × OFFER, term P1Y, monthly billing`, from the action's changes.
fn purchase_reason(action: &Action, show: bool) -> String {
    let after = |path: &str| {
        action
            .changes
            .iter()
            .find(|c| c.path == path && !c.after.is_null())
            .map(|c| sensitive::shown(&c.path, &c.after, show))
    };
    let mut parts = Vec::new();
    match (after("quantity"), after("offerId")) {
        (Some(q), Some(o)) => parts.push(format!(
            "{} × {}",
            value_text(&q),
            code(&super::display_value(&o))
        )),
        (None, Some(o)) => parts.push(code(&super::display_value(&o))),
        (Some(q), None) => parts.push(format!("quantity {}", value_text(&q))),
        (None, None) => {}
    }
    if let Some(term) = after("termDuration") {
        parts.push(format!("term {}", value_text(&term)));
    }
    if let Some(cycle) = after("billingCycle") {
        parts.push(format!("{} billing", value_text(&cycle)));
    }
    if parts.is_empty() {
        return changes_reason(action, show);
    }
    parts.join(", ")
}

/// The quantity change when there is one (`quantity 5 → 10`), else the changes.
fn cost_reason(action: &Action, show: bool) -> String {
    match action.changes.iter().find(|c| c.path == "quantity") {
        Some(change) => change_line(change, false, show),
        None => changes_reason(action, show),
    }
}

/// The verb and the first few changes, the telling ones first.
fn changes_reason(action: &Action, show: bool) -> String {
    const TELLING: [&str; 6] = [
        "domain",
        "companyName",
        "offerId",
        "quantity",
        "status",
        "friendlyName",
    ];
    let creates = creates(action);
    // The telling fields when the action has any (a new customer is its domain and
    // name, not its contact's email), in that order; else the first changes.
    let telling: Vec<&FieldChange> = TELLING
        .iter()
        .filter_map(|t| action.changes.iter().find(|c| c.path == *t))
        .collect();
    let named: Vec<&FieldChange> = if telling.is_empty() {
        action.changes.iter().collect()
    } else {
        telling
    };
    let mut shown: Vec<String> = named
        .iter()
        .take(REASON_CHANGES)
        .map(|c| change_line(c, creates, show))
        .collect();
    let more = action.changes.len() - shown.len();
    if more > 0 {
        let noun = if more == 1 { "field" } else { "fields" };
        shown.push(format!("{more} more {noun}"));
    }
    let verb = super::action_label(action.action_type);
    if shown.is_empty() {
        verb.to_owned()
    } else {
        format!("{verb}: {}", shown.join("; "))
    }
}

/// Section 3: actions waiting on a person, and what the blocked ones wait for.
fn manual_steps(actions: &[Action], cap: usize) -> String {
    let manual: Vec<&Action> = actions
        .iter()
        .filter(|a| a.status == ActionStatus::Manual)
        .collect();
    let blocked: Vec<&Action> = actions
        .iter()
        .filter(|a| a.status == ActionStatus::Blocked)
        .collect();
    if manual.is_empty() && blocked.is_empty() {
        return String::new();
    }
    let mut out = String::from("### Manual steps\n\n");
    let _ = write!(out, "{} waiting on a person", count(manual.len(), "action"));
    if !blocked.is_empty() {
        let _ = write!(
            out,
            "; {} blocked until then (they run once the steps are done and the plan is made again)",
            count(blocked.len(), "action")
        );
    }
    out.push_str(".\n\n");
    let items: Vec<String> = manual
        .iter()
        .take(cap)
        .map(|a| {
            let mut item = code(&a.address);
            if a.action_type != ActionType::Manual {
                let _ = write!(item, " ({})", super::action_label(a.action_type));
            }
            if let Some(instructions) = &a.instructions {
                let _ = write!(item, ": {}", text(instructions));
            }
            if let Some(url) = &a.url {
                let _ = write!(item, " {}", link(url));
            }
            item
        })
        .collect();
    push_capped(&mut out, "", &items, manual.len(), cap);
    if !blocked.is_empty() {
        if !manual.is_empty() {
            out.push('\n');
        }
        let _ = writeln!(out, "**Blocked ({}):**\n", blocked.len());
        let items: Vec<String> = blocked
            .iter()
            .take(cap)
            .map(|a| {
                let waiting: Vec<String> = a
                    .depends_on
                    .iter()
                    .filter(|d| {
                        actions
                            .iter()
                            .any(|b| &b.address == *d && b.status != ActionStatus::Ready)
                    })
                    .map(|d| code(d))
                    .collect();
                match (waiting.is_empty(), &a.instructions) {
                    (false, _) => format!("{} waits for {}", code(&a.address), waiting.join(", ")),
                    (true, Some(instructions)) => {
                        format!("{}: {}", code(&a.address), text(instructions))
                    }
                    (true, None) => format!("{} waits for a manual step", code(&a.address)),
                }
            })
            .collect();
        push_capped(&mut out, "", &items, blocked.len(), cap);
    }
    out
}

const DETAILS_HEADING: &str = "### Changes\n";

/// One owner's folded block: its opening line, and its actions, formatted only as
/// far as they are shown ([`GroupBlock::fitting`]).
struct GroupBlock<'a> {
    owner: Option<&'a str>,
    open: String,
    actions: Vec<&'a Action>,
    show: bool,
}

const CLOSE: &str = "\n</details>\n";

impl<'a> GroupBlock<'a> {
    fn new(owner: Option<&'a str>, group: Vec<&'a Action>, show: bool) -> GroupBlock<'a> {
        let heading = text(&super::owner_heading(owner));
        let n = |f: &dyn Fn(&Action) -> bool| group.iter().filter(|a| f(a)).count();
        let mut notes = Vec::new();
        for (number, what) in [
            (n(&|a| a.risks.contains(&Risk::Purchase)), "purchase"),
            (n(&|a| a.action_type == ActionType::Suspend), "suspension"),
            (
                n(&|a| a.risks.contains(&Risk::Irreversible)),
                "irreversible",
            ),
        ] {
            if number > 0 {
                notes.push(if what == "irreversible" {
                    format!("{number} {what}")
                } else {
                    count(number, what)
                });
            }
        }
        let manual = n(&|a| a.status == ActionStatus::Manual);
        if manual > 0 {
            notes.push(format!("{manual} waiting on a person"));
        }
        let blocked = n(&|a| a.status == ActionStatus::Blocked);
        if blocked > 0 {
            notes.push(format!("{blocked} blocked"));
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", notes.join(", "))
        };
        // The blank line after `</summary>` lets GitHub render the Markdown inside.
        let open = format!(
            "<details><summary>{heading} — {}{notes}</summary>\n\n",
            count(group.len(), "change")
        );
        GroupBlock {
            owner,
            open,
            actions: group,
            show,
        }
    }

    fn len(&self) -> usize {
        self.actions.len()
    }

    /// The block with `items`, the first of its actions, and a line saying how
    /// many more there are when that is not all of them.
    fn with(&self, items: &[String]) -> String {
        let mut out = self.open.clone();
        for item in items {
            out.push_str(item);
        }
        if items.len() < self.len() {
            out.push_str(&self.more(self.len() - items.len()));
        }
        out.push_str(CLOSE);
        out
    }

    fn more(&self, left_out: usize) -> String {
        format!(
            "- and {} of this group, left out to fit (see the end of this comment)\n",
            count(left_out, "more action")
        )
    }

    /// The whole block when it fits in `budget` bytes (as a [`Parts`] cost), else
    /// as many actions as fit with the "and N more" line; and how many actions that
    /// is (`(_, 0)` when not even one fits). Actions are formatted only while they
    /// may still fit.
    fn fitting(&self, budget: usize) -> (String, usize) {
        let whole_overhead = Parts::cost(&self.open) + CLOSE.len();
        let mut items = Vec::new();
        let mut used = whole_overhead;
        for action in &self.actions {
            if used > budget {
                break;
            }
            let item = action_item(action, self.show);
            used += item.len();
            items.push(item);
        }
        if items.len() == self.len() && used <= budget {
            return (self.with(&items), items.len());
        }
        // The "and N more" line is at its longest with N = all of them.
        let mut used = whole_overhead + self.more(self.len()).len();
        let mut shown = 0;
        for item in &items {
            if used + item.len() > budget {
                break;
            }
            used += item.len();
            shown += 1;
        }
        if shown == 0 {
            return (String::new(), 0);
        }
        (self.with(&items[..shown]), shown)
    }
}

/// One action: verb, address, status and risks, where it is declared, then its
/// changes, dependencies, warnings and instructions as a nested list.
fn action_item(action: &Action, show: bool) -> String {
    // Every field named: a new one must be placed here (or explicitly skipped).
    let Action {
        address,
        // Already the group heading.
        customer: _,
        action_type,
        status,
        depends_on,
        changes,
        risks,
        // The applying account's concern, not the reviewer's; in the text format.
        roles: _,
        instructions,
        url,
        warnings,
        // The machine-readable ids of what `warnings` say, for programs (JSON).
        rules: _,
        source,
        // Read through `creates`: whether the object exists decides the change form.
        precondition: _,
        // The raw request; the field changes say the same for a reviewer.
        operation: _,
        renewal,
    } = action;
    let label = match (action_type, renewal) {
        (ActionType::AtRenewal, Some(renewal)) => {
            format!("at renewal on {}", renewal.describe())
        }
        _ => super::action_label(*action_type).to_owned(),
    };
    let mut out = format!("- **{label}** {}", code(address));
    match status {
        ActionStatus::Ready => {}
        ActionStatus::Manual if *action_type == ActionType::Manual => {}
        ActionStatus::Manual => out.push_str(" (waiting on a person)"),
        ActionStatus::Blocked => out.push_str(" (blocked)"),
    }
    if !risks.is_empty() {
        let labels: Vec<String> = risks.iter().map(|r| r.as_str().replace('_', " ")).collect();
        let _ = write!(out, " — {}", labels.join(", "));
    }
    if let Some(SourceRef {
        file,
        line,
        column: _,
    }) = source
    {
        let _ = write!(out, " · {}", code(&format!("{file}:{line}")));
    }
    out.push('\n');
    let creates = creates(action);
    for change in changes {
        let _ = writeln!(out, "  - {}", change_line(change, creates, show));
    }
    if !depends_on.is_empty() {
        let mut names: Vec<String> = depends_on
            .iter()
            .take(DEPENDS_CAP)
            .map(|d| code(d))
            .collect();
        if depends_on.len() > DEPENDS_CAP {
            names.push(format!("{} more", depends_on.len() - DEPENDS_CAP));
        }
        let _ = writeln!(out, "  - after {}", names.join(", "));
    }
    for warning in warnings {
        let _ = writeln!(out, "  - **warning:** {}", text(warning));
    }
    if let Some(instructions) = instructions {
        let _ = writeln!(out, "  - **to do:** {}", text(instructions));
    }
    if let Some(url) = url {
        let _ = writeln!(out, "  - link: {}", link(url));
    }
    out
}

/// Whether the live object does not exist yet, so there is no "before" worth showing.
fn creates(action: &Action) -> bool {
    action.action_type == ActionType::Create
        || matches!(
            action.precondition,
            Some(Precondition {
                fingerprint: None,
                ..
            })
        )
}

/// `` `path` = after`` for a new object, `` `path`: before → after`` otherwise;
/// personal values masked unless `show`, long values shortened.
fn change_line(change: &FieldChange, creates: bool, show: bool) -> String {
    let FieldChange {
        path,
        before,
        after,
    } = change;
    let (before, after) = sensitive::shown_pair(path, before, after, show);
    if creates {
        format!("{} = {}", code(path), value_text(&after))
    } else {
        format!(
            "{}: {} → {}",
            code(path),
            value_text(&before),
            value_text(&after)
        )
    }
}

/// A value for a Markdown line: [`display`]ed, shortened, escaped.
fn value_text(value: &Value) -> String {
    let shown = super::display_value(value);
    let mut chars = shown.chars();
    let short: String = chars.by_ref().take(REASON_VALUE_CHARS).collect();
    if chars.next().is_some() {
        format!("{}…", text(&short))
    } else {
        text(&short)
    }
}

/// Section 5: the actions and their dependencies as a Mermaid flowchart. A plan
/// holds only what changes, so this is the graph of the changed objects; a large
/// one is drawn as far as GitHub draws it ([`GRAPH_MAX_EDGES`], Mermaid's text
/// limit) and the comment allows, in plan order, saying what was left out.
struct Graph<'a> {
    actions: &'a [Action],
    /// Each dependency that is in the plan, `(from, to)` as action indices, in the
    /// order they are drawn: by dependent action, then as it lists them.
    edges: Vec<(usize, usize)>,
    /// The order actions join a graph that cannot show them all ([`Graph::units`]).
    units: Vec<Vec<usize>>,
    /// Each action's edges: the action at the other end and the edge's line length.
    neighbours: Vec<Vec<(usize, usize)>>,
}

const GRAPH_OPEN: &str = "### Graph\n\n```mermaid\nflowchart LR\n";
const GRAPH_CLOSE: &str = "```\n";

impl<'a> Graph<'a> {
    fn of(actions: &'a [Action]) -> Graph<'a> {
        // The first action of each address, as a search in plan order finds it.
        let index: std::collections::HashMap<&str, usize> = actions
            .iter()
            .enumerate()
            .map(|(i, a)| (a.address.as_str(), i))
            .rev()
            .collect();
        let edges: Vec<(usize, usize)> = actions
            .iter()
            .enumerate()
            .flat_map(|(i, action)| {
                let index = &index;
                action
                    .depends_on
                    .iter()
                    .filter_map(move |d| index.get(d.as_str()).map(|&j| (j, i)))
            })
            .collect();
        let mut neighbours: Vec<Vec<(usize, usize)>> = vec![Vec::new(); actions.len()];
        for &(from, to) in &edges {
            let bytes = edge_line(from, to).len();
            neighbours[from].push((to, bytes));
            if to != from {
                neighbours[to].push((from, bytes));
            }
        }
        Graph {
            actions,
            units: Self::units(actions, &index),
            edges,
            neighbours,
        }
    }

    /// The order actions join a graph that cannot show them all: customer by
    /// customer (as the details are grouped), each action after what it depends on,
    /// then the rest (resellers no shown action needs). In units: an action with
    /// its dependencies not yet in, which join together or not at all.
    fn units(
        actions: &[Action],
        index: &std::collections::HashMap<&str, usize>,
    ) -> Vec<Vec<usize>> {
        let groups = super::action_groups(actions);
        let mut taken = vec![false; actions.len()];
        let mut units = Vec::new();
        let owned = groups.iter().filter(|(owner, _)| owner.is_some());
        let unowned = groups.iter().filter(|(owner, _)| owner.is_none());
        for (_, group) in owned.chain(unowned) {
            for action in group {
                // Addresses are unique in a plan.
                let k = index[action.address.as_str()];
                if taken[k] {
                    continue;
                }
                // `k` and the dependencies it needs that are not in yet, transitively.
                let mut unit = vec![k];
                taken[k] = true;
                let mut at = 0;
                while at < unit.len() {
                    for dependency in &actions[unit[at]].depends_on {
                        if let Some(&j) = index.get(dependency.as_str())
                            && !taken[j]
                        {
                            taken[j] = true;
                            unit.push(j);
                        }
                    }
                    at += 1;
                }
                unit.sort_unstable();
                units.push(unit);
            }
        }
        units
    }

    /// The graph section of at most `max_len` bytes: all of it when it fits within
    /// that and [`GRAPH_MAX_EDGES`], else as many of [`Graph::units`] as do, drawn in
    /// plan order, with a note of what is left out; empty when not one unit fits.
    fn render(&self, max_len: usize) -> String {
        let total = self.actions.len();
        // The length of the graph of the actions in so far, counted as it grows.
        let mut len = GRAPH_OPEN.len() + GRAPH_CLOSE.len();
        let mut edges = 0;
        let mut classes: Vec<&str> = Vec::new();
        let mut shown = vec![false; total];
        let mut count = 0;
        for unit in &self.units {
            let (mut grown, mut with_edges) = (len, edges);
            let mut new_classes: Vec<&str> = Vec::new();
            for &k in unit {
                shown[k] = true;
            }
            for &k in unit {
                let action = &self.actions[k];
                grown += node_line(k, action).len();
                for &(other, bytes) in &self.neighbours[k] {
                    // An edge inside the unit is counted from its later end only.
                    if shown[other] && !(unit.contains(&other) && other > k) {
                        grown += bytes;
                        with_edges += 1;
                    }
                }
                // `,aK` to the class's list, or a new classDef and class line.
                let class = class_of(action);
                grown += if classes.contains(&class) || new_classes.contains(&class) {
                    1 + node_id(k).len()
                } else {
                    new_classes.push(class);
                    class_lines(class, &node_id(k)).len()
                };
            }
            let with_count = count + unit.len();
            let note = if with_count < total {
                self.note(with_count, with_edges).len()
            } else {
                0
            };
            if with_edges > GRAPH_MAX_EDGES || grown + note > max_len {
                for &k in unit {
                    shown[k] = false;
                }
                break;
            }
            classes.extend(new_classes);
            (len, edges, count) = (grown, with_edges, with_count);
        }
        if count == 0 {
            return String::new();
        }
        let mut out = String::with_capacity(len + 512);
        out.push_str(GRAPH_OPEN);
        let mut classes: Vec<(&str, Vec<String>)> = Vec::new();
        for (k, action) in self.actions.iter().enumerate().filter(|(k, _)| shown[*k]) {
            out.push_str(&node_line(k, action));
            let class = class_of(action);
            match classes.iter_mut().find(|(c, _)| *c == class) {
                Some((_, ids)) => ids.push(node_id(k)),
                None => classes.push((class, vec![node_id(k)])),
            }
        }
        for &(from, to) in &self.edges {
            if shown[from] && shown[to] {
                out.push_str(&edge_line(from, to));
            }
        }
        for (class, ids) in &classes {
            out.push_str(&class_lines(class, &ids.join(",")));
        }
        out.push_str(GRAPH_CLOSE);
        if count < total {
            out.push_str(&self.note(count, edges));
        }
        out
    }

    /// What a graph of `shown` actions, with `edges` of the dependencies, leaves
    /// out.
    fn note(&self, shown: usize, edges: usize) -> String {
        format!(
            "\nThe graph shows {shown} of {} actions (customer by customer in plan order, each with what it depends on) and {edges} of their {} dependencies: GitHub draws at most {GRAPH_MAX_EDGES} edges, and the comment has a size limit. The full plan has the rest.\n",
            self.actions.len(),
            self.edges.len()
        )
    }
}

fn node_id(k: usize) -> String {
    format!("a{k}")
}

fn node_line(k: usize, action: &Action) -> String {
    format!(
        "  a{k}[\"{} {}\"]\n",
        super::action_label(action.action_type),
        mermaid_text(&action.address)
    )
}

fn edge_line(from: usize, to: usize) -> String {
    format!("  a{from} --> a{to}\n")
}

/// A class's definition and the nodes (`ids`, comma-separated) that have it.
fn class_lines(class: &str, ids: &str) -> String {
    format!(
        "  classDef {class} {}\n  class {ids} {class}\n",
        class_style(class)
    )
}

/// Blocked and waiting actions look alike whatever they do; the rest by type.
fn class_of(action: &Action) -> &'static str {
    match (action.status, action.action_type) {
        (ActionStatus::Blocked, _) => "blocked",
        (ActionStatus::Manual, _) | (_, ActionType::Manual) => "manual",
        (_, ActionType::Create) => "create",
        (_, ActionType::Update | ActionType::AtRenewal) => "update",
        (_, ActionType::Cancel) => "suspend",
        (_, ActionType::Suspend) => "suspend",
        (_, ActionType::Reactivate) => "reactivate",
        (_, ActionType::SetSupportContact | ActionType::ResetSupportContact) => "support",
    }
}

fn class_style(class: &str) -> &'static str {
    match class {
        "create" => "fill:#dafbe1,stroke:#1a7f37,color:#000",
        "update" => "fill:#fff8c5,stroke:#9a6700,color:#000",
        "suspend" => "fill:#ffebe9,stroke:#cf222e,color:#000",
        "reactivate" => "fill:#ddf4ff,stroke:#0969da,color:#000",
        "support" => "fill:#fbefff,stroke:#8250df,color:#000",
        "manual" => "fill:#f6f8fa,stroke:#57606a,stroke-dasharray:4 4,color:#000",
        _ => "fill:#eaeef2,stroke:#cf222e,stroke-dasharray:4 4,color:#000",
    }
}

/// Text inside a quoted Mermaid label: anything but plain ASCII as Mermaid's
/// `#code;` entity, so quotes, brackets, `<`, `#` and newlines stay text.
fn mermaid_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || " /.-_:,+()".contains(c) {
            out.push(c);
        } else {
            let _ = write!(out, "#{};", u32::from(c));
        }
    }
    out
}

/// Section 6: the live objects no manifest declares, folded, at most `cap` listed.
/// Empty when there are none.
fn unmanaged_list(unmanaged: &[Unmanaged], cap: usize) -> String {
    if unmanaged.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "<details><summary>Unmanaged: {} no manifest declares (cspctl leaves them alone)</summary>\n\n",
        count(unmanaged.len(), "live object")
    );
    let items: Vec<String> = unmanaged
        .iter()
        .take(cap)
        .map(|object| {
            // Every field named: a new one must be placed here (or explicitly skipped).
            let Unmanaged { kind, id, name } = object;
            format!("{} {} (id {})", code(kind), text(name), code(id))
        })
        .collect();
    push_capped(&mut out, "", &items, unmanaged.len(), cap);
    out.push_str(CLOSE);
    out
}

fn footer(backend: &str, full_plan: Option<&str>) -> String {
    let mut out = format!(
        "---\n\nPlanned against {}. To apply exactly what was reviewed, save the plan with `cspctl plan --out plan.json` and run `cspctl apply plan.json`; it refuses if anything changed since.",
        code(backend)
    );
    if let Some(full_plan) = full_plan {
        let _ = write!(out, " Full plan: {}.", place(full_plan));
    }
    out.push('\n');
    out
}

/// What the truncated comment leaves out.
struct Omitted {
    actions: usize,
    customers: usize,
    graph: bool,
    unmanaged: bool,
    shortened: bool,
}

/// The truncation notice, or nothing when nothing was left out. Never longer than
/// for every count at its total and every flag set, which is what is reserved.
fn notice(
    omitted: &Omitted,
    actions: usize,
    customers: usize,
    max_len: usize,
    full_plan: Option<&str>,
) -> String {
    let mut what = Vec::new();
    if omitted.actions > 0 {
        let mut details = format!("the details of {} of {actions} actions", omitted.actions);
        if omitted.customers > 0 {
            let _ = write!(details, " ({} of {customers} customers)", omitted.customers);
        }
        what.push(details);
    }
    if omitted.graph {
        what.push("the graph".to_owned());
    }
    if omitted.unmanaged {
        what.push("the list of unmanaged objects".to_owned());
    }
    if omitted.shortened {
        what.push("items of the lists above".to_owned());
    }
    if what.is_empty() {
        return String::new();
    }
    let what = match what.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    };
    let whole = match full_plan {
        Some(place_of) => format!("the full plan is at {}", place(place_of)),
        None => "for the full plan, run `cspctl plan --format json` (or save it with `--out`)"
            .to_owned(),
    };
    format!(
        "> [!NOTE]\n> **Truncated** to fit the comment limit ({max_len} bytes): left out are {what}; {whole}.\n"
    )
}

/// A path or URL: a link when it is a plain http(s) URL, else a code span.
fn place(where_: &str) -> String {
    if where_.starts_with("https://") || where_.starts_with("http://") {
        link(where_)
    } else {
        code(where_)
    }
}

/// An http(s) URL as a link (its text is the URL); anything else as a code span, so
/// a `javascript:` or malformed URL is never clickable.
fn link(url: &str) -> String {
    let plain = !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if plain && (url.starts_with("https://") || url.starts_with("http://")) {
        let mut href = String::with_capacity(url.len());
        for c in url.chars() {
            match c {
                '&' => href.push_str("&amp;"),
                '"' => href.push_str("&quot;"),
                '<' => href.push_str("&lt;"),
                '>' => href.push_str("&gt;"),
                '\'' => href.push_str("&#39;"),
                c => href.push(c),
            }
        }
        format!("<a href=\"{href}\">{}</a>", text(url))
    } else {
        code(url)
    }
}

fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Untrusted text for Markdown and HTML alike (a list item, a table cell, a
/// `<summary>`): every character either would read as syntax written as an HTML
/// entity, which both decode to the character and neither parses as syntax.
pub fn text(s: &str) -> String {
    let s = escape_controls(s);
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '|' | '`' | '\\' | '*' | '_' | '[' | ']' | '~' | '#' | '$' => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// Untrusted text as a code span: a backtick fence longer than any run of backticks
/// inside, padded when the text starts or ends with a backtick or a space (which the
/// span would otherwise eat). Not for table cells or HTML.
pub fn code(s: &str) -> String {
    let s = escape_controls(s);
    if s.is_empty() {
        return "`\"\"`".to_owned();
    }
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with(['`', ' ']) || s.ends_with(['`', ' ']) {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::plan::{LiveKey, Operation};

    fn action(address: &str, customer: Option<&str>, action_type: ActionType) -> Action {
        Action::new(
            address.to_owned(),
            customer.map(str::to_owned),
            action_type,
            Operation::Manual,
        )
    }

    fn plan(actions: Vec<Action>, unmanaged: Vec<Unmanaged>) -> Plan {
        Plan::new("local:state.json".to_owned(), actions, unmanaged)
    }

    fn render(plan: &Plan) -> String {
        render_markdown(plan, &MarkdownOptions::default())
    }

    fn sample() -> Plan {
        let mut buy = action(
            "Subscription/contoso-e3",
            Some("contoso"),
            ActionType::Create,
        );
        buy.changes = vec![
            FieldChange::new("billingCycle", Value::Null, json!("monthly")),
            FieldChange::new(
                "offerId",
                Value::Null,
                json!("CFQ7TTC0LH18:0001:CFQ7TTC0K5DM"),
            ),
            FieldChange::new("quantity", Value::Null, json!(10)),
            FieldChange::new("termDuration", Value::Null, json!("P1Y")),
        ];
        buy.risks = vec![Risk::Purchase, Risk::CostIncrease, Risk::CustomerVisible];
        buy.source = Some(SourceRef {
            file: "manifests/contoso.yaml".to_owned(),
            line: 12,
            column: 9,
        });
        let mut more = action(
            "Subscription/contoso-visio",
            Some("contoso"),
            ActionType::Update,
        );
        more.changes = vec![FieldChange::new("quantity", json!(5), json!(10))];
        more.risks = vec![Risk::CostIncrease];
        more.precondition = Some(Precondition {
            key: LiveKey::SubscriptionId {
                id: "s1".to_owned(),
            },
            fingerprint: Some("f".to_owned()),
        });
        let mut stop = action(
            "Subscription/fabrikam-p2",
            Some("fabrikam"),
            ActionType::Suspend,
        );
        stop.changes = vec![FieldChange::new(
            "status",
            json!("active"),
            json!("suspended"),
        )];
        stop.risks = vec![Risk::CustomerVisible];
        stop.warnings = vec!["billing continues while suspended".to_owned()];
        let mut invite = action("Reseller/northwind", None, ActionType::Manual);
        invite.instructions = Some("Invite reseller Northwind.".to_owned());
        invite.url = Some("https://partner.microsoft.com/x?a=1&b=2".to_owned());
        let mut blocked = action(
            "SupportContact/fabrikam-p2",
            Some("fabrikam"),
            ActionType::SetSupportContact,
        );
        blocked.status = ActionStatus::Blocked;
        blocked.depends_on = vec![
            "Reseller/northwind".to_owned(),
            "Subscription/fabrikam-p2".to_owned(),
        ];
        plan(
            vec![buy, more, stop, invite, blocked],
            vec![Unmanaged {
                kind: "Customer".to_owned(),
                id: "0c1d".to_owned(),
                name: "adatum.onmicrosoft.com".to_owned(),
            }],
        )
    }

    #[test]
    fn sections_come_in_order() {
        let out = render(&sample());
        assert!(
            out.starts_with("<!-- cspctl:plan -->\n## cspctl plan\n\n**Plan: "),
            "{out}"
        );
        let order = [
            "| Change | Count |",
            "> [!CAUTION]\n> **Purchases (1)**",
            "> - `Subscription/contoso-e3`: 10 × `CFQ7TTC0LH18:0001:CFQ7TTC0K5DM`, term P1Y, monthly billing\n",
            "> **Cost increases (1)**",
            "> - `Subscription/contoso-visio`: `quantity`: 5 → 10\n",
            "> **Suspensions (1)**",
            "> **Warnings (1)**",
            "### Manual steps",
            "- `Reseller/northwind`: Invite reseller Northwind. <a href=\"https://partner.microsoft.com/x?a=1&amp;b=2\">",
            "- `SupportContact/fabrikam-p2` waits for `Reseller/northwind`\n",
            "<details><summary>Resellers — 1 change (1 waiting on a person)</summary>\n\n",
            "<details><summary>Customer contoso — 2 changes (1 purchase)</summary>\n\n",
            "- **create** `Subscription/contoso-e3` — purchase, cost increase, customer visible · `manifests/contoso.yaml:12`\n  - `billingCycle` = monthly\n",
            "<details><summary>Customer fabrikam — 2 changes (1 suspension, 1 blocked)</summary>",
            "```mermaid\nflowchart LR\n",
            "  a3 --> a4\n  a2 --> a4\n",
            "Unmanaged: 1 live object",
            "Planned against `local:state.json`.",
        ];
        let mut at = 0;
        for needle in order {
            let found = out[at..]
                .find(needle)
                .unwrap_or_else(|| panic!("{needle:?} not after byte {at} in:\n{out}"));
            at += found + needle.len();
        }
        assert!(!out.contains("[!NOTE]"), "{out}");
        assert!(out.ends_with('\n'));
    }

    #[test]
    fn counts_table_lists_only_non_zero_rows() {
        let out = render(&sample());
        assert!(out.contains("| create | 1 |\n| update | 1 |\n| suspend | 1 |\n| set support contact | 1 |\n| manual step | 1 |\n| blocked by a manual step | 1 |\n| unmanaged objects (left alone) | 1 |\n"), "{out}");
        assert!(!out.contains("| reactivate |"), "{out}");
    }

    #[test]
    fn no_changes_is_short() {
        assert_eq!(
            render(&plan(Vec::new(), Vec::new())),
            "<!-- cspctl:plan -->\n## cspctl plan\n\nNo changes. The live state matches the manifests.\n"
        );
        let out = render(&plan(Vec::new(), sample().unmanaged));
        assert!(
            out.contains("No changes.") && out.contains("adatum.onmicrosoft.com"),
            "{out}"
        );
    }

    #[test]
    fn escaping() {
        assert_eq!(
            text("</details><script>|x|`a`*b*_[c](d)\\ #e $f$ &amp;"),
            "&lt;/details&gt;&lt;script&gt;&#124;x&#124;&#96;a&#96;&#42;b&#42;&#95;&#91;c&#93;(d)&#92; &#35;e &#36;f&#36; &amp;amp;"
        );
        assert_eq!(
            text("a\nb\u{1b}c\u{202e}d"),
            "a&#92;nb&#92;u{1b}c&#92;u{202e}d"
        );
        assert_eq!(code("plain"), "`plain`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x``"), "``` `x`` ```");
        assert_eq!(code("a\nb"), "`a\\nb`");
        assert_eq!(code(""), "`\"\"`");
        assert_eq!(
            mermaid_text("Customer/\"x\"<b>#1;\n"),
            "Customer/#34;x#34;#60;b#62;#35;1#59;#10;"
        );
        assert_eq!(link("javascript:alert(1)"), "`javascript:alert(1)`");
        assert_eq!(link("https://x y"), "`https://x y`");
    }

    #[test]
    fn graph_draws_what_github_draws() {
        // A chain: each action depends on the one before, so n actions are n - 1 edges.
        let many: Vec<Action> = (0..=GRAPH_MAX_EDGES + 10)
            .map(|i| {
                let mut a = action(&format!("Subscription/s{i}"), Some("c"), ActionType::Update);
                if i > 0 {
                    a.depends_on = vec![format!("Subscription/s{}", i - 1)];
                }
                a
            })
            .collect();
        let graph = Graph::of(&many).render(GRAPH_MAX_TEXT);
        let edges = graph.lines().filter(|l| l.contains(" --> ")).count();
        assert_eq!(edges, GRAPH_MAX_EDGES, "{graph}");
        assert_eq!(graph.matches("[\"update ").count(), GRAPH_MAX_EDGES + 1);
        assert!(
            graph.ends_with(&format!(
                "The graph shows {} of {} actions (customer by customer in plan order, each with what it depends on) and {GRAPH_MAX_EDGES} of their {} dependencies: GitHub draws at most {GRAPH_MAX_EDGES} edges, and the comment has a size limit. The full plan has the rest.\n",
                GRAPH_MAX_EDGES + 1,
                many.len(),
                many.len() - 1
            )),
            "{graph}"
        );
        // Within any length: as many actions as fit, the note included.
        for max_len in [600, 1_000, 5_000] {
            let graph = Graph::of(&many).render(max_len);
            assert!(graph.len() <= max_len, "{max_len}: {}", graph.len());
            assert!(graph.contains("a0[\"update Subscription/s0\"]"), "{graph}");
        }
        assert_eq!(
            Graph::of(&many).render(300),
            "",
            "too short for one action and the note"
        );
        // A small plan's graph is whole, with no note.
        let small = Graph::of(&many[..3]).render(GRAPH_MAX_TEXT);
        assert!(
            small.ends_with("```\n") && !small.contains("The graph shows"),
            "{small}"
        );
    }

    #[test]
    fn rendering_is_deterministic() {
        assert_eq!(
            render(&sample()).into_bytes(),
            render(&sample()).into_bytes()
        );
    }

    #[test]
    fn tiny_limits_are_respected() {
        let plan = sample();
        for max_len in [0, 1, 10, 100, 300, 600, 1000, 1500, 2000, 3000] {
            let out = render_markdown(
                &plan,
                &MarkdownOptions {
                    max_len,
                    ..MarkdownOptions::default()
                },
            );
            assert!(out.len() <= max_len, "{max_len}: {}", out.len());
        }
    }
}
