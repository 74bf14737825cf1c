//! The markdown plan (`cspctl plan --format markdown`), a pull-request comment, and
//! the GitHub annotations (`--format github`): the comment stays under GitHub's
//! limit whatever the plan, keeps what a reviewer must see when it is truncated,
//! masks personal data, and cannot be broken by text from manifests or Partner
//! Center.
//!
//! `tests/snapshots/markdown/sample.md` is the golden rendering of a small plan; run
//! with `CSPCTL_BLESS=1` to rewrite it after an intended change, then review the diff.

use std::path::Path;

use cspctl::live::Live;
use cspctl::manifest::files::read_manifest_files;
use cspctl::manifest::load::{SchemaValidators, load_manifests};
use cspctl::plan::{
    Action, ActionStatus, ActionType, FieldChange, LiveKey, Operation, Plan, PlanOptions,
    Precondition, Risk, SourceRef, Unmanaged,
};
use cspctl::render::markdown::{GITHUB_COMMENT_LIMIT, MarkdownOptions, render_markdown};
use cspctl::render::{PlanFormat, RenderOptions, render_plan};
use cspctl::validate::validate;
use serde_json::{Value, json};

fn markdown(plan: &Plan) -> String {
    render_markdown(plan, &MarkdownOptions::default())
}

fn limited(plan: &Plan, max_len: usize, full_plan: Option<&str>) -> String {
    render_markdown(
        plan,
        &MarkdownOptions {
            max_len,
            full_plan: full_plan.map(str::to_owned),
            ..MarkdownOptions::default()
        },
    )
}

/// The plan of an example against an empty local state, made by the library.
fn example_plan(name: &str) -> Plan {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    let (sources, problems) = read_manifest_files(&[dir]);
    assert!(problems.is_empty(), "{problems:#?}");
    let (manifests, problems) = load_manifests(&sources, &SchemaValidators::new());
    assert!(problems.is_empty(), "{problems:#?}");
    let (desired, _) = validate(manifests).unwrap_or_else(|p| panic!("{p:#?}"));
    let options = PlanOptions {
        backend: "local:.cspctl/state.json".to_owned(),
        sandbox: true,
        simulate_hint: None,
        sandbox_reseller_limit: None,
        declared_reseller_tenants: true,
        ..PlanOptions::default()
    };
    cspctl::plan::plan(&desired, &sources, &Live::default(), &options)
        .unwrap_or_else(|p| panic!("{p:#?}"))
}

fn action(address: &str, customer: Option<&str>, action_type: ActionType) -> Action {
    Action {
        source: Some(SourceRef {
            file: "manifests/customers.yaml".to_owned(),
            line: 4,
            column: 9,
        }),
        ..Action::new(
            address.to_owned(),
            customer.map(str::to_owned),
            action_type,
            Operation::Manual,
        )
    }
}

fn plan(actions: Vec<Action>, unmanaged: Vec<Unmanaged>) -> Plan {
    Plan::new("local:.cspctl/state.json".to_owned(), actions, unmanaged)
}

fn existing(id: &str) -> Option<Precondition> {
    Some(Precondition {
        key: LiveKey::SubscriptionId { id: id.to_owned() },
        fingerprint: Some("fp".to_owned()),
    })
}

/// A new customer with a purchase and a seat increase, a suspension, a manual step
/// and what it blocks, and an unmanaged object.
fn sample() -> Plan {
    let mut invite = action("Reseller/northwind", None, ActionType::Manual);
    invite.instructions =
        Some("Invite reseller Northwind (MPN ID 1234567) in Partner Center.".to_owned());
    invite.url =
        Some("https://partner.microsoft.com/dashboard/v2/customers?tab=resellers".to_owned());

    let mut customer = action("Customer/contoso", Some("contoso"), ActionType::Create);
    customer.changes = vec![
        FieldChange::new("billing.address.city", Value::Null, json!("Redmond")),
        FieldChange::new("billing.address.firstName", Value::Null, json!("Ana")),
        FieldChange::new("billing.address.lastName", Value::Null, json!("Bowman")),
        FieldChange::new(
            "billing.address.phoneNumber",
            Value::Null,
            json!("4255550100"),
        ),
        FieldChange::new(
            "billing.email",
            Value::Null,
            json!("billing@contoso.example"),
        ),
        FieldChange::new("companyName", Value::Null, json!("Contoso Ltd")),
        FieldChange::new("domain", Value::Null, json!("contoso.onmicrosoft.com")),
    ];
    customer.risks = vec![Risk::CustomerVisible, Risk::Irreversible];

    let mut buy = action(
        "Subscription/contoso-m365",
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
    buy.depends_on = vec!["Customer/contoso".to_owned()];

    let mut seats = action(
        "Subscription/fabrikam-e3",
        Some("fabrikam"),
        ActionType::Update,
    );
    seats.changes = vec![FieldChange::new("quantity", json!(5), json!(10))];
    seats.risks = vec![Risk::CostIncrease];
    seats.precondition = existing("s1");

    let mut suspend = action(
        "Subscription/fabrikam-visio",
        Some("fabrikam"),
        ActionType::Suspend,
    );
    suspend.changes = vec![FieldChange::new(
        "status",
        json!("active"),
        json!("suspended"),
    )];
    suspend.risks = vec![Risk::CustomerVisible];
    suspend.warnings = vec![
        "Partner Center keeps billing a suspended new-commerce subscription until its term ends."
            .to_owned(),
    ];
    suspend.precondition = existing("s2");

    let mut support = action(
        "SupportContact/fabrikam-e3",
        Some("fabrikam"),
        ActionType::SetSupportContact,
    );
    support.status = ActionStatus::Blocked;
    support.changes = vec![FieldChange::new(
        "reseller",
        json!("(provider)"),
        json!("northwind"),
    )];
    support.risks = vec![Risk::CustomerVisible];
    support.depends_on = vec!["Reseller/northwind".to_owned()];
    support.instructions =
        Some("Waits for Reseller/northwind; run plan again once that is done.".to_owned());

    plan(
        vec![invite, customer, buy, seats, suspend, support],
        vec![Unmanaged {
            kind: "Subscription".to_owned(),
            id: "9f8e".to_owned(),
            name: "Visio Plan 2".to_owned(),
        }],
    )
}

#[test]
fn sample_matches_the_golden_file() {
    let out = markdown(&sample());
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/markdown/sample.md");
    if std::env::var_os("CSPCTL_BLESS").is_some() {
        std::fs::create_dir_all(golden.parent().expect("a parent")).expect("mkdir");
        std::fs::write(&golden, &out).expect("write the golden file");
    }
    let expected = std::fs::read_to_string(&golden)
        .expect("tests/snapshots/markdown/sample.md (CSPCTL_BLESS=1 writes it)");
    assert_eq!(out, expected, "run with CSPCTL_BLESS=1 and review the diff");
}

#[test]
fn the_comment_leads_with_what_a_reviewer_must_see() {
    let out = markdown(&sample());
    let order = [
        "<!-- cspctl:plan -->\n",
        "**Plan: 2 to create, 1 to update, 1 to suspend, 1 support contact(s) to set, 1 manual, 1 blocked.**",
        "| create | 2 |",
        "> **Purchases (1)**",
        "`Subscription/contoso-m365`: 10 × `CFQ7TTC0LH18:0001:CFQ7TTC0K5DM`, term P1Y, monthly billing",
        "> **Cost increases (1)**",
        "`Subscription/fabrikam-e3`: `quantity`: 5 → 10",
        "> **Suspensions (1)**",
        "> **Irreversible (1)**",
        "`Customer/contoso`: create: `domain` = contoso.onmicrosoft.com; `companyName` = Contoso Ltd; 5 more fields",
        "> **Customer-visible (1)**",
        "> **Warnings (1)**",
        "### Manual steps",
        "<a href=\"https://partner.microsoft.com/dashboard/v2/customers?tab=resellers\">",
        "`SupportContact/fabrikam-e3` waits for `Reseller/northwind`",
        "<details><summary>Resellers — 1 change (1 waiting on a person)</summary>\n\n",
        "<details><summary>Customer contoso — 2 changes (1 purchase, 1 irreversible)</summary>\n\n",
        "<details><summary>Customer fabrikam — 3 changes (1 suspension, 1 blocked)</summary>\n\n",
        "```mermaid\nflowchart LR\n",
        "Unmanaged: 1 live object",
        "Planned against `local:.cspctl/state.json`",
    ];
    let mut at = 0;
    for needle in order {
        let found = out[at..]
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not after byte {at} in:\n{out}"));
        at += found + needle.len();
    }
    assert!(!out.contains("Truncated"), "{out}");
}

#[test]
fn personal_data_is_masked_unless_asked_for() {
    // Ana Bowman is the billing and agreement contact of Contoso in examples/basic.
    let personal = [
        "billing@contoso.example",
        "ana.bowman@contoso.example",
        "Bowman",
        "4255550100",
    ];
    for plan in [example_plan("basic"), sample()] {
        let masked = markdown(&plan);
        let annotations = render_plan(&plan, PlanFormat::Github, &RenderOptions::default());
        for secret in personal {
            assert!(!masked.contains(secret), "{secret} in:\n{masked}");
            assert!(!annotations.contains(secret), "{secret} in:\n{annotations}");
        }
        assert!(masked.contains("`billing.email` = •••"), "{masked}");
        assert!(annotations.contains("billing.email = •••"), "{annotations}");

        let options = RenderOptions {
            show_sensitive: true,
            ..RenderOptions::default()
        };
        let shown = render_plan(&plan, PlanFormat::Markdown, &options);
        let annotations = render_plan(&plan, PlanFormat::Github, &options);
        for secret in ["billing@contoso.example", "Bowman", "4255550100"] {
            assert!(shown.contains(secret), "{secret} missing from:\n{shown}");
            assert!(
                annotations.contains(secret),
                "{secret} missing from:\n{annotations}"
            );
        }
    }
}

/// Thousands of customers, each bought for, some waiting on a person.
fn huge() -> Plan {
    let mut actions = Vec::new();
    let mut invite = action("Reseller/northwind", None, ActionType::Manual);
    invite.instructions = Some("Invite reseller Northwind.".to_owned());
    actions.push(invite);
    for c in 0..1_000 {
        let name = format!("c{c:04}");
        let mut customer = action(&format!("Customer/{name}"), Some(&name), ActionType::Create);
        customer.changes = vec![
            FieldChange::new(
                "billing.email",
                Value::Null,
                json!(format!("someone@{name}.example")),
            ),
            FieldChange::new(
                "companyName",
                Value::Null,
                json!(format!("Customer {name} Ltd")),
            ),
            FieldChange::new(
                "domain",
                Value::Null,
                json!(format!("{name}.onmicrosoft.com")),
            ),
        ];
        customer.risks = vec![Risk::CustomerVisible, Risk::Irreversible];
        actions.push(customer);
        for s in 0..3 {
            let mut buy = action(
                &format!("Subscription/{name}-{s}"),
                Some(&name),
                ActionType::Create,
            );
            buy.changes = vec![
                FieldChange::new(
                    "offerId",
                    Value::Null,
                    json!("CFQ7TTC0LH18:0001:CFQ7TTC0K5DM"),
                ),
                FieldChange::new("quantity", Value::Null, json!(s + 1)),
            ];
            buy.risks = vec![Risk::Purchase, Risk::CostIncrease, Risk::CustomerVisible];
            buy.depends_on = vec![format!("Customer/{name}")];
            actions.push(buy);
        }
        if c % 10 == 0 {
            let mut blocked = action(
                &format!("SupportContact/{name}"),
                Some(&name),
                ActionType::SetSupportContact,
            );
            blocked.status = ActionStatus::Blocked;
            blocked.depends_on = vec!["Reseller/northwind".to_owned()];
            actions.push(blocked);
        }
    }
    let unmanaged = (0..500)
        .map(|i| Unmanaged {
            kind: "Customer".to_owned(),
            id: format!("id-{i}"),
            name: format!("other{i}.onmicrosoft.com"),
        })
        .collect();
    plan(actions, unmanaged)
}

#[test]
fn a_huge_plan_is_truncated_under_githubs_limit() {
    let plan = huge();
    assert!(plan.actions.len() > 4_000);
    let out = render_plan(
        &plan,
        PlanFormat::Markdown,
        &RenderOptions {
            full_plan: Some("https://ci.example/runs/42/artifacts".to_owned()),
            ..RenderOptions::default()
        },
    );
    assert!(out.len() <= GITHUB_COMMENT_LIMIT, "{}", out.len());
    assert!(
        out.len() > GITHUB_COMMENT_LIMIT - 5_000,
        "the space is used: {}",
        out.len()
    );
    assert!(
        out.starts_with("<!-- cspctl:plan -->\n## cspctl plan\n\n"),
        "{out}"
    );
    assert!(out.contains(&plan.summary_line()), "{out}");
    for top in [
        "> **Purchases (3000)**",
        "- and 2975 more",
        "> **Irreversible (1000)**",
        "### Manual steps",
        "`Reseller/northwind`: Invite reseller Northwind.",
        "**Blocked (100):**",
        "<details><summary>Resellers",
        "<details><summary>Customer c0000 — 5 changes",
    ] {
        assert!(out.contains(top), "{top} missing");
    }
    // The graph of the first changed objects, within its share; the notice comes
    // last and says where to look.
    let graph = mermaid(&out).expect("a graph");
    assert_graph_of(&plan, graph);
    assert!(
        out.contains(&format!(
            " of {} actions (customer by customer in plan order, each with what it depends on) and ",
            plan.actions.len()
        )),
        "the graph says what it leaves out"
    );
    let notice = out
        .rfind("> [!NOTE]\n> **Truncated**")
        .expect("a truncation notice");
    assert!(notice > out.rfind("</details>").expect("details"));
    let notice = &out[notice..];
    assert!(
        notice.contains(&format!(" of {} actions (", plan.actions.len())),
        "{notice}"
    );
    assert!(notice.contains(" of 1000 customers)"), "{notice}");
    assert!(!notice.contains("the graph"), "{notice}");
    assert!(
        notice.contains("<a href=\"https://ci.example/runs/42/artifacts\">"),
        "{notice}"
    );
    assert!(out.ends_with(".\n"));
    // Blocks are whole or say what they leave out: every one that opens closes.
    assert_eq!(
        out.matches("<details><summary>").count(),
        out.lines().filter(|l| *l == "</details>").count()
    );
    assert_eq!(
        out,
        render_plan(
            &plan,
            PlanFormat::Markdown,
            &RenderOptions {
                full_plan: Some("https://ci.example/runs/42/artifacts".to_owned()),
                ..RenderOptions::default()
            }
        )
    );
}

/// The Mermaid block of a comment, if it has one.
fn mermaid(out: &str) -> Option<&str> {
    let start = out.find("```mermaid\n")?;
    let end = start + out[start..].find("\n```\n")?;
    Some(&out[start..end])
}

/// `graph` draws changed objects only (each node an action of `plan`, by its verb and
/// address), at most what GitHub draws, and no edge the plan does not have.
fn assert_graph_of(plan: &Plan, graph: &str) {
    let labels: std::collections::HashSet<String> = plan
        .actions
        .iter()
        .map(|a| {
            let verb = match a.action_type {
                ActionType::Create => "create",
                ActionType::Update => "update",
                ActionType::SetSupportContact => "set support contact",
                ActionType::Manual => "manual step",
                other => panic!("no {other:?} in these plans"),
            };
            // The test plans' addresses need no Mermaid escaping.
            format!("{verb} {}", a.address)
        })
        .collect();
    let mut nodes = std::collections::HashMap::new();
    let mut edges = 0;
    for line in graph.lines() {
        if let Some((id, label)) = line.trim().split_once("[\"") {
            let label = label.strip_suffix("\"]").expect("a quoted label");
            assert!(
                labels.contains(label),
                "{label} is not a change of the plan"
            );
            nodes.insert(id.to_owned(), label.to_owned());
        } else if let Some((from, to)) = line.trim().split_once(" --> ") {
            edges += 1;
            let address = |id: &str| nodes[id].rsplit_once(' ').map(|(_, a)| a.to_owned());
            let (from, to) = (address(from), address(to));
            let dependent = plan
                .actions
                .iter()
                .find(|a| Some(&a.address) == to.as_ref())
                .expect("an action");
            assert!(
                dependent
                    .depends_on
                    .iter()
                    .any(|d| Some(d) == from.as_ref()),
                "{line} is no dependency of the plan"
            );
        }
    }
    assert!(!nodes.is_empty(), "{graph}");
    assert!(edges <= GITHUB_MAX_EDGES, "{edges} edges");
}

/// GitHub draws a Mermaid graph of at most this many edges.
const GITHUB_MAX_EDGES: usize = 500;

#[test]
fn a_large_plan_has_the_graph_github_draws() {
    let large = huge();
    // Room for every detail: the graph stops at GitHub's edge limit on its own.
    let out = limited(&large, 10_000_000, None);
    assert!(!out.contains("**Truncated**"), "the whole plan fits");
    let graph = mermaid(&out).expect("a graph");
    assert_graph_of(&large, graph);
    assert_eq!(graph.matches(" --> ").count(), GITHUB_MAX_EDGES);
    let edges: usize = large.actions.iter().map(|a| a.depends_on.len()).sum();
    let shown = graph.matches("[\"").count();
    assert!(
        out.contains(&format!(
            "The graph shows {shown} of {} actions (customer by customer in plan order, each with what it depends on) and {GITHUB_MAX_EDGES} of their {edges} dependencies",
            large.actions.len()
        )),
        "{out}"
    );
    // A plan of more actions than a graph used to show (60) that fits is drawn whole.
    let medium = plan(huge().actions.into_iter().take(80).collect(), Vec::new());
    let out = markdown(&medium);
    assert!(
        !out.contains("**Truncated**") && !out.contains("The graph shows"),
        "{out}"
    );
    let graph = mermaid(&out).expect("a graph");
    assert_graph_of(&medium, graph);
    assert_eq!(graph.matches("[\"").count(), 80);
    let dependencies: usize = medium.actions.iter().map(|a| a.depends_on.len()).sum();
    assert_eq!(graph.matches(" --> ").count(), dependencies);
}

#[test]
fn any_limit_is_respected_and_the_top_survives() {
    let plan = huge();
    for max_len in [600, 1_500, 3_000, 8_000, 20_000, 40_000] {
        let out = limited(&plan, max_len, Some("plan.json"));
        assert!(out.len() <= max_len, "{max_len}: {}", out.len());
        assert!(
            out.starts_with("<!-- cspctl:plan -->\n"),
            "{max_len}: {out}"
        );
        assert!(out.contains(&plan.summary_line()), "{max_len}: {out}");
        assert!(out.contains("**Truncated**"), "{max_len}: {out}");
        assert!(
            out.contains("the full plan is at `plan.json`"),
            "{max_len}: {out}"
        );
        if max_len >= 8_000 {
            assert!(out.contains("> **Purchases (3000)**"), "{max_len}: {out}");
            assert!(out.contains("### Manual steps"), "{max_len}: {out}");
        }
    }
    // Without a place for the full plan, the notice says how to get one.
    let out = limited(&plan, 20_000, None);
    assert!(
        out.contains("run `cspctl plan --format json` (or save it with `--out`)"),
        "{out}"
    );
    // The whole sample fits in its own length, and not in one byte less.
    let whole = markdown(&sample());
    assert_eq!(limited(&sample(), whole.len(), None), whole);
    let shorter = limited(&sample(), whole.len() - 1, None);
    assert!(
        shorter.len() < whole.len() && shorter.contains("**Truncated**"),
        "{shorter}"
    );
}

#[test]
fn untrusted_text_cannot_break_the_comment() {
    let evil_name = "evil</details><script>alert(1)</script>|x|";
    let mut customer = action("Customer/a`b``c", Some(evil_name), ActionType::Update);
    customer.changes = vec![
        FieldChange::new(
            "companyName",
            json!("| x |"),
            json!("a\n</details>\n```\n# heading\n<img src=x onerror=alert(1)>"),
        ),
        FieldChange::new(
            "billing.address.city\n# path",
            json!("[click](https://evil.example)"),
            json!("**bold** _it_ ~~s~~ $x$ &amp; \\"),
        ),
    ];
    customer.risks = vec![Risk::CustomerVisible];
    customer.precondition = existing("c1");
    customer.warnings = vec!["`` ` ``\n> [!CAUTION]".to_owned()];
    let mut manual = action(
        "Relationship/x/y\"]; a0 --> a1",
        Some(evil_name),
        ActionType::Manual,
    );
    manual.instructions = Some("line1\n</details>\n<details>\n- item".to_owned());
    manual.url = Some("javascript:alert(1)".to_owned());
    manual.depends_on = vec!["Customer/a`b``c".to_owned()];
    let plan = plan(
        vec![customer, manual],
        vec![Unmanaged {
            kind: "# Kind".to_owned(),
            id: "`".to_owned(),
            name: "<img src=x onerror=alert(1)>".to_owned(),
        }],
    );
    for out in [markdown(&plan), limited(&plan, 2_500, None)] {
        for forbidden in [
            "<script",
            "<img",
            "href=\"javascript",
            "[click]",
            "**bold**",
            "$x$",
            "\u{1b}",
        ] {
            assert!(!out.contains(forbidden), "{forbidden} in:\n{out}");
        }
        let allowed_headings = [
            "## cspctl plan",
            "### Needs attention",
            "### Manual steps",
            "### Changes",
            "### Graph",
        ];
        let mut fence_open = false;
        for line in out.lines() {
            if line.starts_with("```") {
                assert!(line == "```mermaid" || line == "```", "{line:?}");
                fence_open = !fence_open;
                continue;
            }
            if fence_open {
                // Mermaid: node and edge lines only, labels quoted and entity-escaped.
                assert!(
                    line == "flowchart LR"
                        || line.starts_with("  a")
                        || line.starts_with("  class"),
                    "{line:?}"
                );
                if let Some(label) = line.split_once("[\"") {
                    assert!(
                        label.1.ends_with("\"]") && !label.1[..label.1.len() - 2].contains('"'),
                        "{line:?}"
                    );
                }
                continue;
            }
            if line.starts_with('#') {
                assert!(allowed_headings.contains(&line), "{line:?}");
            }
            if line.contains("details>") {
                assert!(
                    line == "</details>"
                        || (line.starts_with("<details><summary>")
                            && line.ends_with("</summary>")
                            && line.matches("details>").count() == 1),
                    "{line:?}"
                );
            }
            if line.starts_with("| ") {
                assert_eq!(line.matches('|').count(), 3, "{line:?}");
            }
            if line.starts_with('>') {
                assert!(
                    line == ">"
                        || line.starts_with("> [!") && line.ends_with(']')
                        || line.starts_with("> **")
                        || line.starts_with("> - "),
                    "{line:?}"
                );
            }
        }
        assert!(!fence_open);
        assert_eq!(
            out.matches("<details><summary>").count(),
            out.lines().filter(|l| *l == "</details>").count()
        );
        // Each field change stays on its own line.
        assert!(out.contains("`companyName`: &#124; x &#124; → &quot;a&#92;n&lt;/details&gt;&#92;n&#96;&#96;&#96;&#92;n&#35; heading"), "{out}");
        assert!(
            out.contains("`` Customer/a`b``c ``") || out.contains("```Customer/a`b``c```"),
            "{out}"
        );
    }
    let annotations = render_plan(&plan, PlanFormat::Github, &RenderOptions::default());
    assert_eq!(annotations.lines().count(), 3, "{annotations}");
    assert!(
        annotations
            .lines()
            .all(|l| l.starts_with("::warning ") || l.starts_with("::notice ")),
        "{annotations}"
    );
}

#[test]
fn no_changes_is_a_short_comment() {
    let empty = plan(Vec::new(), Vec::new());
    assert_eq!(
        markdown(&empty),
        "<!-- cspctl:plan -->\n## cspctl plan\n\nNo changes. The live state matches the manifests.\n"
    );
    let with_unmanaged = plan(Vec::new(), sample().unmanaged);
    let out = markdown(&with_unmanaged);
    assert!(out.starts_with("<!-- cspctl:plan -->\n## cspctl plan\n\nNo changes. The live state matches the manifests.\n\n<details><summary>Unmanaged: 1 live object"), "{out}");
    assert!(
        out.contains("- `Subscription` Visio Plan 2 (id `9f8e`)"),
        "{out}"
    );
    let many = plan(Vec::new(), huge().unmanaged);
    let out = limited(&many, 2_000, None);
    assert!(
        out.len() <= 2_000 && out.contains("- and 490 more"),
        "{out}"
    );
}

#[test]
fn an_example_plan_renders_every_section() {
    let plan = example_plan("multi-reseller");
    let out = markdown(&plan);
    assert!(out.len() <= GITHUB_COMMENT_LIMIT);
    for section in [
        "### Needs attention",
        "### Manual steps",
        "### Changes",
        "```mermaid",
        "Planned against",
    ] {
        assert!(out.contains(section), "{section} missing from:\n{out}");
    }
    assert_eq!(out, markdown(&example_plan("multi-reseller")));
}
