//! Drift reports for people (text), machines (JSON), pull requests and issues
//! (markdown) and GitHub Actions (annotations). Pure, like the plan renderers.

use std::fmt::Write as _;

use crate::drift::{DriftKind, DriftReport, DriftedField, DriftedObject};
use crate::plan::Unmanaged;

use super::text::{BOLD, DIM, GREEN, MAGENTA, RED, Style, YELLOW, clean, show};

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
    let mut text =
        serde_json::to_string_pretty(report).expect("a drift report always serializes to JSON");
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
    } = report;
    let mut sections: Vec<String> = Vec::new();
    for (customer, group) in groups(objects) {
        let mut section = String::new();
        let heading = match customer {
            None => "Resellers".to_owned(),
            Some(name) => format!("Customer {}", clean(name)),
        };
        let _ = writeln!(section, "{}", style.paint(BOLD, &heading));
        for object in group {
            render_object(&mut section, object, style);
        }
        sections.push(section);
    }
    if !unmanaged.is_empty() {
        sections.push(render_unmanaged(unmanaged, report.ignore_unmanaged, style));
    }
    sections.push(format!("{}\n", style.paint(BOLD, &report.summary_line())));
    sections.join("\n")
}

/// Objects by owner: resellers (`None`) first, then customers by first appearance.
pub(crate) fn groups(objects: &[DriftedObject]) -> Vec<(Option<&str>, Vec<&DriftedObject>)> {
    let mut groups: Vec<(Option<&str>, Vec<&DriftedObject>)> = Vec::new();
    if objects.iter().any(|o| o.customer.is_none()) {
        groups.push((None, Vec::new()));
    }
    for object in objects {
        let owner = object.customer.as_deref();
        match groups.iter_mut().find(|(o, _)| *o == owner) {
            Some((_, group)) => group.push(object),
            None => groups.push((owner, vec![object])),
        }
    }
    groups
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
        style.paint(BOLD, &clean(address)),
        style.paint(colour, &format!("({label})"))
    );
    if let Some(source) = source {
        let _ = write!(
            line,
            " {}",
            style.paint(
                DIM,
                &format!("{}:{}:{}", clean(&source.file), source.line, source.column)
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
            clean(path),
            style.paint(RED, &show(live)),
            style.paint(GREEN, &show(declared))
        );
    }
    if let Some(note) = note {
        let _ = writeln!(out, "      {}", style.paint(MAGENTA, &clean(note)));
    }
}

fn render_unmanaged(unmanaged: &[Unmanaged], ignored: bool, style: Style) -> String {
    let mut out = String::new();
    let heading = if ignored {
        "Unmanaged (in Partner Center, in no manifest; ignored):"
    } else {
        "Unmanaged (in Partner Center, in no manifest):"
    };
    let _ = writeln!(out, "{}", style.paint(BOLD, heading));
    for object in unmanaged {
        let Unmanaged { kind, id, name } = object;
        let _ = writeln!(
            out,
            "  {} {} {}",
            clean(kind),
            clean(name),
            style.paint(DIM, &format!("(id {})", clean(id)))
        );
    }
    out
}

/// The report as an issue or pull-request body.
pub fn render_drift_markdown(report: &DriftReport, show_sensitive: bool) -> String {
    let _ = show_sensitive;
    render_drift_text(report, false)
}

/// The report as GitHub Actions annotations.
pub fn render_drift_github(report: &DriftReport, show_sensitive: bool) -> String {
    let _ = show_sensitive;
    render_drift_text(report, false)
}
