//! `cspctl export` end to end: a tenant built by applying a rich manifest set (on the
//! Partner Center simulator through the partner-center backend, and on the local
//! state) is exported, and `cspctl plan` on the export shows no change and no
//! unmanaged object; `cspctl validate` accepts it. Exports are byte-for-byte
//! deterministic and never overwrite a file without `--force`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{Sim, cspctl, parse_json, sim_config, start_with, text};
use cspctl::sim::{Seed, SimConfig};
use serde_json::{Value, json};

const NORTHWIND: &str = "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const ADATUM: &str = "11111111-2222-4333-8444-555555555555";
const LITWARE: &str = "22222222-3333-4444-8555-666666666666";
const PROSEWARE: &str = "33333333-4444-4555-8666-777777777777";

const RESELLERS: &str = r#"apiVersion: cspctl/v1
kind: Reseller
metadata:
  name: northwind
spec:
  tenantId: 6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d
  mpnId: "4847383"
  displayName: Northwind Traders
  location: US
---
apiVersion: cspctl/v1
kind: Reseller
metadata:
  name: adatum
spec:
  tenantId: 11111111-2222-4333-8444-555555555555
  mpnId: "5357564"
  displayName: "yes"
  location: DE
---
apiVersion: cspctl/v1
kind: Reseller
metadata:
  name: litware
spec:
  tenantId: 22222222-3333-4444-8555-666666666666
  mpnId: "517285"
  displayName: "Litware: Solutions #1 — \"Ltd\" 🚀"
---
apiVersion: cspctl/v1
kind: Reseller
metadata:
  name: proseware
spec:
  tenantId: 33333333-4444-4555-8666-777777777777
  mpnId: "6123987"
  displayName: Proseware Cloud
  location: AT
"#;

/// A customer document; `extra` is appended to its spec (already indented).
fn customer(name: &str, domain: &str, company: &str, resellers: &str, extra: &str) -> String {
    format!(
        r#"apiVersion: cspctl/v1
kind: Customer
metadata:
  name: {name}
spec:
  domain: {domain}
  companyName: {company}
  resellers: {resellers}
  billing:
    email: billing@{name}.example
    culture: en-US
    language: en
    address:
      firstName: Ana
      lastName: Bowman
      addressLine1: 1 Microsoft Way
      city: Redmond
      postalCode: "98052"
      country: US
{extra}"#
    )
}

const AGREEMENT: &str = r#"  agreement:
    contact:
      firstName: Ana
      lastName: Bowman
      email: ana@example.com
    dateAgreed: "2026-01-15"
"#;

/// A subscription document; `extra` is appended to its spec (already indented).
fn subscription(name: &str, customer: &str, offer: &str, term: &str, extra: &str) -> String {
    format!(
        r#"apiVersion: cspctl/v1
kind: Subscription
metadata:
  name: {name}
spec:
  customer: {customer}
  offerId: {offer}
  quantity: 3
  termDuration: {term}
  billingCycle: monthly
{extra}"#
    )
}

fn support_contact(name: &str, subscription: &str, reseller: &str) -> String {
    format!(
        "apiVersion: cspctl/v1\nkind: SupportContact\nmetadata:\n  name: {name}\nspec:\n  subscription: {subscription}\n  reseller: {reseller}\n"
    )
}

const NCE: &str = "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM";
const NCE_TEAMS: &str = "CFQ7TTC0RM8K:0001:CFQ7TTC0K6SL";
const LEGACY: &str = "031c9e47-4802-4248-838e-778fb1d2cc05";
const LEGACY_EXCHANGE: &str = "195416c1-3447-423a-b37b-ee59a99a19c4";

/// Four resellers, six customers (one with two resellers, one in a country that
/// needs a registration number, awkward strings), new-commerce and legacy
/// subscriptions, suspended ones, resellers of record set and unset, support
/// contacts, friendly names that are not DNS labels.
fn rich_manifests(dir: &Path) {
    let customers = dir.join("customers");
    std::fs::create_dir_all(&customers).expect("mkdir");
    std::fs::write(dir.join("resellers.yaml"), RESELLERS).expect("write");
    let files: Vec<(&str, Vec<String>)> = vec![
        (
            "contoso",
            vec![
                customer(
                    "contoso",
                    "contoso-demo.onmicrosoft.com",
                    "Contoso Ltd",
                    "[northwind]",
                    AGREEMENT,
                ),
                subscription(
                    "contoso-m365",
                    "contoso",
                    NCE,
                    "P1Y",
                    "  reseller: northwind\n",
                ),
                subscription(
                    "contoso-teams",
                    "contoso",
                    NCE_TEAMS,
                    "P1M",
                    "  status: suspended\n  friendlyName: \"Contoso Teams (paused)\"\n",
                ),
                subscription(
                    "contoso-legacy",
                    "contoso",
                    LEGACY,
                    "P1M",
                    "  reseller: northwind\n  friendlyName: Contoso E3\n",
                ),
                support_contact("contoso-legacy-support", "contoso-legacy", "northwind"),
            ],
        ),
        (
            "fabrikam",
            vec![
                customer(
                    "fabrikam",
                    "fabrikam-demo.onmicrosoft.com",
                    "Fabrikam, Inc.",
                    "[northwind]",
                    "",
                ),
                subscription(
                    "fabrikam-e3",
                    "fabrikam",
                    LEGACY,
                    "P1M",
                    "  friendlyName: \"yes\"\n  autoRenew: false\n",
                ),
            ],
        ),
        (
            "tailspin",
            vec![
                customer(
                    "tailspin",
                    "tailspin-demo.onmicrosoft.com",
                    "Tailspin Toys GmbH",
                    "[adatum, litware]",
                    AGREEMENT,
                ),
                subscription(
                    "tailspin-teams",
                    "tailspin",
                    NCE_TEAMS,
                    "P1Y",
                    "  reseller: litware\n  friendlyName: \"a: b #x\"\n",
                ),
                subscription(
                    "tailspin-exchange",
                    "tailspin",
                    LEGACY_EXCHANGE,
                    "P1M",
                    "  reseller: adatum\n  friendlyName: \"- 0x10\"\n",
                ),
                support_contact("tailspin-exchange-support", "tailspin-exchange", "litware"),
            ],
        ),
        (
            "woodgrove",
            vec![
                customer(
                    "woodgrove",
                    "woodgrove-demo.onmicrosoft.com",
                    "Woodgrove Bank AG",
                    "[proseware]",
                    "",
                ),
                subscription(
                    "woodgrove-project",
                    "woodgrove",
                    LEGACY,
                    "P1M",
                    "  reseller: proseware\n  status: suspended\n  friendlyName: Woodgrove Projekt Ärger\n",
                ),
            ],
        ),
        (
            "awkward",
            vec![
                customer(
                    "awkward",
                    "awk-ward.onmicrosoft.com",
                    "\"\\\"Quotes\\\" & 'apostrophes': #1 — é 🚀\"",
                    "[proseware]",
                    "",
                )
                .replace(
                    "addressLine1: 1 Microsoft Way",
                    "addressLine1: \"- a\"\n      addressLine2: \"on\"",
                )
                .replace("city: Redmond", "city: \"0x10\"")
                .replace("postalCode: \"98052\"", "postalCode: \"010\"")
                .replace(
                    "country: US",
                    "country: IN\n      phoneNumber: \"+91 80 1234 5678\"",
                ) + "  organizationRegistrationNumber: \"1e3\"\n",
            ],
        ),
        (
            "litware-only",
            vec![
                customer(
                    "litware-only",
                    "litware-only.onmicrosoft.com",
                    "Litware Only",
                    "[litware]",
                    AGREEMENT,
                ),
                subscription(
                    "litware-only-m365",
                    "litware-only",
                    NCE,
                    "P3Y",
                    "  friendlyName: \"NULL\"\n",
                ),
            ],
        ),
    ];
    for (name, documents) in files {
        std::fs::write(
            customers.join(format!("{name}.yaml")),
            documents.join("---\n"),
        )
        .expect("write");
    }
}

fn path(dir: &Path) -> &str {
    dir.to_str().expect("utf-8 path")
}

/// Customer domains and reseller tenant ids by manifest name.
fn names() -> (
    BTreeMap<&'static str, &'static str>,
    BTreeMap<&'static str, &'static str>,
) {
    let customers = BTreeMap::from([
        ("contoso", "contoso-demo.onmicrosoft.com"),
        ("fabrikam", "fabrikam-demo.onmicrosoft.com"),
        ("tailspin", "tailspin-demo.onmicrosoft.com"),
        ("woodgrove", "woodgrove-demo.onmicrosoft.com"),
        ("awkward", "awk-ward.onmicrosoft.com"),
        ("litware-only", "litware-only.onmicrosoft.com"),
    ]);
    let resellers = BTreeMap::from([
        ("northwind", NORTHWIND),
        ("adatum", ADATUM),
        ("litware", LITWARE),
        ("proseware", PROSEWARE),
    ]);
    (customers, resellers)
}

/// Plays the customers' admins accepting the relationship requests of `plan`.
fn accept_relationships(plan: &Value, work: &Path, sim: Option<&Sim>, state: &str) -> usize {
    let (customers, resellers) = names();
    let mut played = 0;
    for action in plan["actions"].as_array().expect("actions") {
        let address = action["address"].as_str().expect("address");
        let parts: Vec<&str> = address.split('/').collect();
        let ["Relationship", customer, reseller] = parts.as_slice() else {
            continue;
        };
        let (domain, tenant) = (customers[customer], resellers[reseller]);
        let output = match sim {
            Some(sim) => cspctl(
                &[
                    "sim",
                    "accept-relationship",
                    "--endpoint",
                    &sim.base_url(),
                    "--customer",
                    domain,
                    "--reseller",
                    tenant,
                ],
                work,
                None,
            ),
            None => cspctl(
                &[
                    "local",
                    "accept-relationship",
                    "--state",
                    state,
                    "--customer",
                    domain,
                    "--reseller",
                    tenant,
                ],
                work,
                None,
            ),
        };
        assert!(output.status.success(), "{address}: {}", text(&output));
        played += 1;
    }
    played
}

/// Applies `dir` until it converges (playing the other party's acceptances).
fn converge(dir: &Path, work: &Path, sim: Option<&Sim>, backend: &[&str]) {
    let state = backend.get(1).copied().unwrap_or_default();
    for round in 0..4 {
        let apply = cspctl(
            &[&["apply", path(dir), "--auto-approve"], backend].concat(),
            work,
            sim,
        );
        match apply.status.code() {
            Some(0) => return,
            Some(3) => {}
            _ => panic!("apply (round {round}):\n{}", text(&apply)),
        }
        let plan = cspctl(
            &[&["plan", path(dir), "--format", "json"], backend].concat(),
            work,
            sim,
        );
        assert!(plan.status.success(), "{}", text(&plan));
        assert!(
            accept_relationships(&parse_json(&plan), work, sim, state) > 0,
            "apply exited 3 but no relationship is waiting:\n{}",
            text(&plan)
        );
    }
    panic!("{} did not converge", dir.display());
}

/// Every file under `dir`, by relative path.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let relative = path.strip_prefix(root).expect("inside").to_path_buf();
                out.insert(relative, std::fs::read(&path).expect("read"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Exports into `out`, then checks the round trip: validate passes, and plan (same
/// backend, `--detailed-exitcode`) says no changes and lists nothing unmanaged.
fn export_and_plan(work: &Path, out: &Path, sim: Option<&Sim>, backend: &[&str]) -> String {
    let export = cspctl(
        &[&["export", "--out", path(out)], backend].concat(),
        work,
        sim,
    );
    let stderr = String::from_utf8_lossy(&export.stderr).into_owned();
    assert!(export.status.success(), "{}", text(&export));
    assert!(export.stdout.is_empty(), "{}", text(&export));
    assert!(!stderr.contains("warning"), "{stderr}");

    let validate = cspctl(&["validate", path(out)], work, None);
    assert!(validate.status.success(), "{}", text(&validate));

    let plan = cspctl(
        &[&["plan", path(out), "--detailed-exitcode"], backend].concat(),
        work,
        sim,
    );
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    let shown = text(&plan);
    assert!(
        shown.contains("No changes. The live state matches the manifests."),
        "{shown}"
    );
    assert!(!shown.contains("Unmanaged"), "{shown}");
    stderr
}

#[test]
fn a_rich_tenant_on_the_simulator_round_trips_with_no_changes() {
    // Every documented shape, and every subscription answered as documented (no
    // term, billing cycle or reseller of record): a round trip must hold when
    // Partner Center reports as little as its examples show. (A random mix would
    // let export and plan see the same subscription in different shapes, which
    // Partner Center does not do.)
    let sim = start_with(SimConfig {
        faults: cspctl::sim::Faults {
            variants: cspctl::sim::faults::Variants {
                documented_subscription: 1.0,
                ..common::documented_mix()
            },
            ..cspctl::sim::Faults::default()
        },
        ..sim_config(true)
    });
    let work = tempfile::tempdir().expect("temp dir");
    let source = work.path().join("source");
    rich_manifests(&source);
    let validate = cspctl(&["validate", path(&source)], work.path(), None);
    assert!(validate.status.success(), "{}", text(&validate));
    common::add_declared_resellers(&sim, &source);
    converge(&source, work.path(), Some(&sim), &[]);

    let out = work.path().join("exported");
    let stderr = export_and_plan(work.path(), &out, Some(&sim), &[]);
    assert!(
        stderr.contains(&format!(
            "Exported 4 reseller(s), 6 customer(s), 8 subscription(s), 2 support contact(s) into {}.",
            out.display()
        )),
        "{stderr}"
    );
    let files = tree(&out);
    let names: Vec<String> = files.keys().map(|p| p.display().to_string()).collect();
    assert_eq!(
        names,
        [
            "customers/awk-ward.yaml",
            "customers/contoso-demo.yaml",
            "customers/fabrikam-demo.yaml",
            "customers/litware-only.yaml",
            "customers/tailspin-demo.yaml",
            "customers/woodgrove-demo.yaml",
            "resellers.yaml",
            "schemas/manifest.schema.json",
        ]
    );
    let tailspin = String::from_utf8_lossy(&files[Path::new("customers/tailspin-demo.yaml")]);
    // yaml-language-server reads the modeline among each document's own comments:
    // one at the top of the file left the second document and later ones unchecked.
    let documents: Vec<&str> = tailspin.split("\n---\n").collect();
    assert!(documents.len() > 1, "{tailspin}");
    for document in documents {
        assert!(
            document
                .starts_with("# yaml-language-server: $schema=../schemas/manifest.schema.json\n"),
            "{tailspin}"
        );
    }
    // The associated partner first, then the other relationship.
    assert!(
        tailspin.contains("resellers: [\"yes\", litware-solutions-1-ltd]"),
        "{tailspin}"
    );
    assert!(tailspin.contains("friendlyName: \"a: b #x\""), "{tailspin}");
    let litware = String::from_utf8_lossy(&files[Path::new("customers/litware-only.yaml")]);
    assert!(litware.contains("friendlyName: \"NULL\""), "{litware}");
    let resellers = String::from_utf8_lossy(&files[Path::new("resellers.yaml")]);
    assert!(resellers.contains("displayName: \"yes\""), "{resellers}");
    assert!(resellers.contains("mpnId: \"517285\""), "{resellers}");

    // The export, as one stream on stdout, is the same documents.
    let stream = cspctl(&["export"], work.path(), Some(&sim));
    assert!(stream.status.success(), "{}", text(&stream));
    let documents = String::from_utf8_lossy(&stream.stdout)
        .matches("\nkind: ")
        .count();
    assert_eq!(documents, 4 + 6 + 8 + 2, "{}", text(&stream));
}

#[test]
fn what_cannot_be_declared_is_left_out_with_a_warning_and_shows_as_unmanaged() {
    // A customer made in Partner Center outside cspctl whose billing profile is
    // incomplete (the seed leaves it empty): no manifest can declare it.
    let seed: Seed = serde_json::from_value(json!({
        "resellers": [{"tenantId": NORTHWIND, "mpnId": "4847383", "name": "Northwind Traders", "location": "US"}],
        "customers": [{
            "id": "c501c3c4-d776-40ef-9ecf-9cefb59442c1",
            "domain": "seeded.onmicrosoft.com",
            "companyName": "Seeded",
            "country": "US",
            "resellers": [NORTHWIND],
            "mcaAccepted": true,
            "subscriptions": [{"offerId": NCE, "quantity": 5, "termDuration": "P1Y", "billingCycle": "monthly", "friendlyName": "Seeded E3"}]
        }]
    }))
    .expect("a seed");
    let sim = start_with(SimConfig {
        seed: Some(seed),
        ..sim_config(true)
    });
    let work = tempfile::tempdir().expect("temp dir");
    let out = work.path().join("exported");
    let export = cspctl(&["export", "--out", path(&out)], work.path(), Some(&sim));
    assert!(export.status.success(), "{}", text(&export));
    let stderr = String::from_utf8_lossy(&export.stderr);
    assert!(
        stderr.contains("warning: Customer seeded.onmicrosoft.com (c501c3c4-d776-40ef-9ecf-9cefb59442c1): not exported, nor its 1 subscription(s): the manifest schema rejects"),
        "{stderr}"
    );
    let plan = cspctl(
        &["plan", path(&out), "--detailed-exitcode"],
        work.path(),
        Some(&sim),
    );
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    let shown = text(&plan);
    assert!(shown.contains("No changes."), "{shown}");
    assert!(shown.contains("seeded.onmicrosoft.com"), "{shown}");
    assert!(shown.contains("Seeded E3"), "{shown}");
}

/// The local backend: the rich set applied to a state file, exported, planned.
fn local_tenant(work: &Path) -> String {
    let source = work.join("source");
    rich_manifests(&source);
    let state = work.join("state.json").display().to_string();
    converge(&source, work, None, &["--state", &state]);
    state
}

#[test]
fn a_rich_tenant_on_the_local_state_round_trips_with_no_changes() {
    let work = tempfile::tempdir().expect("temp dir");
    let state = local_tenant(work.path());
    let out = work.path().join("exported");
    let stderr = export_and_plan(work.path(), &out, None, &["--state", &state]);
    assert!(
        stderr.contains(
            "Exported 4 reseller(s), 6 customer(s), 8 subscription(s), 2 support contact(s)"
        ),
        "{stderr}"
    );
}

#[test]
fn export_is_deterministic_and_never_overwrites_without_force() {
    let work = tempfile::tempdir().expect("temp dir");
    let state = local_tenant(work.path());
    let backend = ["--state", state.as_str()];
    let (first, second) = (work.path().join("first"), work.path().join("second"));
    for dir in [&first, &second] {
        let export = cspctl(
            &[&["export", "--out", path(dir)], &backend[..]].concat(),
            work.path(),
            None,
        );
        assert!(export.status.success(), "{}", text(&export));
    }
    assert_eq!(tree(&first), tree(&second));
    let stdout = |_: ()| {
        let export = cspctl(&[&["export"], &backend[..]].concat(), work.path(), None);
        assert!(export.status.success(), "{}", text(&export));
        export.stdout
    };
    assert_eq!(stdout(()), stdout(()));

    // A second export into the same directory refuses, naming a file, and writes nothing.
    let before = tree(&first);
    let again = cspctl(
        &[&["export", "--out", path(&first)], &backend[..]].concat(),
        work.path(),
        None,
    );
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains(&format!(
            "{} already exists",
            first.join("resellers.yaml").display()
        )) && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(tree(&first), before);

    // With --force it replaces them (same bytes), and names files it did not write.
    std::fs::write(first.join("customers/gone.yaml"), "").expect("write");
    let forced = cspctl(
        &[&["export", "--out", path(&first), "--force"], &backend[..]].concat(),
        work.path(),
        None,
    );
    assert!(forced.status.success(), "{}", text(&forced));
    assert!(
        String::from_utf8_lossy(&forced.stderr)
            .contains("gone.yaml was not written by this export"),
        "{}",
        text(&forced)
    );
    std::fs::remove_file(first.join("customers/gone.yaml")).expect("remove");
    assert_eq!(tree(&first), before);
    let leftovers: Vec<String> = tree(&first)
        .keys()
        .map(|p| p.display().to_string())
        .filter(|p| p.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
