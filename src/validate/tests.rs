//! Unit tests of the cross-object rules and of schema-error mapping, on in-memory text.

use crate::diagnostic::Diagnostic;
use crate::manifest::load::{SchemaValidators, load_manifests};
use crate::manifest::source::SourceMap;
use crate::validate::validate;

/// `line:col code: message` for every problem in `text`.
fn problems(text: &str) -> Vec<String> {
    let mut sources = SourceMap::new();
    sources.add("t.yaml".into(), text.to_owned());
    let (manifests, mut found) = load_manifests(&sources, &SchemaValidators::new());
    if found.is_empty() {
        found = validate(manifests).err().unwrap_or_default();
    }
    crate::diagnostic::sort_diagnostics(&mut found, &sources);
    found.iter().map(show).collect()
}

fn show(d: &Diagnostic) -> String {
    let l = d.location.expect("every problem has a position");
    format!(
        "{}:{} {}: {}{}",
        l.line,
        l.column,
        d.code,
        d.message,
        d.hints
            .iter()
            .map(|h| format!(" | {h}"))
            .collect::<String>()
    )
}

const RESELLER: &str = "apiVersion: cspctl/v1\nkind: Reseller\nmetadata: {name: nw}\nspec: {tenantId: 6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d, mpnId: \"4847383\", displayName: NW}\n";

fn customer(name: &str, domain: &str, country: &str, extra: &str) -> String {
    format!(
        "---\napiVersion: cspctl/v1\nkind: Customer\nmetadata: {{name: {name}}}\nspec:\n  domain: {domain}\n  companyName: X\n  resellers: [nw]\n  billing:\n    email: a@b.example\n    culture: en-US\n    language: en\n    address: {{firstName: A, lastName: B, addressLine1: L, city: C, postalCode: \"1\", country: {country}}}\n{extra}"
    )
}

fn subscription(name: &str, customer: &str, offer: &str) -> String {
    format!(
        "---\napiVersion: cspctl/v1\nkind: Subscription\nmetadata: {{name: {name}}}\nspec: {{customer: {customer}, offerId: \"{offer}\", quantity: 1, termDuration: P1M, billingCycle: monthly}}\n"
    )
}

const LEGACY: &str = "031c9e47-4802-4248-838e-778fb1d2cc05";
const NCE: &str = "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM";

#[test]
fn valid_manifests_have_no_problems() {
    let text = format!(
        "{RESELLER}{}{}",
        customer("c", "c.onmicrosoft.com", "US", ""),
        subscription("s", "c", LEGACY)
    );
    assert_eq!(problems(&text), Vec::<String>::new());
}

#[test]
fn unknown_field_points_at_the_key_with_a_suggestion() {
    let text = RESELLER.replace("displayName", "displayNme");
    assert_eq!(
        problems(&text),
        [
            "4:1 missing-field: missing required field `displayName` in `spec` ",
            "4:74 unknown-field: unknown field `displayNme` | did you mean `displayName`?"
        ]
        .map(|s| s.trim_end().to_owned())
    );
}

#[test]
fn wrong_type_suggests_quoting() {
    let text = RESELLER.replace("\"4847383\"", "4847383");
    let found = problems(&text);
    assert_eq!(
        found,
        [
            "4:63 wrong-type: `spec.mpnId` must be a string, found an integer | quote the value: \"4847383\""
        ]
    );
}

#[test]
fn unknown_kind_and_api_version() {
    let found = problems("apiVersion: cspctl/v2\nkind: Customr\nmetadata: {name: x}\nspec: {}\n");
    assert_eq!(
        found,
        [
            "1:13 api-version: unsupported apiVersion `cspctl/v2` | this release reads `cspctl/v1`",
            "2:7 unknown-kind: unknown kind `Customr` | did you mean `Customer`?"
        ]
    );
}

#[test]
fn references_must_resolve_to_the_right_kind() {
    let text = format!(
        "{RESELLER}{}{}",
        customer("c", "c.onmicrosoft.com", "US", ""),
        subscription("s", "nw", LEGACY)
    );
    let found = problems(&text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains(
            "wrong-kind-reference: `nw` is a Reseller, but `spec.customer` must name a Customer"
        ),
        "{found:?}"
    );
    let text = format!(
        "{RESELLER}{}{}",
        customer("c", "c.onmicrosoft.com", "US", ""),
        subscription("s", "cc", LEGACY)
    );
    assert!(problems(&text)[0].contains("no Customer named `cc` | did you mean `c`?"));
}

#[test]
fn duplicates_are_reported_at_the_second_occurrence() {
    let text = format!(
        "{RESELLER}{}{}",
        customer("c", "c.onmicrosoft.com", "US", ""),
        customer("c", "C.onmicrosoft.com", "US", "")
    );
    let found = problems(&text);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].contains("duplicate Customer name `c`"));
    assert!(found[1].contains("duplicate customer domain"));
}

#[test]
fn new_commerce_needs_an_agreement_and_rejects_support_contacts() {
    let text = format!(
        "{RESELLER}{}{}---\napiVersion: cspctl/v1\nkind: SupportContact\nmetadata: {{name: sc}}\nspec: {{subscription: s, reseller: nw}}\n",
        customer("c", "c.onmicrosoft.com", "US", ""),
        subscription("s", "c", NCE)
    );
    let found = problems(&text);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].contains("agreement-required"), "{found:?}");
    assert!(
        found[1].contains("support-contact-new-commerce") && found[1].contains("only on legacy"),
        "{found:?}"
    );
}

#[test]
fn support_contact_reseller_needs_a_relationship_with_the_customer() {
    let other = RESELLER
        .replace("name: nw", "name: lw")
        .replace("6f1b2c3d", "7f1b2c3d")
        .replace("4847383", "517285");
    let text = format!(
        "{RESELLER}---\n{other}{}{}---\napiVersion: cspctl/v1\nkind: SupportContact\nmetadata: {{name: sc}}\nspec: {{subscription: s, reseller: lw}}\n---\napiVersion: cspctl/v1\nkind: SupportContact\nmetadata: {{name: sc2}}\nspec: {{subscription: s, reseller: nw}}\n",
        customer("c", "c.onmicrosoft.com", "US", ""),
        subscription("s", "c", LEGACY)
    );
    let found = problems(&text);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].contains("reseller `lw` has no relationship with customer `c`"),
        "{found:?}"
    );
    assert!(
        found[1].contains("already has a support contact"),
        "{found:?}"
    );
}

#[test]
fn country_rules_require_registration_number_and_phone() {
    let text = format!("{RESELLER}{}", customer("c", "c.onmicrosoft.com", "IN", ""));
    let found = problems(&text);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found
            .iter()
            .any(|f| f.contains("organizationRegistrationNumber"))
    );
    assert!(found.iter().any(|f| f.contains("phoneNumber")));
}

#[test]
fn billing_cycle_must_fit_the_term() {
    let text = format!(
        "{RESELLER}{}{}",
        customer("c", "c.onmicrosoft.com", "US", ""),
        subscription("s", "c", LEGACY).replace("billingCycle: monthly", "billingCycle: annual")
    );
    assert!(problems(&text)[0].contains("not offered with term `P1M`"));
}

#[test]
fn every_problem_is_reported_sorted_by_position() {
    let text = format!(
        "{RESELLER}{}{}",
        customer("c", "bad domain", "US", ""),
        subscription("s", "c", "nope").replace("quantity: 1", "quantity: 0")
    );
    let found = problems(&text);
    assert_eq!(found.len(), 3, "{found:?}");
    let lines: Vec<u32> = found
        .iter()
        .map(|f| f.split(':').next().unwrap().parse().unwrap())
        .collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{found:?}");
}

/// A legacy subscription of customer `c` with a friendly name and, maybe, an adopted id.
fn named_subscription(name: &str, friendly: &str, id: Option<&str>) -> String {
    let id = id.map_or_else(String::new, |id| format!(", id: {id}"));
    format!(
        "---\napiVersion: cspctl/v1\nkind: Subscription\nmetadata: {{name: {name}}}\nspec: {{customer: c, offerId: \"{LEGACY}\", quantity: 1, termDuration: P1M, billingCycle: monthly, friendlyName: \"{friendly}\"{id}}}\n"
    )
}

#[test]
fn a_friendly_name_is_unique_unless_every_subscription_sharing_it_is_adopted_by_id() {
    let base = format!("{RESELLER}{}", customer("c", "c.onmicrosoft.com", "US", ""));
    let a = "11111111-2222-4333-8444-555555555555";
    let b = "11111111-2222-4333-8444-666666666666";
    // Both adopted by id (an exported tenant with two "Office 365 E3"): fine.
    let both_ids = format!(
        "{base}{}{}",
        named_subscription("e3-a", "Office 365 E3", Some(a)),
        named_subscription("e3-b", "office 365 e3", Some(b))
    );
    assert_eq!(problems(&both_ids), Vec::<String>::new());
    // One found by name would be ambiguous: refused, on the second.
    for (first, second) in [(Some(a), None), (None, Some(b)), (None, None)] {
        let text = format!(
            "{base}{}{}",
            named_subscription("e3-a", "Office 365 E3", first),
            named_subscription("e3-b", "Office 365 E3", second)
        );
        let found = problems(&text);
        assert_eq!(found.len(), 1, "{first:?} {second:?}: {found:?}");
        assert!(
            found[0].contains("duplicate-value: duplicate friendly name for this customer `office 365 e3`: `e3-a` uses it too"),
            "{found:?}"
        );
    }
}

#[test]
fn effective_and_cancelled_are_for_new_commerce_where_they_differ() {
    let text = format!(
        "{RESELLER}{}{}",
        customer("c", "c.onmicrosoft.com", "US", ""),
        subscription("s", "c", LEGACY).replace(
            "billingCycle: monthly",
            "billingCycle: monthly, effective: now"
        )
    );
    let found = problems(&text);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].contains("`effective` applies to new-commerce subscriptions only"),
        "{found:#?}"
    );
    // `status: cancelled` is valid on both (legacy: suspended, its documented cancel).
    let text = format!(
        "{RESELLER}{}{}",
        customer("c", "c.onmicrosoft.com", "US", ""),
        subscription("s", "c", LEGACY).replace(
            "billingCycle: monthly",
            "billingCycle: monthly, status: cancelled"
        )
    );
    assert_eq!(problems(&text), Vec::<String>::new());
    let text = format!(
        "{RESELLER}{}{}",
        customer("c", "c.onmicrosoft.com", "US", ""),
        subscription("s", "c", LEGACY).replace(
            "billingCycle: monthly",
            "billingCycle: monthly, effective: later"
        )
    );
    assert!(
        problems(&text)[0].contains("effective"),
        "{:#?}",
        problems(&text)
    );
}

#[test]
fn a_term_end_aligns_with_a_new_commerce_subscription_of_the_same_customer() {
    let agreement = "  agreement:\n    contact: {firstName: A, lastName: B, email: a@b.example}\n    dateAgreed: \"2026-01-01\"\n";
    let aligned = |name: &str, customer: &str, offer: &str, target: &str| {
        subscription(name, customer, offer).replace(
            "billingCycle: monthly",
            &format!("billingCycle: monthly, termEndAlignedWith: {target}"),
        )
    };
    let base = format!(
        "{RESELLER}{}{}{}{}",
        customer("c", "c.onmicrosoft.com", "US", agreement),
        customer("d", "d.onmicrosoft.com", "US", agreement),
        subscription("basic", "c", NCE),
        subscription("legacy", "c", LEGACY),
    );
    let ok = format!("{base}{}", aligned("new", "c", NCE, "basic"));
    assert_eq!(problems(&ok), Vec::<String>::new());
    for (doc, expected) in [
        (
            aligned("new", "c", NCE, "legacy"),
            "`legacy` is a legacy subscription",
        ),
        (
            aligned("new", "d", NCE, "basic"),
            "belongs to customer `c`, not `d`",
        ),
        (
            aligned("new", "c", NCE, "new"),
            "cannot align its term end with itself",
        ),
        (
            aligned("new", "c", LEGACY, "basic"),
            "applies to new-commerce purchases only",
        ),
        (
            aligned("new", "c", NCE, "basik"),
            "no Subscription named `basik` | did you mean `basic`?",
        ),
    ] {
        let found = problems(&format!("{base}{doc}"));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].contains(expected), "{found:#?}");
        // At the value of `spec.termEndAlignedWith`, with its line and column.
        assert!(found[0].starts_with("51:"), "{found:#?}");
    }
}
