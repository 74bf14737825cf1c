//! Drift reports for people (text), machines (JSON), pull requests and issues
//! (markdown) and GitHub Actions (annotations). Pure, like the plan renderers.

use std::fmt::Write as _;

use crate::drift::{DriftKind, DriftReport, DriftedField, DriftedObject};
use crate::plan::Unmanaged;

use super::escape_controls;
use super::github::{Annotation, Level, annotation_line};
use super::markdown as md;
use super::sensitive;
use super::text::{BOLD, DIM, GREEN, MAGENTA, RED, Style, YELLOW, render_unmanaged, show};

/// How `drift` prints its report (`--format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum DriftFormat {
    /// Grouped by customer, for people; coloured when `color` is on.
    Text,
    /// The whole report as pretty JSON (`schemas/drift.schema.json`).
    Json,
    /// An issue or pull-request body; personal data masked.
    Markdown,
    /// GitHub Actions annotations on the manifest lines that drifted.
    Github,
}

/// The report as pretty JSON with a trailing newline.
pub fn render_drift_json(report: &DriftReport) -> String {
    let mut text = crate::printable::to_json(report, true);
    text.push('\n');
    text
}

/// The report for people: drifted objects grouped like a plan (resellers, then
/// each customer), each field with its live and declared value; then unmanaged
/// objects and the summary line last.
pub fn render_drift_text(report: &DriftReport, color: bool) -> String {
    let style = Style { color };
    let DriftReport {
        format_version: _,
        backend: _,
        scope: _,
        ignore_unmanaged: _,
        in_sync: _,
        summary: _,
        objects,
        unmanaged,
        partly_known,
        // Shown under the summary line.
        cost: _,
        renewals,
    } = report;
    let mut sections: Vec<String> = Vec::new();
    for (customer, group) in groups(objects) {
        let mut section = String::new();
        let heading = escape_controls(&super::owner_heading(customer)).into_owned();
        let _ = writeln!(section, "{}", style.paint(BOLD, &heading));
        for object in group {
            render_object(&mut section, object, style);
        }
        sections.push(section);
    }
    if !unmanaged.is_empty() {
        let heading = if report.ignore_unmanaged {
            "Unmanaged (in Partner Center, in no manifest; ignored):"
        } else {
            "Unmanaged (in Partner Center, in no manifest):"
        };
        sections.push(render_unmanaged(unmanaged, heading, style));
    }
    if !partly_known.is_empty() {
        let mut section = format!("{}\n", style.paint(BOLD, "Partly known:"));
        for line in super::partly_known_lines(partly_known) {
            let _ = writeln!(section, "  {}", escape_controls(&line));
        }
        sections.push(section);
    }
    if !renewals.is_empty() {
        sections.push(super::text::render_renewals(renewals, style));
    }
    let mut summary = format!("{}\n", style.paint(BOLD, &report.summary_line()));
    if let Some(cost) = &report.cost {
        let _ = writeln!(summary, "{}", cost.line());
    }
    sections.push(summary);
    sections.join("\n")
}

/// Objects by owner, as plans group their actions.
fn groups(objects: &[DriftedObject]) -> Vec<(Option<&str>, Vec<&DriftedObject>)> {
    super::group_by_owner(objects, |o| o.customer.as_deref())
}

fn render_object(out: &mut String, object: &DriftedObject, style: Style) {
    let DriftedObject {
        address,
        customer: _,
        kind,
        fields,
        note,
        source,
    } = object;
    let (marker, label, colour) = match kind {
        DriftKind::Missing => ("-", "missing in Partner Center", RED),
        DriftKind::Changed => ("~", "differs", YELLOW),
    };
    let mut line = format!(
        "  {} {} {}",
        style.paint(colour, marker),
        style.paint(BOLD, &escape_controls(address)),
        style.paint(colour, &format!("({label})"))
    );
    if let Some(source) = source {
        let _ = write!(
            line,
            " {}",
            style.paint(
                DIM,
                &format!(
                    "{}:{}:{}",
                    escape_controls(&source.file),
                    source.line,
                    source.column
                )
            )
        );
    }
    let _ = writeln!(out, "{line}");
    for field in fields {
        let DriftedField {
            path,
            live,
            declared,
        } = field;
        let _ = writeln!(
            out,
            "      {}: {} in Partner Center, {} in the manifest",
            escape_controls(path),
            style.paint(RED, &show(live)),
            style.paint(GREEN, &show(declared))
        );
    }
    if let Some(note) = note {
        let _ = writeln!(
            out,
            "      {}",
            style.paint(MAGENTA, &escape_controls(note))
        );
    }
}

/// The marker a drift issue or comment starts with, so a job finds its own.
pub const DRIFT_MARKER: &str = "<!-- cspctl:drift -->";

/// Customers' details folded in the markdown report while they fit; the rest are
/// counted (GitHub refuses an issue body over 65,536 characters).
const MARKDOWN_LIMIT: usize = super::markdown::GITHUB_COMMENT_LIMIT;
/// Unmanaged objects listed by name in markdown; the rest are counted.
const UNMANAGED_SHOWN: usize = 100;

/// A field's value for markdown or annotations: masked when personal (unless
/// `show_sensitive`), shown as the text renderer shows values.
fn shown_value(path: &str, value: &serde_json::Value, show_sensitive: bool) -> String {
    show(&sensitive::shown(path, value, show_sensitive))
}

/// The report as an issue or pull-request body: the verdict and counts first, each
/// customer's drift folded in `<details>`, unmanaged objects last; under GitHub's
/// limit, with personal data masked unless `show_sensitive`.
pub fn render_drift_markdown(report: &DriftReport, show_sensitive: bool) -> String {
    render_drift_markdown_within(report, show_sensitive, MARKDOWN_LIMIT)
}

fn render_drift_markdown_within(
    report: &DriftReport,
    show_sensitive: bool,
    max_len: usize,
) -> String {
    let DriftReport {
        format_version: _,
        backend,
        scope,
        ignore_unmanaged,
        in_sync,
        summary,
        objects,
        unmanaged,
        partly_known,
        // Shown under the summary line.
        cost: _,
        renewals,
    } = report;
    let mut head = String::new();
    let _ = writeln!(head, "{DRIFT_MARKER}");
    let verdict = if *in_sync { "in sync" } else { "drift found" };
    let _ = writeln!(head, "## cspctl drift: {verdict}\n");
    let _ = writeln!(head, "**{}**\n", md::text(&report.summary_line()));
    if let Some(cost) = &report.cost {
        let _ = writeln!(head, "{}\n", md::text(&cost.line()));
    }
    if !scope.is_empty() {
        let names: Vec<String> = scope.iter().map(|c| md::text(c)).collect();
        let _ = writeln!(head, "Scope: customer(s) {}.\n", names.join(", "));
    }
    let _ = writeln!(head, "| drift | count |\n|---|---:|");
    let _ = writeln!(head, "| objects that differ | {} |", summary.changed);
    let _ = writeln!(head, "| fields that differ | {} |", summary.fields);
    let _ = writeln!(head, "| declared but missing | {} |", summary.missing);
    let ignored = if *ignore_unmanaged { " (ignored)" } else { "" };
    let _ = writeln!(head, "| unmanaged{ignored} | {} |\n", summary.unmanaged);
    if !partly_known.is_empty() {
        let _ = writeln!(head, "**Partly known** (not compared):\n");
        for line in super::partly_known_lines(partly_known) {
            let _ = writeln!(head, "- {}", md::text(&line));
        }
        head.push('\n');
    }
    let calendar = super::markdown::renewals_section(renewals);
    if !calendar.is_empty() {
        head.push_str(calendar.trim_start());
        head.push('\n');
    }

    let mut tail = String::new();
    if !unmanaged.is_empty() {
        let _ = writeln!(
            tail,
            "<details><summary>{} in Partner Center but in no manifest{ignored}</summary>\n",
            md::text(&format!("{} object(s)", unmanaged.len()))
        );
        for object in unmanaged.iter().take(UNMANAGED_SHOWN) {
            let Unmanaged { kind, id, name } = object;
            let _ = writeln!(
                tail,
                "- {} {} (id {})",
                md::text(kind),
                md::text(name),
                md::text(id)
            );
        }
        if unmanaged.len() > UNMANAGED_SHOWN {
            let _ = writeln!(
                tail,
                "- and {} more (`cspctl drift --format json` lists them all)",
                unmanaged.len() - UNMANAGED_SHOWN
            );
        }
        let _ = writeln!(tail, "\n</details>\n");
    }
    let _ = writeln!(
        tail,
        "<sub>Read from {}. Bring Partner Center back to the manifests with `cspctl apply`, or change the manifests to match it.</sub>",
        md::code(backend)
    );

    let blocks: Vec<String> = groups(objects)
        .into_iter()
        .map(|(customer, group)| markdown_group(customer, &group, show_sensitive))
        .collect();
    let mut out = head;
    let mut left_out = 0;
    // Room for the notice of what was left out.
    let reserve = 200;
    for block in &blocks {
        if left_out == 0 && out.len() + block.len() + tail.len() + reserve <= max_len {
            out.push_str(block);
        } else {
            left_out += 1;
        }
    }
    if left_out > 0 {
        let _ = writeln!(
            out,
            "> [!NOTE]\n> **Truncated** to fit GitHub's limit: {left_out} group(s) of drifted objects left out; `cspctl drift --format json` lists every one.\n"
        );
    }
    if out.len() + tail.len() <= max_len {
        out.push_str(&tail);
    }
    out
}

fn markdown_group(
    customer: Option<&str>,
    group: &[&DriftedObject],
    show_sensitive: bool,
) -> String {
    let mut out = String::new();
    let heading = super::owner_heading(customer);
    let fields: usize = group.iter().map(|o| o.fields.len()).sum();
    let _ = writeln!(
        out,
        "<details><summary>{}: {} object(s), {fields} field(s)</summary>\n",
        md::text(&heading),
        group.len()
    );
    for object in group {
        let DriftedObject {
            address,
            customer: _,
            kind,
            fields,
            note,
            source,
        } = object;
        let what = match kind {
            DriftKind::Missing => "missing in Partner Center",
            DriftKind::Changed => "differs",
        };
        let at = source.as_ref().map_or_else(String::new, |s| {
            format!(" ({})", md::text(&format!("{}:{}", s.file, s.line)))
        });
        let _ = writeln!(out, "- **{}** {what}{at}", md::text(address));
        if !fields.is_empty() {
            let _ = writeln!(
                out,
                "\n  | field | Partner Center | manifest |\n  |---|---|---|"
            );
            for DriftedField {
                path,
                live,
                declared,
            } in fields
            {
                let _ = writeln!(
                    out,
                    "  | {} | {} | {} |",
                    md::text(path),
                    md::text(&shown_value(path, live, show_sensitive)),
                    md::text(&shown_value(path, declared, show_sensitive))
                );
            }
            out.push('\n');
        }
        if let Some(note) = note {
            let _ = writeln!(out, "  {}", md::text(note));
        }
    }
    // A blank line ends the last list or table before the HTML block.
    if !out.ends_with("\n\n") {
        out.push('\n');
    }
    out.push_str("</details>\n\n");
    out
}

/// The report as GitHub Actions annotations: a warning on the manifest line of each
/// drifted object, then the unmanaged objects and the verdict without a file.
pub fn render_drift_github(report: &DriftReport, show_sensitive: bool) -> String {
    let mut annotations: Vec<Annotation> = report
        .objects
        .iter()
        .map(|object| {
            let mut message = match object.kind {
                DriftKind::Missing => "declared but missing in Partner Center".to_owned(),
                DriftKind::Changed => object
                    .fields
                    .iter()
                    .map(|f| {
                        format!(
                            "{}: {} in Partner Center, {} in the manifest",
                            f.path,
                            shown_value(&f.path, &f.live, show_sensitive),
                            shown_value(&f.path, &f.declared, show_sensitive)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            };
            if let Some(note) = &object.note {
                message.push('\n');
                message.push_str(note);
            }
            Annotation {
                level: Level::Warning,
                source: object.source.clone(),
                title: format!("cspctl drift: {}", object.address),
                message,
            }
        })
        .collect();
    if !report.unmanaged.is_empty() {
        let names: Vec<String> = report
            .unmanaged
            .iter()
            .take(10)
            .map(|u| format!("{} {}", u.kind, u.name))
            .collect();
        let more = report.unmanaged.len().saturating_sub(names.len());
        let mut message = format!(
            "{} live object(s) no manifest declares{}: {}",
            report.unmanaged.len(),
            if report.ignore_unmanaged {
                " (ignored)"
            } else {
                ""
            },
            names.join(", ")
        );
        if more > 0 {
            let _ = write!(message, ", and {more} more");
        }
        annotations.push(Annotation {
            level: if report.ignore_unmanaged {
                Level::Notice
            } else {
                Level::Warning
            },
            source: None,
            title: "cspctl drift: unmanaged".to_owned(),
            message,
        });
    }
    annotations.push(Annotation {
        level: if report.in_sync {
            Level::Notice
        } else {
            Level::Warning
        },
        source: None,
        title: "cspctl drift".to_owned(),
        message: report.summary_line(),
    });
    annotations.iter().map(annotation_line).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::drift::{DRIFT_FORMAT_VERSION, DriftSummary};
    use crate::plan::SourceRef;

    fn object(customer: &str, fields: Vec<DriftedField>) -> DriftedObject {
        DriftedObject {
            address: format!("Customer/{customer}"),
            customer: Some(customer.to_owned()),
            kind: DriftKind::Changed,
            fields,
            note: None,
            source: Some(SourceRef {
                file: format!("customers/{customer}.yaml"),
                line: 4,
                column: 9,
            }),
        }
    }

    fn report(objects: Vec<DriftedObject>, unmanaged: Vec<Unmanaged>) -> DriftReport {
        let summary = DriftSummary {
            changed: objects.len(),
            fields: objects.iter().map(|o| o.fields.len()).sum(),
            missing: 0,
            unmanaged: unmanaged.len(),
        };
        DriftReport {
            cost: None,
            format_version: DRIFT_FORMAT_VERSION,
            backend: "partner-center:tenant".into(),
            scope: Vec::new(),
            ignore_unmanaged: false,
            in_sync: objects.is_empty() && unmanaged.is_empty(),
            summary,
            objects,
            unmanaged,
            partly_known: Vec::new(),
            renewals: Vec::new(),
        }
    }

    fn email_drift() -> DriftReport {
        report(
            vec![object(
                "contoso",
                vec![
                    DriftedField {
                        path: "billing.email".into(),
                        live: json!("old.person@contoso.example"),
                        declared: json!("new.person@contoso.example"),
                    },
                    DriftedField {
                        path: "billing.address.city".into(),
                        live: json!("Reno"),
                        declared: json!("Austin"),
                    },
                ],
            )],
            Vec::new(),
        )
    }

    #[test]
    fn markdown_starts_with_the_marker_and_masks_personal_data_unless_asked() {
        let masked = render_drift_markdown(&email_drift(), false);
        assert!(masked.starts_with("<!-- cspctl:drift -->\n"), "{masked}");
        assert!(masked.contains("drift found"), "{masked}");
        assert!(!masked.contains("person@"), "{masked}");
        assert!(masked.contains("•••"), "{masked}");
        assert!(masked.contains("Austin"), "{masked}");
        assert!(masked.contains("customers/contoso.yaml:4"), "{masked}");
        let shown = render_drift_markdown(&email_drift(), true);
        assert!(shown.contains("new.person@contoso.example"), "{shown}");
        // Deterministic.
        assert_eq!(render_drift_markdown(&email_drift(), false), masked);
    }

    #[test]
    fn annotations_mask_personal_data_too() {
        let masked = render_drift_github(&email_drift(), false);
        assert!(!masked.contains("person@"), "{masked}");
        assert!(masked.starts_with(
            "::warning file=customers/contoso.yaml,line=4,col=9,title=cspctl drift%3A Customer/contoso::billing.email: ••• in Partner Center, ••• in the manifest%0A"
        ), "{masked}");
        assert!(masked.ends_with("::warning title=cspctl drift::Drift: 1 object(s) differ (2 field(s)), 0 missing, 0 unmanaged.\n"), "{masked}");
    }

    #[test]
    fn untrusted_text_cannot_break_the_markdown_structure() {
        let hostile = report(
            vec![object(
                "contoso",
                vec![DriftedField {
                    path: "companyName".into(),
                    live: json!("</details><script>x</script> | a |"),
                    declared: json!("`Contoso`"),
                }],
            )],
            vec![Unmanaged {
                kind: "Subscription".into(),
                id: "1".into(),
                name: "</details>[click](javascript:x)".into(),
            }],
        );
        let out = render_drift_markdown(&hostile, false);
        assert!(!out.contains("<script>"), "{out}");
        assert_eq!(out.matches("</details>").count(), 2, "{out}");
        assert!(!out.contains("[click]("), "{out}");
    }

    #[test]
    fn a_large_report_is_truncated_under_the_limit_with_a_notice() {
        let objects: Vec<DriftedObject> = (0..3_000)
            .map(|i| {
                object(
                    &format!("customer-{i:04}"),
                    vec![DriftedField {
                        path: "billing.address.city".into(),
                        live: json!("Reno"),
                        declared: json!("Austin"),
                    }],
                )
            })
            .collect();
        let unmanaged: Vec<Unmanaged> = (0..500)
            .map(|i| Unmanaged {
                kind: "Subscription".into(),
                id: format!("{i}"),
                name: format!("Visio {i}"),
            })
            .collect();
        let big = report(objects, unmanaged);
        let out = render_drift_markdown(&big, false);
        assert!(out.len() <= MARKDOWN_LIMIT, "{}", out.len());
        assert!(out.contains("**Truncated**"), "a notice");
        assert!(out.contains("customer-0000"), "the first customers stay");
        assert!(
            out.contains("and 400 more"),
            "unmanaged objects are counted"
        );
        let small = render_drift_markdown_within(&big, false, 4_000);
        assert!(small.len() <= 4_000, "{}", small.len());
        assert!(small.starts_with(DRIFT_MARKER));
        assert!(small.contains("| objects that differ | 3000 |"), "{small}");
    }

    #[test]
    fn in_sync_is_short() {
        let out = render_drift_markdown(&report(Vec::new(), Vec::new()), false);
        assert!(out.contains("## cspctl drift: in sync"), "{out}");
        assert!(!out.contains("<details>"), "{out}");
        let text = render_drift_text(&report(Vec::new(), Vec::new()), false);
        assert_eq!(text, "In sync: the live state matches the manifests.\n");
    }
}
