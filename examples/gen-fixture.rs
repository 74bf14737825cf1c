//! Generates the performance benchmark's fixture: a large, valid manifest tree and a
//! matching local state file with a little drift, so `cspctl plan` has real work.
//!
//! ```text
//! cargo run --release --example gen-fixture -- --out /tmp/cspctl-bench \
//!     [--customers 20000] [--subscriptions 100000] [--support-contacts 20000] \
//!     [--resellers 200] [--drift 1] [--seed 1]
//! ```
//!
//! It writes `OUT/manifests/resellers.yaml` and one file per customer,
//! `OUT/manifests/customers/<reseller>/<customer>.yaml`, holding the customer, its
//! subscriptions (new-commerce and legacy offers) and their support contacts as a
//! multi-document YAML file; then `OUT/state.json`. The same seed gives the same bytes.
//!
//! The state is made the way cspctl itself makes it, through the library: the
//! manifests are loaded and validated (so a fixture that would not pass `cspctl
//! validate` is an error here), planned against an empty local tenant, and applied
//! as `cspctl apply` does (the local backend, its Partner Center client, the
//! executor, a fixed clock); the reseller relationships the plan leaves to a person
//! are accepted as `cspctl local accept-relationship` would, and the plan is made and
//! applied again. A third plan must then be empty; that state is also written as
//! `OUT/converged-state.json`. Only after that is drift applied
//! directly to the simulated tenant: `--drift` percent of the subscriptions get a
//! changed quantity, a flipped autoRenew, are removed (so they are planned as
//! purchases again) or gain an unmanaged sibling subscription.
//!
//! Randomness is a splitmix64 generator seeded by `--seed`; nothing else (no clock,
//! no hash-map order) reaches the output. Performance is not measured here: see
//! `bench/plan-bench.sh`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use cspctl::apply::execute_unattended;
use cspctl::backend::Backend;
use cspctl::backend::local::{LocalBackend, state};
use cspctl::diagnostic::{Diagnostic, DiagnosticFormat, render_diagnostics};
use cspctl::live::Live;
use cspctl::manifest::files::read_manifest_files;
use cspctl::manifest::load::{SchemaValidators, load_manifests};
use cspctl::manifest::source::SourceMap;
use cspctl::plan::{Plan, PlanOptions};
use cspctl::sim::state::{Cycle, State, Status, Term};
use cspctl::validate::Desired;

/// The local tenant's clock for every executed operation, so states are reproducible.
const NOW: &str = "2026-01-31T12:00:00Z";
/// The state as applied, before the drift: a plan against it has nothing to do.
const CONVERGED: &str = "converged-state.json";
/// Marks an output directory as ours, so a rerun may replace it and nothing else.
const MARKER: &str = ".gen-fixture";

const USAGE: &str = "usage: gen-fixture --out DIR [--customers N] [--subscriptions N] \
[--support-contacts N] [--resellers N] [--drift PERCENT] [--seed N]";

fn main() -> ExitCode {
    let settings = match Settings::parse(std::env::args().skip(1)) {
        Ok(Some(settings)) => settings,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("gen-fixture: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&settings) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("gen-fixture: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The command line, checked.
struct Settings {
    customers: usize,
    subscriptions: usize,
    support_contacts: usize,
    resellers: usize,
    drift_percent: f64,
    seed: u64,
    out: PathBuf,
}

impl Settings {
    /// `Ok(None)` for `--help`.
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Settings>, String> {
        let mut settings = Settings {
            customers: 20_000,
            subscriptions: 100_000,
            support_contacts: 20_000,
            resellers: 200,
            drift_percent: 1.0,
            seed: 1,
            out: PathBuf::new(),
        };
        let mut out = None;
        while let Some(arg) = args.next() {
            if arg == "-h" || arg == "--help" {
                return Ok(None);
            }
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
                None => (arg, None),
            };
            let value = match inline.or_else(|| args.next()) {
                Some(value) => value,
                None => return Err(format!("{flag} needs a value")),
            };
            let number = |value: &str| {
                value
                    .parse::<usize>()
                    .map_err(|_| format!("{flag} takes a whole number, got `{value}`"))
            };
            match flag.as_str() {
                "--customers" => settings.customers = number(&value)?,
                "--subscriptions" => settings.subscriptions = number(&value)?,
                "--support-contacts" => settings.support_contacts = number(&value)?,
                "--resellers" => settings.resellers = number(&value)?,
                "--drift" => {
                    settings.drift_percent = value
                        .parse::<f64>()
                        .ok()
                        .filter(|p| (0.0..=100.0).contains(p))
                        .ok_or_else(|| format!("--drift takes a percentage, got `{value}`"))?;
                }
                "--seed" => {
                    settings.seed = value
                        .parse()
                        .map_err(|_| format!("--seed takes a whole number, got `{value}`"))?;
                }
                "--out" => out = Some(PathBuf::from(value)),
                _ => return Err(format!("unknown flag `{flag}`")),
            }
        }
        settings.out = out.ok_or("--out DIR is required")?;
        if settings.resellers == 0 {
            return Err("--resellers must be at least 1".into());
        }
        if settings.customers == 0 && settings.subscriptions > 0 {
            return Err("subscriptions need at least one customer".into());
        }
        if settings.support_contacts > settings.subscriptions {
            return Err("--support-contacts cannot exceed --subscriptions (one per legacy subscription at most)".into());
        }
        Ok(Some(settings))
    }
}

fn run(settings: &Settings) -> Result<String, String> {
    let started = Instant::now();
    let mut rng = Rng::new(settings.seed);
    let model = Model::generate(settings, &mut rng)?;
    let manifests = settings.out.join("manifests");
    prepare_output(&settings.out, &manifests)?;
    let written = model.write(&manifests, settings)?;
    progress(
        started,
        &format!(
            "wrote {} files, {} documents",
            written.files, written.documents
        ),
    );

    let (sources, desired) = load(&manifests)?;
    progress(started, "loaded and validated the manifests");
    let state_path = settings.out.join("state.json");
    let options = PlanOptions {
        backend: format!("local:{}", state_path.display()),
        sandbox: true,
        simulate_hint: None,
        sandbox_reseller_limit: None,
        declared_reseller_tenants: true,
        ..PlanOptions::default()
    };
    let mut backend = LocalBackend::open(
        state_path.clone(),
        NOW.to_owned(),
        Some(std::time::Duration::from_secs(10)),
    )
    .map_err(|e| e.to_string())?;
    let mut executed = 0;
    for pass in 1..=2 {
        let plan = make_plan(&desired, &sources, &read(&mut backend)?, &options)?;
        executed += apply(&plan, &backend)?;
        progress(
            started,
            &format!("pass {pass}: {} actions planned", plan.actions.len()),
        );
        if pass == 1 {
            model.accept_relationships(&mut backend)?;
        }
    }
    let check = make_plan(&desired, &sources, &read(&mut backend)?, &options)?;
    if check.has_changes() || !check.unmanaged.is_empty() {
        return Err(format!(
            "the state did not converge after {executed} executed actions: {} (and {} unmanaged object(s))",
            check.summary_line(),
            check.unmanaged.len()
        ));
    }
    progress(started, &format!("converged after {executed} actions"));
    backend.finish().map_err(|e| e.to_string())?;
    // The state before drift: exactly the manifests, for the benchmark's no-op plan.
    std::fs::copy(&state_path, settings.out.join(CONVERGED))
        .map_err(|e| format!("cannot copy the state to {CONVERGED}: {e}"))?;

    let drift = backend.tenant().with_state_mut(|tenant| {
        let drift = apply_drift(tenant, settings.drift_percent, &mut rng);
        state::write(&state_path, tenant, &Default::default()).map(|()| drift)
    });
    let drift = drift.map_err(|e| e.to_string())?;
    drop(backend);
    let state_bytes = std::fs::metadata(&state_path).map_or(0, |m| m.len());
    Ok(format!(
        "gen-fixture: {} files, {} documents ({} resellers, {} customers, {} subscriptions, {} support contacts), {} bytes of YAML in {}; state {} bytes; drift {} ({} quantity, {} autoRenew, {} removed, {} unmanaged); seed {}",
        written.files,
        written.documents,
        model.resellers.len(),
        model.customers.len(),
        model.subscription_count(),
        model.support_contact_count(),
        written.bytes,
        manifests.display(),
        state_bytes,
        drift.total(),
        drift.quantity,
        drift.auto_renew,
        drift.removed,
        drift.unmanaged,
        settings.seed
    ))
}

fn progress(started: Instant, what: &str) {
    eprintln!(
        "gen-fixture: {:7.1}s {what}",
        started.elapsed().as_secs_f64()
    );
}

/// Creates `out`, replacing a manifest tree and state that an earlier run wrote there
/// (recognized by the marker file), never anything else.
fn prepare_output(out: &Path, manifests: &Path) -> Result<(), String> {
    let io = |what: &str, path: &Path, e: std::io::Error| format!("{what} {}: {e}", path.display());
    let state = out.join("state.json");
    if state.exists() && !manifests.join(MARKER).exists() {
        return Err(format!(
            "{} exists and was not written by gen-fixture; choose another --out",
            state.display()
        ));
    }
    if manifests.exists() {
        if !manifests.join(MARKER).exists() {
            return Err(format!(
                "{} exists and was not written by gen-fixture; choose another --out",
                manifests.display()
            ));
        }
        std::fs::remove_dir_all(manifests).map_err(|e| io("cannot remove", manifests, e))?;
        if state.exists() {
            std::fs::remove_file(&state).map_err(|e| io("cannot remove", &state, e))?;
        }
    }
    std::fs::create_dir_all(manifests).map_err(|e| io("cannot create", manifests, e))
}

/// Reads, schema-checks and rule-checks the written tree, as `cspctl validate` does.
fn load(manifests: &Path) -> Result<(SourceMap, Desired), String> {
    let (sources, mut problems) = read_manifest_files(&[manifests.to_path_buf()]);
    let (loaded, load_problems) = load_manifests(&sources, &SchemaValidators::new());
    problems.extend(load_problems);
    let rendered = |problems: &[Diagnostic]| {
        let shown = &problems[..problems.len().min(20)];
        format!(
            "the generated manifests are not valid ({} problem(s)); this is a bug in gen-fixture:\n{}",
            problems.len(),
            render_diagnostics(shown, &sources, DiagnosticFormat::Human, false)
        )
    };
    if problems.iter().any(Diagnostic::is_error) {
        return Err(rendered(&problems));
    }
    match cspctl::validate::validate(loaded) {
        Ok((desired, _warnings)) => Ok((sources, desired)),
        Err(problems) => Err(rendered(&problems)),
    }
}

fn read(backend: &mut LocalBackend) -> Result<Live, String> {
    backend.read_live().map_err(|e| e.to_string())
}

fn make_plan(
    desired: &Desired,
    sources: &SourceMap,
    live: &Live,
    options: &PlanOptions,
) -> Result<Plan, String> {
    cspctl::plan::plan(desired, sources, live, options).map_err(|problems| {
        format!(
            "planning failed:\n{}",
            render_diagnostics(&problems, sources, DiagnosticFormat::Human, false)
        )
    })
}

// ---------------------------------------------------------------------------------
// Execution

/// Applies `plan` as `cspctl apply` does (manual actions, and those blocked behind
/// them, wait for the next pass); returns how many actions were applied. Request
/// ids are counted, not random, so the state is reproducible.
fn apply(plan: &Plan, backend: &LocalBackend) -> Result<usize, String> {
    let report = backend.block_on(execute_unattended(
        plan,
        backend.executor(),
        cspctl::apply::DEFAULT_LOCAL_PARALLELISM,
    ));
    if report.failed() > 0 {
        let (address, outcome) = report
            .results
            .iter()
            .find(|(_, outcome)| matches!(outcome, cspctl::apply::ActionOutcome::Failed(_)))
            .ok_or("a failed action is not in the report")?;
        return Err(format!("{address}: {outcome:?}"));
    }
    Ok(report.applied())
}

// ---------------------------------------------------------------------------------
// Drift

#[derive(Default)]
struct Drift {
    quantity: usize,
    auto_renew: usize,
    removed: usize,
    unmanaged: usize,
}

impl Drift {
    fn total(&self) -> usize {
        self.quantity + self.auto_renew + self.removed + self.unmanaged
    }
}

/// Changes `percent` of the subscriptions directly in the tenant, as if someone had
/// used Partner Center by hand: 40% seats removed (autoRenew flipped instead when
/// there is one seat), 25% autoRenew flips, 20% removals and 15% unmanaged
/// subscriptions added next to them.
fn apply_drift(tenant: &mut State, percent: f64, rng: &mut Rng) -> Drift {
    let mut picks: Vec<usize> = (0..tenant.subscriptions.len()).collect();
    // Rounded, not truncated: 1% of 150 subscriptions is 2 changes, not 1.
    let count = ((picks.len() as f64) * percent / 100.0).round() as usize;
    let count = count.min(picks.len());
    // A partial Fisher–Yates shuffle picks `count` distinct subscriptions.
    for i in 0..count {
        let j = i + rng.below(picks.len() - i);
        picks.swap(i, j);
    }
    let mut drift = Drift::default();
    let mut removed = Vec::new();
    for &index in &picks[..count] {
        let roll = rng.below(100);
        let subscription = &mut tenant.subscriptions[index];
        // Seats are only ever removed by hand, so that the plan adds them back: an
        // increase, which new commerce allows at any time. Seats added by hand would
        // make the plan remove them, outside the cancellation window a change at
        // renewal, which needs the full offer id (with its availability) that the
        // fixture's manifests do not give: a plan error, not a benchmark.
        if roll < 40 && subscription.quantity > 1 {
            let quantity = subscription.quantity;
            subscription.quantity = quantity - 1 - rng.below((quantity - 1).min(5) as usize) as i64;
            drift.quantity += 1;
        } else if roll < 65 {
            subscription.auto_renew_enabled = !subscription.auto_renew_enabled;
            drift.auto_renew += 1;
        } else if roll < 85 {
            removed.push(index);
            drift.removed += 1;
        } else {
            let customer_id = subscription.customer_id.clone();
            let offer = rng.pick_ref(OFFERS);
            drift.unmanaged += 1;
            let new_id = rng.guid();
            let quantity = 1 + rng.below(25) as i64;
            tenant.subscriptions.push(cspctl::sim::state::Subscription {
                id: new_id,
                customer_id,
                order_id: String::new(),
                offer_id: offer.id.to_owned(),
                // Unique per customer: no manifest's friendly name looks like this.
                friendly_name: format!("Unmanaged trial {}", drift.unmanaged),
                quantity,
                term: Term::P1M,
                billing_cycle: Cycle::Monthly,
                status: Status::Active,
                auto_renew_enabled: true,
                partner_id: String::new(),
                // 2025-12-01T09:00:00Z
                created_at: 1_764_579_600,
                version: 1,
                support_contact: None,
                pending_change: None,
                term_start: None,
                next_term: None,
                first_term_end: None,
            });
        }
    }
    // Removed as someone deleting it by hand would: with its order, so nothing
    // remembers it (removals last: they shift the indexes picked above).
    removed.sort_unstable();
    for index in removed.into_iter().rev() {
        let subscription = tenant.subscriptions.remove(index);
        tenant
            .orders
            .retain(|order| order.id != subscription.order_id);
    }
    tenant.reindex();
    drift
}

// ---------------------------------------------------------------------------------
// The generated model

struct Reseller {
    name: String,
    tenant_id: String,
    mpn_id: String,
    display_name: String,
    location: &'static str,
}

struct Customer {
    name: String,
    domain: String,
    company_name: String,
    /// Indices into `Model::resellers`; the first is the associated reseller.
    resellers: Vec<usize>,
    country: &'static Country,
    city: &'static City,
    contact_first: &'static str,
    contact_last: &'static str,
    street_number: usize,
    street: &'static str,
    address_line2: Option<String>,
    phone: Option<String>,
    registration_number: Option<String>,
    agreement_date: Option<String>,
    subscriptions: Vec<Subscription>,
}

struct Subscription {
    name: String,
    offer: &'static Offer,
    quantity: u32,
    term: &'static str,
    cycle: &'static str,
    /// `None`: not written (the default, true).
    auto_renew: Option<bool>,
    suspended: bool,
    reseller: Option<usize>,
    friendly_name: Option<String>,
    /// The reseller (index) designated as support contact, if any.
    support_contact: Option<usize>,
}

struct Model {
    resellers: Vec<Reseller>,
    customers: Vec<Customer>,
}

/// What was written.
struct Written {
    files: usize,
    documents: usize,
    bytes: u64,
}

impl Model {
    fn generate(settings: &Settings, rng: &mut Rng) -> Result<Model, String> {
        let resellers = (0..settings.resellers)
            .map(|i| {
                let word = RESELLER_WORDS[i % RESELLER_WORDS.len()];
                Reseller {
                    name: format!("{word}-{:03}", i + 1),
                    tenant_id: rng.guid(),
                    // Distinct, and never the local provider's own 9900001.
                    mpn_id: (4_100_000 + i * 7).to_string(),
                    display_name: format!(
                        "{} {} {}",
                        title_case(word),
                        rng.pick(RESELLER_SUFFIXES),
                        i + 1
                    ),
                    location: rng.pick_ref(COUNTRIES).code,
                }
            })
            .collect::<Vec<_>>();

        // Every customer has at least one subscription when there are enough; the rest
        // are spread at random, so counts vary as they do in real tenants.
        let mut counts = vec![0usize; settings.customers];
        let base = if settings.subscriptions >= settings.customers {
            1
        } else {
            0
        };
        counts.iter_mut().for_each(|c| *c = base);
        for _ in 0..settings.subscriptions - base * settings.customers {
            counts[rng.below(settings.customers)] += 1;
        }
        // Enough legacy subscriptions to carry the support contacts, with margin.
        let legacy_percent = settings
            .support_contacts
            .saturating_mul(125)
            .checked_div(settings.subscriptions)
            .map_or(0, |needed| needed.clamp(40, 100));

        let width = settings.customers.max(1).to_string().len().max(5);
        let mut customers = Vec::with_capacity(settings.customers);
        for (i, &count) in counts.iter().enumerate() {
            customers.push(Customer::generate(
                i,
                width,
                count,
                legacy_percent,
                &resellers,
                rng,
            ));
        }
        let mut model = Model {
            resellers,
            customers,
        };
        model.choose_support_contacts(settings.support_contacts, rng)?;
        Ok(model)
    }

    /// Picks exactly `wanted` legacy subscriptions uniformly (selection sampling) and
    /// gives each a support contact: its reseller of record, else the customer's first.
    fn choose_support_contacts(&mut self, wanted: usize, rng: &mut Rng) -> Result<(), String> {
        let mut legacy_left: usize = self
            .customers
            .iter()
            .flat_map(|c| &c.subscriptions)
            .filter(|s| !s.offer.new_commerce)
            .count();
        if legacy_left < wanted {
            return Err(format!(
                "only {legacy_left} legacy subscriptions were generated, fewer than the {wanted} support contacts asked for; ask for more subscriptions"
            ));
        }
        let mut wanted_left = wanted;
        for customer in &mut self.customers {
            let first = customer.resellers[0];
            for subscription in &mut customer.subscriptions {
                if subscription.offer.new_commerce {
                    continue;
                }
                if rng.below(legacy_left) < wanted_left {
                    subscription.support_contact = Some(subscription.reseller.unwrap_or(first));
                    wanted_left -= 1;
                }
                legacy_left -= 1;
            }
        }
        Ok(())
    }

    fn subscription_count(&self) -> usize {
        self.customers.iter().map(|c| c.subscriptions.len()).sum()
    }

    fn support_contact_count(&self) -> usize {
        self.customers
            .iter()
            .flat_map(|c| &c.subscriptions)
            .filter(|s| s.support_contact.is_some())
            .count()
    }

    /// What each customer's admin does with the plan's relationship requests:
    /// `cspctl local accept-relationship`, in process.
    fn accept_relationships(&self, backend: &mut LocalBackend) -> Result<(), String> {
        for customer in self.customers.iter().filter(|c| c.resellers.len() > 1) {
            for &r in &customer.resellers[1..] {
                backend
                    .accept_relationship(&customer.domain, &self.resellers[r].tenant_id)
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    fn write(&self, manifests: &Path, settings: &Settings) -> Result<Written, String> {
        let mut written = Written {
            files: 0,
            documents: 0,
            bytes: 0,
        };
        let mut save = |path: &Path, text: &str, documents: usize| -> Result<(), String> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
            std::fs::write(path, text)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            written.files += 1;
            written.documents += documents;
            written.bytes += text.len() as u64;
            Ok(())
        };
        let marker = format!(
            "gen-fixture --customers {} --subscriptions {} --support-contacts {} --resellers {} --drift {} --seed {}\n",
            settings.customers,
            settings.subscriptions,
            settings.support_contacts,
            settings.resellers,
            settings.drift_percent,
            settings.seed
        );
        std::fs::write(manifests.join(MARKER), marker)
            .map_err(|e| format!("cannot write the marker in {}: {e}", manifests.display()))?;

        let mut text = String::new();
        let _ = writeln!(
            text,
            "# Generated by gen-fixture (seed {}): the indirect resellers.",
            settings.seed
        );
        for (i, reseller) in self.resellers.iter().enumerate() {
            if i > 0 {
                text.push_str("---\n");
            }
            reseller.write(&mut text);
        }
        save(
            &manifests.join("resellers.yaml"),
            &text,
            self.resellers.len(),
        )?;

        for customer in &self.customers {
            text.clear();
            let documents = customer.write(&mut text, &self.resellers);
            let path = manifests
                .join("customers")
                .join(&self.resellers[customer.resellers[0]].name)
                .join(format!("{}.yaml", customer.name));
            save(&path, &text, documents)?;
        }
        Ok(written)
    }
}

impl Reseller {
    fn write(&self, out: &mut String) {
        let _ = write!(
            out,
            "apiVersion: cspctl/v1\nkind: Reseller\nmetadata:\n  name: {}\nspec:\n  tenantId: {}\n  mpnId: \"{}\"\n  displayName: {}\n  location: {}\n",
            self.name,
            self.tenant_id,
            self.mpn_id,
            scalar(&self.display_name),
            self.location
        );
    }
}

impl Customer {
    fn generate(
        index: usize,
        width: usize,
        subscription_count: usize,
        legacy_percent: usize,
        resellers: &[Reseller],
        rng: &mut Rng,
    ) -> Customer {
        let adjective = rng.pick(ADJECTIVES);
        let noun = rng.pick(NOUNS);
        let number = format!("{:0width$}", index + 1);
        let country = pick_weighted(COUNTRIES, rng);
        // A few large resellers serve most customers, as in real channels.
        let u = rng.unit();
        let first = ((u * u * resellers.len() as f64) as usize).min(resellers.len() - 1);
        let mut customer_resellers = vec![first];
        if resellers.len() > 1 && rng.below(100) < 10 {
            let second = (first + 1 + rng.below(resellers.len() - 1)) % resellers.len();
            customer_resellers.push(second);
        }
        let registration_number = country
            .registration
            .then(|| format!("{}{:010}", country.code, rng.below(10_000_000_000)));
        let phone = (country.registration || rng.below(100) < 60).then(|| {
            format!(
                "{} {:03} {:04}",
                country.phone_prefix,
                rng.below(1000),
                rng.below(10_000)
            )
        });
        let mut customer = Customer {
            name: format!("{adjective}-{noun}-{number}"),
            domain: format!("{adjective}{noun}{number}.onmicrosoft.com"),
            company_name: format!(
                "{} {} {}",
                title_case(adjective),
                title_case(noun),
                rng.pick(country.company_suffixes)
            ),
            resellers: customer_resellers,
            country,
            city: rng.pick_ref(country.cities),
            contact_first: rng.pick(FIRST_NAMES),
            contact_last: rng.pick(LAST_NAMES),
            street_number: 1 + rng.below(250),
            street: rng.pick(country.streets),
            address_line2: (rng.below(100) < 20).then(|| format!("Floor {}", 1 + rng.below(30))),
            phone,
            registration_number,
            agreement_date: None,
            subscriptions: Vec::with_capacity(subscription_count),
        };
        let (new_commerce, legacy): (Vec<&'static Offer>, Vec<&'static Offer>) =
            OFFERS.iter().partition(|o| o.new_commerce);
        let mut used: HashMap<&'static str, usize> = HashMap::new();
        for _ in 0..subscription_count {
            let catalog = if rng.below(100) < legacy_percent {
                &legacy
            } else {
                &new_commerce
            };
            let offer = rng.pick(catalog);
            let seen = used.entry(offer.slug).or_insert(0);
            *seen += 1;
            let subscription = Subscription::generate(&customer, offer, *seen, rng);
            customer.subscriptions.push(subscription);
        }
        let buys_new_commerce = customer.subscriptions.iter().any(|s| s.offer.new_commerce);
        if buys_new_commerce || rng.below(100) < 30 {
            customer.agreement_date = Some(if rng.below(100) < 70 {
                format!("2025-{:02}-{:02}", 1 + rng.below(12), 1 + rng.below(28))
            } else {
                format!(
                    "2025-{:02}-{:02}T{:02}:{:02}:00Z",
                    1 + rng.below(12),
                    1 + rng.below(28),
                    rng.below(24),
                    rng.below(60)
                )
            });
        }
        customer
    }

    /// Writes the customer's file; returns the number of documents.
    fn write(&self, out: &mut String, resellers: &[Reseller]) -> usize {
        let names: Vec<&str> = self
            .resellers
            .iter()
            .map(|&r| resellers[r].name.as_str())
            .collect();
        let _ = writeln!(
            out,
            "# Generated by gen-fixture: customer {} and its subscriptions.",
            self.name
        );
        let _ = write!(
            out,
            "apiVersion: cspctl/v1\nkind: Customer\nmetadata:\n  name: {}\nspec:\n  domain: {}\n  companyName: {}\n  resellers: [{}]\n",
            self.name,
            self.domain,
            scalar(&self.company_name),
            names.join(", ")
        );
        let local = self.domain.split('.').next().unwrap_or_default();
        let _ = write!(
            out,
            "  billing:\n    email: billing@{local}.example\n    culture: {}\n    language: {}\n    address:\n      firstName: {}\n      lastName: {}\n      addressLine1: {}\n",
            self.country.culture,
            self.country.language,
            scalar(self.contact_first),
            scalar(self.contact_last),
            scalar(&format!("{} {}", self.street_number, self.street)),
        );
        if let Some(line2) = &self.address_line2 {
            let _ = writeln!(out, "      addressLine2: {}", scalar(line2));
        }
        let _ = writeln!(out, "      city: {}", scalar(self.city.name));
        if let Some(state) = self.city.state {
            let _ = writeln!(out, "      state: {state}");
        }
        let _ = write!(
            out,
            "      postalCode: \"{}\"\n      country: {}\n",
            self.city.postal_code, self.country.code
        );
        if let Some(phone) = &self.phone {
            let _ = writeln!(out, "      phoneNumber: \"{phone}\"");
        }
        if let Some(number) = &self.registration_number {
            let _ = writeln!(out, "  organizationRegistrationNumber: \"{number}\"");
        }
        if let Some(date) = &self.agreement_date {
            let email = format!(
                "{}.{}@{local}.example",
                ascii_lower(self.contact_first),
                ascii_lower(self.contact_last)
            );
            let _ = write!(
                out,
                "  agreement:\n    contact:\n      firstName: {}\n      lastName: {}\n      email: {email}\n    dateAgreed: \"{date}\"\n",
                scalar(self.contact_first),
                scalar(self.contact_last),
            );
        }
        let mut documents = 1;
        for subscription in &self.subscriptions {
            out.push_str("---\n");
            subscription.write(out, &self.name, resellers);
            documents += 1;
            if let Some(r) = subscription.support_contact {
                let _ = write!(
                    out,
                    "---\napiVersion: cspctl/v1\nkind: SupportContact\nmetadata:\n  name: {}-support\nspec:\n  subscription: {}\n  reseller: {}\n",
                    subscription.name, subscription.name, resellers[r].name
                );
                documents += 1;
            }
        }
        documents
    }
}

impl Subscription {
    /// The `nth` subscription of `offer` for `customer` (1-based).
    fn generate(customer: &Customer, offer: &'static Offer, nth: usize, rng: &mut Rng) -> Self {
        let suffix = if nth > 1 {
            format!("-{nth}")
        } else {
            String::new()
        };
        let (term, cycle) = if offer.new_commerce {
            match rng.below(100) {
                0..55 => ("P1Y", "monthly"),
                55..75 => ("P1Y", "annual"),
                75..92 => ("P1M", "monthly"),
                92..96 => ("P3Y", "annual"),
                96..98 => ("P3Y", "triennial"),
                _ => ("P3Y", "monthly"),
            }
        } else if rng.below(100) < 85 {
            ("P1M", "monthly")
        } else {
            ("P1Y", "annual")
        };
        let quantity = match rng.below(100) {
            0..50 => 1 + rng.below(10),
            50..85 => 11 + rng.below(90),
            85..98 => 101 + rng.below(900),
            _ => 1001 + rng.below(4000),
        } as u32;
        let auto_renew = match rng.below(100) {
            0..10 => Some(false),
            10..13 => Some(true),
            _ => None,
        };
        let reseller = match rng.below(100) {
            0..5 => None,
            _ if customer.resellers.len() > 1 && rng.below(100) < 30 => Some(customer.resellers[1]),
            _ => Some(customer.resellers[0]),
        };
        let friendly_name = (rng.below(100) < 25).then(|| {
            let mut name = format!("{} {}", customer.company_name, offer.title);
            if nth > 1 {
                let _ = write!(name, " ({nth})");
            }
            name
        });
        Subscription {
            name: format!("{}-{}{suffix}", customer.name, offer.slug),
            offer,
            quantity,
            term,
            cycle,
            auto_renew,
            suspended: rng.below(100) < 1,
            reseller,
            friendly_name,
            support_contact: None,
        }
    }

    fn write(&self, out: &mut String, customer: &str, resellers: &[Reseller]) {
        let _ = write!(
            out,
            "apiVersion: cspctl/v1\nkind: Subscription\nmetadata:\n  name: {}\nspec:\n  customer: {customer}\n  offerId: {}\n  quantity: {}\n  termDuration: {}\n  billingCycle: {}\n",
            self.name, self.offer.id, self.quantity, self.term, self.cycle
        );
        if let Some(auto_renew) = self.auto_renew {
            let _ = writeln!(out, "  autoRenew: {auto_renew}");
        }
        if self.suspended {
            out.push_str("  status: suspended\n");
        }
        if let Some(r) = self.reseller {
            let _ = writeln!(out, "  reseller: {}", resellers[r].name);
        }
        if let Some(name) = &self.friendly_name {
            let _ = writeln!(out, "  friendlyName: {}", scalar(name));
        }
    }
}

/// A plain YAML scalar when that reads back as the same string, else double-quoted.
/// Only for the generator's own vocabulary, which never needs escapes.
fn scalar(text: &str) -> String {
    let plain = text.chars().next().is_some_and(char::is_alphabetic)
        && !text.contains(": ")
        && !text.contains(" #")
        && !text.ends_with([':', ' '])
        && !matches!(
            text.to_ascii_lowercase().as_str(),
            "true" | "false" | "null"
        );
    if plain {
        text.to_owned()
    } else {
        format!("\"{text}\"")
    }
}

fn title_case(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn ascii_lower(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

// ---------------------------------------------------------------------------------
// Randomness

/// splitmix64: tiny, fast and good enough to make varied, reproducible fixtures.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // The local tenant makes its ids with splitmix64 seeded by a small counter; a
        // raw small seed here would make the first reseller's tenant id one of those.
        Rng(seed ^ 0x6A09_E667_F3BC_C908)
    }

    fn next_u64(&mut self) -> u64 {
        cspctl::ids::next_splitmix64(&mut self.0)
    }

    /// Uniform in `0..n` (`n > 0`); the modulo bias is far below what matters here.
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniformly chosen item of a non-empty slice.
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// A uniformly chosen item of a non-empty slice, by reference.
    fn pick_ref<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A version-4-shaped GUID.
    fn guid(&mut self) -> String {
        let high = self.next_u64();
        cspctl::ids::format_guid(high, self.next_u64(), 4)
    }
}

fn pick_weighted(countries: &'static [Country], rng: &mut Rng) -> &'static Country {
    let total: usize = countries.iter().map(|c| c.weight).sum();
    let mut roll = rng.below(total);
    for country in countries {
        if roll < country.weight {
            return country;
        }
        roll -= country.weight;
    }
    &countries[0]
}

// ---------------------------------------------------------------------------------
// Vocabulary

struct Offer {
    /// Part of subscription names; short enough that every name stays a DNS label.
    slug: &'static str,
    title: &'static str,
    id: &'static str,
    new_commerce: bool,
}

const fn offer(slug: &'static str, title: &'static str, id: &'static str) -> Offer {
    Offer {
        slug,
        title,
        id,
        // New-commerce ids are catalog items (`PRODUCT:SKU[:AVAILABILITY]`).
        new_commerce: id.len() < 36,
    }
}

const OFFERS: &[Offer] = &[
    offer(
        "m365-basic",
        "Microsoft 365 Business Basic",
        "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM",
    ),
    offer(
        "m365-standard",
        "Microsoft 365 Business Standard",
        "CFQ7TTC0LDPB:0001:CFQ7TTC0K5BF",
    ),
    offer(
        "m365-premium",
        "Microsoft 365 Business Premium",
        "CFQ7TTC0LCHC:0002:CFQ7TTC0K0XF",
    ),
    offer(
        "m365-e3",
        "Microsoft 365 E3",
        "CFQ7TTC0LFLX:0001:CFQ7TTC0K2Q4",
    ),
    offer(
        "teams-essentials",
        "Microsoft Teams Essentials",
        "CFQ7TTC0RM8K:0001:CFQ7TTC0K6SL",
    ),
    offer(
        "exchange-p1-nce",
        "Exchange Online Plan 1 (NCE)",
        "CFQ7TTC0LH16:0001",
    ),
    offer(
        "o365-e3",
        "Office 365 E3",
        "031c9e47-4802-4248-838e-778fb1d2cc05",
    ),
    offer(
        "o365-e1",
        "Office 365 E1",
        "91fd106f-4b2c-4938-95ac-f54f74e9a239",
    ),
    offer(
        "exchange-p1",
        "Exchange Online Plan 1",
        "195416c1-3447-423a-b37b-ee59a99a19c4",
    ),
    offer(
        "project-p3",
        "Project Online Professional",
        "7ed0b3e9-7c6e-4b71-a8c8-2a1d6d3d8e4f",
    ),
    offer(
        "visio-p2",
        "Visio Online Plan 2",
        "4b244418-9658-4451-a2b8-e0c7d7a2d3b1",
    ),
];

struct City {
    name: &'static str,
    state: Option<&'static str>,
    postal_code: &'static str,
}

const fn city(name: &'static str, state: Option<&'static str>, postal_code: &'static str) -> City {
    City {
        name,
        state,
        postal_code,
    }
}

struct Country {
    code: &'static str,
    culture: &'static str,
    language: &'static str,
    /// Relative frequency among customers.
    weight: usize,
    /// Partner Center wants a registration number and a phone number here.
    registration: bool,
    phone_prefix: &'static str,
    cities: &'static [City],
    streets: &'static [&'static str],
    company_suffixes: &'static [&'static str],
}

const COUNTRIES: &[Country] = &[
    Country {
        code: "US",
        culture: "en-US",
        language: "en",
        weight: 30,
        registration: false,
        phone_prefix: "+1 425",
        cities: &[
            city("Seattle", Some("WA"), "98101"),
            city("Austin", Some("TX"), "78701"),
            city("Chicago", Some("IL"), "60601"),
            city("Boston", Some("MA"), "02108"),
        ],
        streets: &[
            "Pine Street",
            "Main Street",
            "Lakeview Drive",
            "Market Avenue",
        ],
        company_suffixes: &["Inc", "LLC", "Corp"],
    },
    Country {
        code: "GB",
        culture: "en-GB",
        language: "en",
        weight: 15,
        registration: false,
        phone_prefix: "+44 20",
        cities: &[
            city("London", None, "SW1A 2AA"),
            city("Manchester", None, "M1 1AE"),
            city("Leeds", None, "LS1 4AP"),
        ],
        streets: &["High Street", "Station Road", "Church Lane"],
        company_suffixes: &["Ltd", "plc"],
    },
    Country {
        code: "DE",
        culture: "de-DE",
        language: "de",
        weight: 15,
        registration: false,
        phone_prefix: "+49 30",
        cities: &[
            city("Berlin", None, "10115"),
            city("München", None, "80331"),
            city("Köln", None, "50667"),
        ],
        streets: &["Hauptstraße", "Bahnhofstraße", "Gartenweg"],
        company_suffixes: &["GmbH", "AG", "GmbH & Co. KG"],
    },
    Country {
        code: "FR",
        culture: "fr-FR",
        language: "fr",
        weight: 10,
        registration: false,
        phone_prefix: "+33 1",
        cities: &[city("Paris", None, "75001"), city("Lyon", None, "69001")],
        streets: &["Rue de la Paix", "Avenue Victor Hugo"],
        company_suffixes: &["SAS", "SARL"],
    },
    Country {
        code: "NL",
        culture: "nl-NL",
        language: "nl",
        weight: 8,
        registration: false,
        phone_prefix: "+31 20",
        cities: &[
            city("Amsterdam", None, "1012 AB"),
            city("Utrecht", None, "3511 AA"),
        ],
        streets: &["Kerkstraat", "Dorpsstraat"],
        company_suffixes: &["B.V."],
    },
    Country {
        code: "AT",
        culture: "de-AT",
        language: "de",
        weight: 5,
        registration: false,
        phone_prefix: "+43 1",
        cities: &[city("Wien", None, "1010"), city("Graz", None, "8010")],
        streets: &["Ringstraße", "Mariahilfer Straße"],
        company_suffixes: &["GmbH", "AG"],
    },
    Country {
        code: "PL",
        culture: "pl-PL",
        language: "pl",
        weight: 7,
        registration: true,
        phone_prefix: "+48 22",
        cities: &[
            city("Warszawa", None, "00-001"),
            city("Kraków", None, "30-001"),
        ],
        streets: &["ul. Marszałkowska", "ul. Długa"],
        company_suffixes: &["Sp. z o.o.", "S.A."],
    },
    Country {
        code: "IN",
        culture: "en-IN",
        language: "en",
        weight: 5,
        registration: true,
        phone_prefix: "+91 80",
        cities: &[
            city("Bengaluru", Some("KA"), "560001"),
            city("Pune", Some("MH"), "411001"),
        ],
        streets: &["MG Road", "Residency Road"],
        company_suffixes: &["Pvt Ltd"],
    },
    Country {
        code: "BR",
        culture: "pt-BR",
        language: "pt",
        weight: 5,
        registration: true,
        phone_prefix: "+55 11",
        cities: &[
            city("São Paulo", Some("SP"), "01000-000"),
            city("Curitiba", Some("PR"), "80010-000"),
        ],
        streets: &["Avenida Paulista", "Rua Augusta"],
        company_suffixes: &["Ltda", "S.A."],
    },
];

/// At most nine letters each, so `<adjective><noun><number>` stays a valid domain label.
const ADJECTIVES: &[&str] = &[
    "alpine", "amber", "bright", "blue", "cedar", "coastal", "crimson", "silver", "golden",
    "granite", "green", "harbor", "iron", "lunar", "maple", "north", "oak", "pacific", "prime",
    "quiet", "rapid", "red", "river", "royal", "solar", "summit", "swift", "true", "urban",
    "valley", "west", "wild",
];

const NOUNS: &[&str] = &[
    "anchor",
    "bakery",
    "bridge",
    "builders",
    "capital",
    "clinic",
    "dental",
    "design",
    "dynamics",
    "energy",
    "farms",
    "foods",
    "freight",
    "health",
    "holdings",
    "labs",
    "legal",
    "logistics",
    "media",
    "motors",
    "partners",
    "pharma",
    "realty",
    "retail",
    "studio",
    "systems",
    "textiles",
    "travel",
    "ventures",
    "works",
];

const FIRST_NAMES: &[&str] = &[
    "Ana", "Ben", "Chloé", "David", "Elif", "Farah", "Greta", "Hiro", "Ines", "Jonas", "Kavya",
    "Lena", "Marek", "Nora", "Omar", "Priya", "Rafael", "Sofia", "Tomasz", "Zoë",
];

const LAST_NAMES: &[&str] = &[
    "Bowman", "Costa", "Dubois", "Fischer", "García", "Huber", "Jansen", "Kowalski", "Martin",
    "Miller", "Nakamura", "O'Brien", "Patel", "Rossi", "Schmidt", "Silva", "Taylor", "Wong",
];

const RESELLER_WORDS: &[&str] = &[
    "northwind",
    "adatum",
    "litware",
    "proseware",
    "fabrikam",
    "woodgrove",
    "tailspin",
    "wingtip",
    "lucerne",
    "relecloud",
    "trey",
    "coho",
    "alpineski",
    "fourthcoffee",
    "humongous",
    "margie",
    "wideworld",
    "contoso",
];

const RESELLER_SUFFIXES: &[&str] = &["Traders", "Partners", "Solutions", "Cloud", "IT Services"];
