//! The human plan: what a reviewer reads in seconds before approving an apply.
//!
//! Actions are grouped by owner: resellers first (they gate everything else), then
//! one group per customer in the order its first action appears, plan (dependency)
//! order inside a group. Each action is one line (`+ create Customer/contoso
//! [customer_visible]`) followed by its indented field changes, dependencies and, for
//! actions waiting on a person, the instructions and link. Then the live objects
//! cspctl leaves alone, the Partner Center roles the applying account needs, and
//! [`Plan::summary_line`] last, where CI logs and eyes look first.
//!
//! Colour is decoration only: with `color` off the text carries the same information
//! (stripping the ANSI codes from the coloured text gives exactly the plain text), so
//! `NO_COLOR`, pipes and logs lose nothing. Text that comes from manifests or from
//! Partner Center has its control characters escaped, so a name cannot smuggle
//! terminal escape sequences into the output. This module renders only; it decides
//! nothing about the plan.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io;

use serde_json::Value;

use super::escape_controls;
use similar::{Algorithm, ChangeTag};

use crate::plan::{
    Action, ActionStatus, ActionType, FieldChange, Plan, Precondition, Risk, Unmanaged,
};

// SGR parameters; kept as numbers so `Style::paint` is the only place that knows the
// escape syntax.
pub(crate) const BOLD: &str = "1";
pub(crate) const DIM: &str = "2";
pub(crate) const RED: &str = "31";
pub(crate) const GREEN: &str = "32";
pub(crate) const YELLOW: &str = "33";
pub(crate) const BLUE: &str = "34";
pub(crate) const MAGENTA: &str = "35";
pub(crate) const CYAN: &str = "36";
// Changed words in a string diff: underlined too, so a changed space shows.
const DELETED: &str = "1;4;31";
const INSERTED: &str = "1;4;32";

/// Renders the plan for people. Deterministic byte for byte; ends with a newline.
pub fn render_text(plan: &Plan, color: bool) -> String {
    let mut bytes = Vec::new();
    // Writing to a `Vec` cannot fail.
    write_text(plan, color, &mut bytes).expect("writing to memory");
    String::from_utf8(bytes).expect("the text plan is UTF-8")
}

/// Customers' sections per piece (about
/// [`super::pieces::PIECE_ITEMS`] actions).
const GROUPS_PER_PIECE: usize = super::pieces::PIECE_ITEMS / 8;

/// [`render_text`] written to `out` a piece of sections (owners' actions) at a
/// time, so a whole tenant's plan is never held in memory as text.
pub fn write_text(plan: &Plan, color: bool, out: &mut dyn io::Write) -> io::Result<()> {
    let style = Style { color };
    // Every field named: a new one must be placed here (or explicitly skipped).
    let Plan {
        // Versions the JSON contract; meaningless to a reader.
        format_version: _,
        // The caller knows which backend it planned against; the JSON and the saved
        // plan carry it for `apply PLANFILE`.
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
        cost,
        scope,
        digest: _,
        renewals,
    } = plan;

    // Sections are separated by a blank line. The customers' sections (nearly all
    // of a large plan) are rendered in pieces on two threads (`super::pieces`).
    let groups = super::action_groups(actions);
    let render_groups = |groups: &[(Option<&str>, Vec<&Action>)], first: bool| {
        let mut section = String::new();
        for (i, (customer, group)) in groups.iter().enumerate() {
            if !(first && i == 0) {
                section.push('\n');
            }
            let heading = escape_controls(&super::owner_heading(*customer)).into_owned();
            let _ = writeln!(section, "{}", style.paint(BOLD, &heading));
            for action in group {
                render_action(&mut section, action, style);
            }
        }
        Ok(section.into_bytes())
    };
    super::pieces::write_in_pieces(&groups, GROUPS_PER_PIECE, &render_groups, &mut |piece| {
        out.write_all(piece)
    })?;
    let mut first = groups.is_empty();
    let mut write_section = |section: &str| -> io::Result<()> {
        if !std::mem::take(&mut first) {
            out.write_all(b"\n")?;
        }
        out.write_all(section.as_bytes())
    };
    let mut sections: Vec<String> = Vec::new();
    if !unmanaged.is_empty() {
        sections.push(render_unmanaged(
            unmanaged,
            "Unmanaged (never changed by cspctl):",
            style,
        ));
    }
    if !partly_known.is_empty() {
        let mut section = format!("{}\n", style.paint(BOLD, "Partly known:"));
        for line in super::partly_known_lines(partly_known) {
            let _ = writeln!(section, "  {}", escape_controls(&line));
        }
        sections.push(section);
    }
    if let Some(roles) = render_roles(actions, style) {
        sections.push(roles);
    }
    if !renewals.is_empty() {
        sections.push(render_renewals(renewals, style));
    }
    let mut summary = format!("{}\n", style.paint(BOLD, &plan.summary_line()));
    if let Some(scope) = scope {
        let _ = writeln!(summary, "{}", escape_controls(&scope.line()));
    }
    if let Some(cost) = cost {
        let _ = writeln!(summary, "{}", cost.line());
    }
    sections.push(summary);
    for section in &sections {
        write_section(section)?;
    }
    Ok(())
}

fn render_action(out: &mut String, action: &Action, style: Style) {
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
        // Summed up once for the whole plan in the roles section.
        roles: _,
        instructions,
        url,
        warnings,
        // The machine-readable ids of what `warnings` say, for programs (JSON).
        rules: _,
        // Where the object is declared: for the github/markdown formats and the JSON;
        // the address already names the manifest object.
        source: _,
        precondition,
        // The raw request; the field changes say the same for a reviewer.
        operation: _,
        renewal,
    } = action;

    let (symbol, verb, colour) = presentation(*action_type);
    let verb = match (action_type, renewal) {
        (ActionType::AtRenewal, Some(renewal)) => format!("{verb} on {}", renewal.describe()),
        _ => verb.to_owned(),
    };
    let mut line = format!(
        "  {} {}",
        style.paint(colour, &format!("{symbol} {verb}")),
        style.paint(BOLD, &escape_controls(address))
    );
    match status {
        ActionStatus::Ready => {}
        // `? manual` already says it; `(manual)` only flags other types waiting on a person.
        ActionStatus::Manual if *action_type == ActionType::Manual => {}
        ActionStatus::Manual => {
            let _ = write!(line, " {}", style.paint(MAGENTA, "(manual)"));
        }
        ActionStatus::Blocked => {
            let _ = write!(line, " {}", style.paint(RED, "(blocked)"));
        }
    }
    if !risks.is_empty() {
        let labels: Vec<&str> = risks.iter().map(|r| Risk::as_str(*r)).collect();
        let _ = write!(
            line,
            " {}",
            style.paint(RED, &format!("[{}]", labels.join(", ")))
        );
    }
    let _ = writeln!(out, "{line}");

    // When the live object does not exist yet there is no "before" worth showing.
    let creates = *action_type == ActionType::Create
        || matches!(
            precondition,
            Some(Precondition {
                fingerprint: None,
                ..
            })
        );
    for change in changes {
        let _ = writeln!(out, "      {}", render_change(change, creates, style));
    }
    if let Some(renewal) = renewal
        && *action_type != ActionType::AtRenewal
    {
        let _ = writeln!(
            out,
            "      {}",
            style.paint(
                DIM,
                &format!("term ends: renewal on {}", renewal.describe())
            )
        );
    }
    if !depends_on.is_empty() {
        let names: Vec<Cow<'_, str>> = depends_on.iter().map(|d| escape_controls(d)).collect();
        let _ = writeln!(
            out,
            "      {}",
            style.paint(DIM, &format!("after: {}", names.join(", ")))
        );
    }
    for warning in warnings {
        let _ = writeln!(
            out,
            "      {} {}",
            style.paint(YELLOW, "warning:"),
            escape_controls(warning)
        );
    }
    if let Some(instructions) = instructions {
        let _ = writeln!(out, "      {}", escape_controls(instructions));
    }
    if let Some(url) = url {
        let _ = writeln!(
            out,
            "      url: {}",
            style.paint(CYAN, &escape_controls(url))
        );
    }
}

/// Symbol, verb and colour of an action type. ASCII symbols: they survive every
/// terminal, font and log viewer.
fn presentation(action_type: ActionType) -> (&'static str, &'static str, &'static str) {
    match action_type {
        ActionType::Create => ("+", "create", GREEN),
        ActionType::Update => ("~", "update", YELLOW),
        ActionType::Suspend => ("!", "suspend", RED),
        ActionType::Reactivate => (">", "reactivate", CYAN),
        ActionType::SetSupportContact => ("*", "set support contact", BLUE),
        ActionType::ResetSupportContact => ("*", "reset support contact", BLUE),
        ActionType::Manual => ("?", "manual", MAGENTA),
        ActionType::AtRenewal => ("@", "at renewal", CYAN),
        ActionType::Cancel => ("x", "cancel", RED),
    }
}

/// The renewal calendar (`--renewals`): one line per subscription, soonest first.
pub(crate) fn render_renewals(renewals: &[crate::plan::Renewal], style: Style) -> String {
    let mut section = format!("{}\n", style.paint(BOLD, "Renewals:"));
    for renewal in renewals {
        let _ = writeln!(
            section,
            "  {}",
            escape_controls(&super::renewal_line(renewal))
        );
    }
    section
}

/// `path = after` for a new object, `path: before → after` otherwise; two strings get
/// a word-level diff (changed words highlighted) when colour is on.
fn render_change(change: &FieldChange, creates: bool, style: Style) -> String {
    let FieldChange {
        path,
        before,
        after,
    } = change;
    let path = escape_controls(path);
    let after_text = show(after);
    if creates {
        return format!("{path} = {}", style.paint(GREEN, &after_text));
    }
    let before_text = show(before);
    let (before_shown, after_shown) = match (before, after) {
        (Value::String(_), Value::String(_)) if style.color => {
            word_diff(&before_text, &after_text, style)
        }
        _ => (
            style.paint(RED, &before_text),
            style.paint(GREEN, &after_text),
        ),
    };
    format!("{path}: {before_shown} → {after_shown}")
}

/// The two sides of a word-level diff: deleted words highlighted in `before`, inserted
/// ones in `after`, so the plain text is unchanged when the codes are stripped.
fn word_diff(before: &str, after: &str, style: Style) -> (String, String) {
    // Myers with no deadline: deterministic, and field values are short.
    let mut old = String::new();
    let mut new = String::new();
    for (tag, slice) in similar::utils::diff_words(Algorithm::Myers, before, after) {
        match tag {
            ChangeTag::Equal => {
                old.push_str(slice);
                new.push_str(slice);
            }
            ChangeTag::Delete => old.push_str(&style.paint(DELETED, slice)),
            ChangeTag::Insert => new.push_str(&style.paint(INSERTED, slice)),
        }
    }
    (old, new)
}

/// A value as [`super::display_value`] shows it, control characters escaped.
pub(crate) fn show(value: &Value) -> String {
    escape_controls(&super::display_value(value)).into_owned()
}

/// The unmanaged objects under `heading`, one a line (plans and drift reports).
pub(crate) fn render_unmanaged(unmanaged: &[Unmanaged], heading: &str, style: Style) -> String {
    let mut out = format!("{}\n", style.paint(BOLD, heading));
    for object in unmanaged {
        // Every field named: a new one must be placed here (or explicitly skipped).
        let Unmanaged { kind, id, name } = object;
        let _ = writeln!(
            out,
            "  {} {} {}",
            escape_controls(kind),
            escape_controls(name),
            style.paint(DIM, &format!("(id {})", escape_controls(id)))
        );
    }
    out
}

/// Each distinct role set with how many actions need it, in order of first use. Each
/// action needs any one role of its set, so the applying account needs one role from
/// every line; sets rather than one line per action keep a big plan short.
fn render_roles(actions: &[Action], style: Style) -> Option<String> {
    let mut sets: Vec<(&[String], usize)> = Vec::new();
    for action in actions.iter().filter(|a| !a.roles.is_empty()) {
        match sets
            .iter_mut()
            .find(|(roles, _)| *roles == action.roles.as_slice())
        {
            Some((_, count)) => *count += 1,
            None => sets.push((action.roles.as_slice(), 1)),
        }
    }
    if sets.is_empty() {
        return None;
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        style.paint(
            BOLD,
            "Partner Center roles (the applying account needs one role from each line):"
        )
    );
    for (roles, count) in sets {
        let names: Vec<Cow<'_, str>> = roles.iter().map(|r| escape_controls(r)).collect();
        let actions = if count == 1 { "action" } else { "actions" };
        let _ = writeln!(
            out,
            "  {} {}",
            names.join(", "),
            style.paint(DIM, &format!("({count} {actions})"))
        );
    }
    Some(out)
}

/// Whether to emit ANSI colours; the only place escape sequences are written.
#[derive(Clone, Copy)]
pub(crate) struct Style {
    pub(crate) color: bool,
}

impl Style {
    pub(crate) fn paint(self, sgr: &str, text: &str) -> String {
        if self.color && !text.is_empty() {
            format!("\x1b[{sgr}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::plan::{LiveKey, ObjectRef, Operation, SubscriptionPatch};

    const COMMERCE: [&str; 4] = ["Global admin", "User admin", "Admin agent", "Sales agent"];
    const SUPPORT: [&str; 3] = ["Admin agent", "Global admin", "Helpdesk agent"];

    fn action(address: &str, customer: Option<&str>, action_type: ActionType) -> Action {
        Action {
            roles: COMMERCE.map(str::to_owned).to_vec(),
            ..Action::new(
                address.to_owned(),
                customer.map(str::to_owned),
                action_type,
                Operation::Manual,
            )
        }
    }

    fn customer_ref() -> ObjectRef {
        ObjectRef {
            address: "Customer/contoso".to_owned(),
            id: Some("c1".to_owned()),
        }
    }

    fn plan(actions: Vec<Action>, unmanaged: Vec<Unmanaged>) -> Plan {
        Plan::new("local:state.json".to_owned(), actions, unmanaged)
    }

    /// A create, an update (a string and a number), a manual action with instructions
    /// and a link, a blocked action, and two unmanaged objects; the reseller action is
    /// deliberately not first, to show that resellers are still grouped first.
    fn sample() -> Plan {
        let mut create = action("Customer/contoso", Some("contoso"), ActionType::Create);
        create.changes = vec![
            FieldChange::new("companyName", Value::Null, json!("Contoso Ltd")),
            FieldChange::new("billing.address.city", Value::Null, json!("Seattle")),
            FieldChange::new("agreement", Value::Null, json!({"accepted": true})),
        ];
        create.risks = vec![Risk::CustomerVisible, Risk::Irreversible];
        create.precondition = Some(Precondition {
            key: LiveKey::CustomerDomain {
                domain: "contoso.onmicrosoft.com".to_owned(),
            },
            fingerprint: None,
        });

        let mut invite = action("Reseller/northwind", None, ActionType::Manual);
        invite.instructions =
            Some("Invite reseller `Northwind` (MPN ID 1234567) in Partner Center.".to_owned());
        invite.changes = vec![FieldChange::new("mpnId", Value::Null, json!("1234567"))];
        invite.precondition = Some(Precondition {
            key: LiveKey::Reseller {
                tenant_id: "r1".to_owned(),
            },
            fingerprint: None,
        });

        let mut update = action(
            "Subscription/contoso-m365",
            Some("contoso"),
            ActionType::Update,
        );
        update.changes = vec![
            FieldChange::new(
                "friendlyName",
                json!("Office 365 E3 seats"),
                json!("Microsoft 365 E3 seats"),
            ),
            FieldChange::new("quantity", json!(10), json!(12)),
            FieldChange::new("reseller", Value::Null, json!("")),
        ];
        update.risks = vec![Risk::CostIncrease];
        update.depends_on = vec!["Customer/contoso".to_owned()];
        update.operation = Operation::UpdateSubscription {
            customer: customer_ref(),
            subscription_id: "s1".to_owned(),
            patch: SubscriptionPatch {
                quantity: Some(12),
                ..SubscriptionPatch::default()
            },
        };

        let mut relationship = action(
            "Relationship/fabrikam/northwind",
            Some("fabrikam"),
            ActionType::Manual,
        );
        relationship.instructions = Some(
            "The customer's global admin accepts the reseller relationship request.".to_owned(),
        );
        relationship.url = Some(
            "https://admin.microsoft.com/Adminportal/Home?invType=IndirectResellerRelationship"
                .to_owned(),
        );
        relationship.depends_on = vec!["Reseller/northwind".to_owned()];

        let mut blocked = action(
            "SupportContact/fabrikam-support",
            Some("fabrikam"),
            ActionType::SetSupportContact,
        );
        blocked.status = ActionStatus::Blocked;
        blocked.roles = SUPPORT.map(str::to_owned).to_vec();
        blocked.changes = vec![FieldChange::new(
            "reseller",
            json!("MPN 7654321"),
            json!("northwind"),
        )];
        blocked.risks = vec![Risk::CustomerVisible];
        blocked.depends_on = vec!["Relationship/fabrikam/northwind".to_owned()];
        blocked.instructions = Some(
            "Waits for Relationship/fabrikam/northwind; run plan again once that is done."
                .to_owned(),
        );

        let unmanaged = vec![
            Unmanaged {
                kind: "Customer".to_owned(),
                id: "0c1d".to_owned(),
                name: "adatum.onmicrosoft.com".to_owned(),
            },
            Unmanaged {
                kind: "Subscription".to_owned(),
                id: "9f8e".to_owned(),
                name: "Visio Plan 2".to_owned(),
            },
        ];
        plan(
            vec![create, invite, update, relationship, blocked],
            unmanaged,
        )
    }

    const EXPECTED: &str = "\
Resellers
  ? manual Reseller/northwind
      mpnId = 1234567
      Invite reseller `Northwind` (MPN ID 1234567) in Partner Center.

Customer contoso
  + create Customer/contoso [customer_visible, irreversible]
      companyName = Contoso Ltd
      billing.address.city = Seattle
      agreement = {\"accepted\":true}
  ~ update Subscription/contoso-m365 [cost_increase]
      friendlyName: Office 365 E3 seats → Microsoft 365 E3 seats
      quantity: 10 → 12
      reseller: (none) → \"\"
      after: Customer/contoso

Customer fabrikam
  ? manual Relationship/fabrikam/northwind
      after: Reseller/northwind
      The customer's global admin accepts the reseller relationship request.
      url: https://admin.microsoft.com/Adminportal/Home?invType=IndirectResellerRelationship
  * set support contact SupportContact/fabrikam-support (blocked) [customer_visible]
      reseller: MPN 7654321 → northwind
      after: Relationship/fabrikam/northwind
      Waits for Relationship/fabrikam/northwind; run plan again once that is done.

Unmanaged (never changed by cspctl):
  Customer adatum.onmicrosoft.com (id 0c1d)
  Subscription Visio Plan 2 (id 9f8e)

Partner Center roles (the applying account needs one role from each line):
  Global admin, User admin, Admin agent, Sales agent (4 actions)
  Admin agent, Global admin, Helpdesk agent (1 action)

Plan: 1 to create, 1 to update, 1 support contact(s) to set, 2 manual, 1 blocked.
";

    /// Removes `ESC [ ... m` sequences.
    fn strip_ansi(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn plain_output_is_exact() {
        assert_eq!(render_text(&sample(), false), EXPECTED);
    }

    #[test]
    fn colour_is_decoration_only() {
        let coloured = render_text(&sample(), true);
        let plain = render_text(&sample(), false);
        assert!(coloured.contains("\x1b["), "{coloured}");
        assert!(!plain.contains('\x1b'));
        assert_eq!(strip_ansi(&coloured), plain);
    }

    #[test]
    fn colour_highlights_only_the_changed_words() {
        let coloured = render_text(&sample(), true);
        assert!(
            coloured.contains(
                "friendlyName: \x1b[1;4;31mOffice\x1b[0m 365 E3 seats → \x1b[1;4;32mMicrosoft\x1b[0m 365 E3 seats"
            ),
            "{coloured}"
        );
        assert!(
            coloured.contains("quantity: \x1b[31m10\x1b[0m → \x1b[32m12\x1b[0m"),
            "{coloured}"
        );
    }

    #[test]
    fn rendering_is_deterministic() {
        for color in [false, true] {
            assert_eq!(
                render_text(&sample(), color).into_bytes(),
                render_text(&sample(), color).into_bytes()
            );
        }
    }

    #[test]
    fn no_changes_prints_the_summary_line_and_unmanaged_objects_only() {
        assert_eq!(
            render_text(&plan(Vec::new(), Vec::new()), false),
            "No changes. The live state matches the manifests.\n"
        );
        let unmanaged = vec![Unmanaged {
            kind: "Reseller".to_owned(),
            id: "r9".to_owned(),
            name: "Tailspin".to_owned(),
        }];
        assert_eq!(
            render_text(&plan(Vec::new(), unmanaged), false),
            "Unmanaged (never changed by cspctl):\n  Reseller Tailspin (id r9)\n\nNo changes. The live state matches the manifests.\n"
        );
    }

    #[test]
    fn other_action_types_and_statuses() {
        let mut suspend = action("Subscription/a", Some("contoso"), ActionType::Suspend);
        suspend.changes = vec![FieldChange::new(
            "status",
            json!("active"),
            json!("suspended"),
        )];
        let reactivate = action("Subscription/b", Some("contoso"), ActionType::Reactivate);
        let mut reset = action(
            "Subscription/c/supportContact",
            Some("contoso"),
            ActionType::ResetSupportContact,
        );
        reset.operation = Operation::ResetSupportContact {
            customer: customer_ref(),
            subscription_id: "s3".to_owned(),
        };
        let mut waiting = action("Customer/d", Some("contoso"), ActionType::Update);
        waiting.status = ActionStatus::Manual;
        waiting.roles = Vec::new();
        let text = render_text(
            &plan(vec![suspend, reactivate, reset, waiting], Vec::new()),
            false,
        );
        assert!(
            text.contains("  ! suspend Subscription/a\n      status: active → suspended\n"),
            "{text}"
        );
        assert!(text.contains("  > reactivate Subscription/b\n"), "{text}");
        assert!(
            text.contains("  * reset support contact Subscription/c/supportContact\n"),
            "{text}"
        );
        assert!(text.contains("  ~ update Customer/d (manual)\n"), "{text}");
        assert!(text.contains("(3 actions)"), "{text}");
        assert!(!text.contains("Resellers"), "{text}");
    }

    #[test]
    fn control_characters_from_data_are_escaped() {
        let mut evil = action("Customer/x\x1b[31m", Some("x\ny"), ActionType::Update);
        evil.changes = vec![FieldChange::new(
            "companyName",
            json!("a\x1b]0;pwned\x07"),
            json!("b\u{9b}c"),
        )];
        evil.instructions = Some("line\nbreak".to_owned());
        for color in [false, true] {
            let text = render_text(&plan(vec![evil.clone()], Vec::new()), color);
            let without_ours = strip_ansi(&text);
            assert!(
                !without_ours.chars().any(|c| c.is_control() && c != '\n'),
                "{text:?}"
            );
            assert!(without_ours.contains("Customer x\\ny\n"), "{without_ours}");
            assert!(without_ours.contains("line\\nbreak"), "{without_ours}");
        }
    }
}
