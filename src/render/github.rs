//! GitHub Actions workflow annotations: one `::warning`/`::notice` workflow command
//! per action, on the manifest line that declares its object, so a pull request's
//! "Files changed" tab shows each change where it is made.
//!
//! GitHub shows only about ten annotations of each level per step, so warnings
//! (purchases, cost increases, irreversible changes, suspensions, steps waiting on a
//! person) come before notices; plan order is kept within a level. A summary notice
//! without a file comes last, with [`Plan::summary_line`].
//!
//! The command syntax is the runner's: `::level file=F,line=L,col=C,title=T::message`.
//! Property values and the message are escaped as the Actions toolkit does
//! (`escapeProperty`, `escapeData`, reused from [`crate::diagnostic`]); control and
//! bidirectional-formatting characters from manifests or Partner Center are shown
//! escaped first, so untrusted text can neither end a command nor start another.
//! Personal data is masked unless asked for ([`super::sensitive`]). The [`Annotation`]
//! type and [`annotation_line`] are shared with apply and drift reports.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io;

use serde_json::Value;

use super::escape_controls;
use super::sensitive;
use crate::apply::{ActionOutcome, ApplyReport};
use crate::diagnostic::{push_github_data, push_github_property};
use crate::plan::{
    Action, ActionStatus, ActionType, FieldChange, Plan, Precondition, Risk, SourceRef,
};

/// Field changes in one annotation; the rest are counted.
const CHANGES_CAP: usize = 20;

/// How loud an annotation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Notice,
    Warning,
    Error,
}

impl Level {
    /// The workflow command.
    pub fn command(self) -> &'static str {
        match self {
            Level::Notice => "notice",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// One workflow annotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Annotation {
    pub level: Level,
    /// Where to show it; `None` shows it on the run only.
    pub source: Option<SourceRef>,
    /// Omitted when empty.
    pub title: String,
    /// May span lines (`\n`); other control characters are shown escaped.
    pub message: String,
}

/// The workflow command for `annotation`, one newline-terminated line.
pub fn annotation_line(annotation: &Annotation) -> String {
    // Every field named: a new one must be placed here (or explicitly skipped).
    let Annotation {
        level,
        source,
        title,
        message,
    } = annotation;
    // Written in place, one pass per piece: a large plan has an annotation per action.
    let mut out = String::with_capacity(64 + title.len() + message.len());
    out.push_str("::");
    out.push_str(level.command());
    let mut separator = ' ';
    if let Some(SourceRef { file, line, column }) = source {
        out.push_str(" file=");
        push_github_property(&mut out, &escape_controls(file));
        let _ = write!(out, ",line={line},col={column}");
        separator = ',';
    }
    if !title.is_empty() {
        out.push(separator);
        out.push_str("title=");
        push_github_property(&mut out, &escape_controls(title));
    }
    out.push_str("::");
    // Lines are the message's own structure; everything else invisible is escaped.
    for (i, line) in message.split('\n').enumerate() {
        if i > 0 {
            out.push_str("%0A");
        }
        push_github_data(&mut out, &escape_controls(line));
    }
    out.push('\n');
    out
}

/// The plan as workflow commands, one per line: one annotation per action
/// (warnings first, plan order within a level), then a summary notice without a
/// file.
pub fn render_github_plan(plan: &Plan, show_sensitive: bool) -> String {
    let mut bytes = Vec::new();
    // Writing to a `Vec` cannot fail.
    write_github_plan(plan, show_sensitive, &mut bytes).expect("writing to memory");
    String::from_utf8(bytes).expect("annotations are UTF-8")
}

/// [`render_github_plan`] written to `out` an annotation at a time: one pass over
/// the actions per level instead of a sorted list of them all.
pub fn write_github_plan(
    plan: &Plan,
    show_sensitive: bool,
    out: &mut dyn io::Write,
) -> io::Result<()> {
    // Every field named: a new one must be placed here (or explicitly skipped).
    let Plan {
        // Versions the JSON contract; meaningless to a reader.
        format_version: _,
        // The workflow knows what it planned against.
        backend: _,
        // What apply PLANFILE opens; `cspctl show` prints it.
        backend_settings: _,
        // Shown through `plan.summary_line()`.
        summary: _,
        actions,
        unmanaged,
        partly_known,
        // The ids behind the reseller names the changes show, and the file's
        // digest: for apply to check (`plan::integrity`), not for a reader.
        resellers: _,
        // What the read cost: in the text, Markdown and JSON plans, not in annotations.
        cost: _,
        // Said in the text and Markdown plans.
        scope: _,
        digest: _,
        // A calendar, not a change on a manifest line: in the text and Markdown plans.
        renewals: _,
    } = plan;
    // A large plan's annotations are rendered in pieces on two threads
    // (`super::pieces`), one pass over the actions per level.
    for level in [Level::Warning, Level::Notice] {
        let render = |actions: &[Action], _first: bool| {
            let mut lines = Vec::new();
            for action in actions.iter().filter(|a| action_level(a) == level) {
                let annotation = action_annotation(action, show_sensitive);
                lines.extend_from_slice(annotation_line(&annotation).as_bytes());
            }
            Ok(lines)
        };
        super::pieces::write_in_pieces(
            actions,
            super::pieces::PIECE_ITEMS,
            &render,
            &mut |piece| out.write_all(piece),
        )?;
    }
    let mut message = plan.summary_line();
    if !unmanaged.is_empty() {
        let _ = write!(
            message,
            "\n{} live object(s) no manifest declares (cspctl leaves them alone).",
            unmanaged.len()
        );
    }
    for line in super::partly_known_lines(partly_known) {
        let _ = write!(message, "\nPartly known: {line}.");
    }
    let summary = Annotation {
        level: Level::Notice,
        source: None,
        title: "cspctl plan".to_owned(),
        message,
    };
    out.write_all(annotation_line(&summary).as_bytes())
}

/// A warning for what a reviewer must not miss (purchases, cost increases,
/// irreversible changes, suspensions, steps waiting on a person), else a notice.
fn action_level(action: &Action) -> Level {
    let risky = action.action_type == ActionType::Suspend
        || action.status != ActionStatus::Ready
        || action
            .risks
            .iter()
            .any(|r| matches!(r, Risk::Purchase | Risk::CostIncrease | Risk::Irreversible));
    if risky { Level::Warning } else { Level::Notice }
}

fn action_annotation(action: &Action, show: bool) -> Annotation {
    // Every field named: a new one must be placed here (or explicitly skipped).
    let Action {
        address,
        // The address names the object; the file is the customer's.
        customer: _,
        action_type,
        status,
        // The order is the plan's; an annotation stands on its own line.
        depends_on: _,
        changes,
        risks,
        // The applying account's concern, not the reviewer's.
        roles: _,
        instructions,
        url,
        warnings,
        // The machine-readable ids of what `warnings` say, for programs (JSON).
        rules: _,
        source,
        // Read through `creates` below.
        precondition,
        // The raw request; the field changes say the same for a reviewer.
        operation: _,
        // Said by the warnings (the renewal's date and what it applies).
        renewal: _,
    } = action;
    let level = action_level(action);

    let mut title = format!(
        "cspctl plan: {} {address}",
        super::action_label(*action_type)
    );
    match status {
        ActionStatus::Ready => {}
        ActionStatus::Manual if *action_type == ActionType::Manual => {}
        ActionStatus::Manual => title.push_str(" (manual)"),
        ActionStatus::Blocked => title.push_str(" (blocked)"),
    }
    if !risks.is_empty() {
        let labels: Vec<&str> = risks.iter().map(|r| r.as_str()).collect();
        let _ = write!(title, " [{}]", labels.join(", "));
    }

    // When the live object does not exist yet there is no "before" worth showing.
    let creates = *action_type == ActionType::Create
        || matches!(
            precondition,
            Some(Precondition {
                fingerprint: None,
                ..
            })
        );
    // Untrusted pieces are escaped one by one: their newlines must not pass for ours.
    let mut lines: Vec<String> = changes
        .iter()
        .take(CHANGES_CAP)
        .map(|c| change_line(c, creates, show))
        .collect();
    if changes.len() > CHANGES_CAP {
        lines.push(format!(
            "… and {} more field(s)",
            changes.len() - CHANGES_CAP
        ));
    }
    for warning in warnings {
        lines.push(format!("warning: {}", escape_controls(warning)));
    }
    if let Some(instructions) = instructions {
        lines.push(escape_controls(instructions).into_owned());
    }
    if let Some(url) = url {
        lines.push(format!("url: {}", escape_controls(url)));
    }
    if lines.is_empty() {
        lines.push(format!("{} {address}", super::action_label(*action_type)));
    }
    Annotation {
        level,
        source: source.clone(),
        title: escape_controls(&title).into_owned(),
        message: lines.join("\n"),
    }
}

/// `path = after` for a new object, `path: before → after` otherwise, masked.
fn change_line(change: &FieldChange, creates: bool, show: bool) -> String {
    let FieldChange {
        path,
        before,
        after,
    } = change;
    let (before, after) = sensitive::shown_pair(path, before, after, show);
    let path = escape_controls(path);
    if creates {
        format!("{path} = {}", display(&after))
    } else {
        format!("{path}: {} → {}", display(&before), display(&after))
    }
}

/// A value as [`super::display_value`] shows it, control and bidirectional
/// characters escaped.
fn display(value: &Value) -> String {
    escape_controls(&super::display_value(value)).into_owned()
}

/// The plan's sources by action address.
fn sources(plan: &Plan) -> HashMap<&str, &SourceRef> {
    plan.actions
        .iter()
        .filter_map(|a| a.source.as_ref().map(|s| (a.address.as_str(), s)))
        .collect()
}

/// An annotation per action of an apply's report (failures first, then what was
/// skipped or waits, then what was applied; plan order within a level), then the
/// summary: an error when anything failed or the apply was interrupted.
pub fn render_github_apply(plan: &Plan, report: &ApplyReport) -> String {
    let sources = sources(plan);
    let mut annotations: Vec<Annotation> = report
        .results
        .iter()
        .map(|(address, outcome)| {
            let (level, message) = match outcome {
                ActionOutcome::Applied => (Level::Notice, "applied".to_owned()),
                ActionOutcome::DoneElsewhere(reason) => (Level::Notice, reason.clone()),
                ActionOutcome::Failed(error) => (Level::Error, format!("failed: {error}")),
                ActionOutcome::Skipped(reason) => (Level::Warning, format!("skipped: {reason}")),
                ActionOutcome::Waiting(reason) => (Level::Warning, format!("waiting: {reason}")),
            };
            Annotation {
                level,
                source: sources.get(address.as_str()).map(|s| (*s).clone()),
                title: format!("cspctl apply: {address}"),
                message,
            }
        })
        .collect();
    annotations.sort_by_key(|a| std::cmp::Reverse(a.level));
    annotations.push(Annotation {
        level: if report.failed() > 0 || report.interrupted {
            Level::Error
        } else {
            Level::Notice
        },
        source: None,
        title: "cspctl apply".to_owned(),
        message: report.summary_line(),
    });
    annotations.iter().map(annotation_line).collect()
}

/// An error on the manifest line of each object that changed since a saved plan
/// was made (`stale`: address and what happened to its live object).
pub fn render_github_stale(plan: &Plan, stale: &[(String, String)]) -> String {
    let sources = sources(plan);
    stale
        .iter()
        .map(|(address, what)| {
            annotation_line(&Annotation {
                level: Level::Error,
                source: sources.get(address.as_str()).map(|s| (*s).clone()),
                title: format!("cspctl apply: stale plan: {address}"),
                message: format!("the live object {what}; run plan again and review the new plan"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::plan::{Operation, Unmanaged};

    fn source() -> Option<SourceRef> {
        Some(SourceRef {
            file: "manifests/contoso.yaml".to_owned(),
            line: 12,
            column: 3,
        })
    }

    fn action(address: &str, action_type: ActionType) -> Action {
        Action {
            source: source(),
            ..Action::new(
                address.to_owned(),
                Some("contoso".to_owned()),
                action_type,
                Operation::Manual,
            )
        }
    }

    fn plan(actions: Vec<Action>, unmanaged: Vec<Unmanaged>) -> Plan {
        Plan::new("local:state.json".to_owned(), actions, unmanaged)
    }

    #[test]
    fn lines_have_the_runner_syntax() {
        let line = annotation_line(&Annotation {
            level: Level::Warning,
            source: source(),
            title: "cspctl plan: create Subscription/a".to_owned(),
            message: "quantity = 5\nwarning: soon".to_owned(),
        });
        assert_eq!(
            line,
            "::warning file=manifests/contoso.yaml,line=12,col=3,title=cspctl plan%3A create Subscription/a::quantity = 5%0Awarning: soon\n"
        );
        let bare = annotation_line(&Annotation {
            level: Level::Error,
            source: None,
            title: String::new(),
            message: "100% done".to_owned(),
        });
        assert_eq!(bare, "::error::100%25 done\n");
    }

    #[test]
    fn properties_and_data_are_escaped() {
        let line = annotation_line(&Annotation {
            level: Level::Notice,
            source: Some(SourceRef {
                file: "a,b:c%\n.yaml".to_owned(),
                line: 1,
                column: 1,
            }),
            title: "t,i:t\rle%".to_owned(),
            message: "m:1,2%\r\x1b[31m\u{202e}".to_owned(),
        });
        assert_eq!(
            line,
            "::notice file=a%2Cb%3Ac%25\\n.yaml,line=1,col=1,title=t%2Ci%3At\\rle%25::m:1,2%25\\r\\u{1b}[31m\\u{202e}\n"
        );
        assert_eq!(line.matches('\n').count(), 1);
        assert_eq!(line.matches("::").count(), 2);
    }

    #[test]
    fn warnings_come_first_and_the_summary_last() {
        let mut rename = action("Subscription/a", ActionType::Update);
        rename.changes = vec![FieldChange {
            path: "friendlyName".to_owned(),
            before: json!("A"),
            after: json!("B"),
        }];
        let mut buy = action("Subscription/b", ActionType::Create);
        buy.risks = vec![Risk::Purchase];
        buy.changes = vec![FieldChange {
            path: "quantity".to_owned(),
            before: Value::Null,
            after: json!(3),
        }];
        let stop = action("Subscription/c", ActionType::Suspend);
        let mut invite = action("Reseller/n", ActionType::Manual);
        invite.source = None;
        invite.instructions = Some("Invite\nthem".to_owned());
        let mut customer = action("Customer/contoso", ActionType::Update);
        customer.changes = vec![FieldChange {
            path: "billing.email".to_owned(),
            before: json!("old@contoso.example"),
            after: json!("new@contoso.example"),
        }];
        let plan = plan(
            vec![rename, buy, stop, invite, customer],
            vec![Unmanaged {
                kind: "Customer".to_owned(),
                id: "x".to_owned(),
                name: "y".to_owned(),
            }],
        );
        let out = render_github_plan(&plan, false);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 6, "{out}");
        assert!(lines[0].starts_with("::warning file=manifests/contoso.yaml,line=12,col=3,title=cspctl plan%3A create Subscription/b [purchase]::quantity = 3"), "{out}");
        assert!(lines[1].starts_with("::warning file="), "{out}");
        assert!(lines[1].contains("suspend Subscription/c"), "{out}");
        assert_eq!(
            lines[2],
            "::warning title=cspctl plan%3A manual step Reseller/n::Invite\\nthem"
        );
        assert!(
            lines[3].contains("update Subscription/a::friendlyName: A → B"),
            "{out}"
        );
        assert!(lines[4].ends_with("::billing.email: ••• → •••"), "{out}");
        assert_eq!(
            lines[5],
            "::notice title=cspctl plan::Plan: 1 to create, 2 to update, 1 to suspend, 1 manual, 0 blocked.%0A1 live object(s) no manifest declares (cspctl leaves them alone)."
        );
        assert!(!out.contains("contoso.example"));
        assert!(
            render_github_plan(&plan, true).contains("old@contoso.example → new@contoso.example")
        );
        assert_eq!(out, render_github_plan(&plan, false));
    }

    #[test]
    fn no_changes_is_one_notice() {
        assert_eq!(
            render_github_plan(&plan(Vec::new(), Vec::new()), false),
            "::notice title=cspctl plan::No changes. The live state matches the manifests.\n"
        );
    }
}
