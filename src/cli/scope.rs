//! `--customer`, `--target` and `--changed-since`: which part of the tenant a plan,
//! apply or drift reads and plans ([`crate::scope`]). `--changed-since REF` asks
//! git which files changed since REF (committed, staged, unstaged and untracked,
//! deleted files included) and scopes to the objects they declare now and
//! declared at REF, so a deleted document's live object is read and shown as
//! unmanaged rather than left unseen. With no REF, CI's merge base is used
//! (GitHub Actions' pull-request base branch, GitLab's merge request diff base).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

use crate::manifest::source::{FileId, SourceMap};
use crate::manifest::yaml::parse_documents;
use crate::scope::Scope;
use crate::validate::Desired;

#[derive(Debug, Default, clap::Args)]
pub struct ScopeArgs {
    /// Only this customer (its manifest name; repeat for more): its subscriptions,
    /// support contacts and resellers' partnerships; other customers are not read.
    #[arg(long, value_name = "NAME")]
    customer: Vec<String>,
    /// Only what this object touches (Kind/name, e.g. Subscription/contoso-e3 or
    /// Reseller/northwind, whose customers are all touched; repeat for more).
    #[arg(long, value_name = "KIND/NAME")]
    target: Vec<String>,
    /// Only what the manifest files changed since this git revision declare, or
    /// declared there (deleted files included). Without a value, CI's merge base:
    /// the pull request's base branch on GitHub Actions, the merge request's diff
    /// base on GitLab.
    #[arg(long, value_name = "REF", num_args = 0..=1, default_missing_value = "")]
    changed_since: Option<String>,
}

impl ScopeArgs {
    pub fn is_set(&self) -> bool {
        !self.customer.is_empty() || !self.target.is_empty() || self.changed_since.is_some()
    }

    /// The scope these flags name (call it when [`ScopeArgs::is_set`]).
    pub fn resolve(&self, sources: &SourceMap, desired: &Desired) -> anyhow::Result<Scope> {
        let mut scope = Scope::default();
        if !self.customer.is_empty() {
            scope = scope.join(Scope::of(desired, &self.customer).map_err(|unknown| {
                anyhow::anyhow!(
                    "no Customer manifest is named {}; --customer takes a customer's metadata.name (declared: {})",
                    unknown
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    declared_customers(desired)
                )
            })?);
        }
        if !self.target.is_empty() {
            scope =
                scope.join(Scope::of_targets(desired, &self.target).map_err(anyhow::Error::msg)?);
        }
        if let Some(revision) = &self.changed_since {
            scope = scope.join(changed_since(revision, sources, desired)?);
        }
        Ok(scope)
    }

    /// The manifests at `paths` and the scope these flags name in them, for a
    /// scoped plan: manifests first, because the scope comes from them, then
    /// the live customers in scope. `Ok(None)` = problems reported.
    pub fn read(
        &self,
        paths: &[std::path::PathBuf],
        settings: &super::Settings,
    ) -> anyhow::Result<Option<Scoped>> {
        let Some((sources, desired)) = super::desired_or_report(paths, settings) else {
            return Ok(None);
        };
        let scope = self.resolve(&sources, &desired)?;
        Ok(Some(Scoped {
            live: scope.live_scope(&desired),
            declared: desired.manifests.customers.len(),
            scope,
            checked: (sources, desired),
        }))
    }
}

/// Manifests and the scope to plan them in ([`ScopeArgs::read`]).
pub struct Scoped {
    checked: (SourceMap, Desired),
    scope: Scope,
    /// The live customers to read.
    pub live: crate::live::CustomerScope,
    declared: usize,
}

impl Scoped {
    /// The plan of the scope against `live` (read with [`Scoped::live`]); `Ok(None)`
    /// = problems reported.
    pub fn plan(
        self,
        live: &crate::live::Live,
        options: &crate::plan::PlanOptions,
        settings: &super::Settings,
        pending: super::plan::PendingPurchases<'_>,
    ) -> anyhow::Result<Option<crate::plan::Plan>> {
        let Scoped {
            checked,
            scope,
            live: live_scope,
            declared,
        } = self;
        // Only the scope is planned (the rest was not read); the whole model when
        // the scope cannot stand alone.
        let (sources, desired) = checked;
        let desired = scope.narrow(&desired).unwrap_or(desired);
        Ok(
            super::plan::plan_desired((sources, desired), live, options, settings, pending)?
                .map(|plan| scope.restrict(plan, &live_scope, declared)),
        )
    }
}

fn declared_customers(desired: &Desired) -> String {
    let mut known: Vec<&str> = desired
        .manifests
        .customers
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    known.sort_unstable();
    if known.len() > 20 {
        format!("{}, ...", known[..20].join(", "))
    } else {
        known.join(", ")
    }
}

fn git(args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("git")
        .args(args)
        .output()
        .with_context(|| format!("running git {}", args.join(" ")))?;
    if !output.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The revision `--changed-since` without a value means: the merge base with the
/// pull request's target, as CI names it.
fn ci_base() -> anyhow::Result<String> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let Some(sha) = env("CI_MERGE_REQUEST_DIFF_BASE_SHA") {
        return Ok(sha);
    }
    if let Some(branch) = env("GITHUB_BASE_REF") {
        let base = git(&["merge-base", "HEAD", &format!("origin/{branch}")])
            .with_context(|| format!("finding the merge base with origin/{branch} (fetch it: actions/checkout with fetch-depth: 0)"))?;
        return Ok(base.trim().to_owned());
    }
    bail!(
        "--changed-since needs a revision outside a pull-request pipeline (GITHUB_BASE_REF and CI_MERGE_REQUEST_DIFF_BASE_SHA are not set), e.g. --changed-since origin/main"
    )
}

/// The scope of the manifest files changed since `revision`.
fn changed_since(revision: &str, sources: &SourceMap, desired: &Desired) -> anyhow::Result<Scope> {
    let revision = if revision.is_empty() {
        ci_base()?
    } else {
        revision.to_owned()
    };
    if revision.starts_with('-') {
        bail!("--changed-since `{revision}` is not a revision");
    }
    let top = PathBuf::from(git(&["rev-parse", "--show-toplevel"])?.trim());
    let mut changed: BTreeSet<String> =
        git(&["diff", "--name-only", "--no-renames", &revision, "--"])?
            .lines()
            .map(str::to_owned)
            .collect();
    changed.extend(
        git(&["ls-files", "--others", "--exclude-standard", "--full-name"])?
            .lines()
            .map(str::to_owned),
    );
    let canonical =
        |path: &Path| std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let changed_now: BTreeSet<PathBuf> = changed.iter().map(|p| canonical(&top.join(p))).collect();

    // Objects declared now in a changed file.
    let m = &desired.manifests;
    let in_changed =
        |file: FileId| changed_now.contains(&canonical(Path::new(sources.display(file))));
    fn declared_in<S>(
        kind: &str,
        objects: &[crate::manifest::Object<S>],
        in_changed: &dyn Fn(FileId) -> bool,
    ) -> Vec<String> {
        objects
            .iter()
            .filter(|o| in_changed(o.origin.file))
            .map(|o| format!("{kind}/{}", o.name))
            .collect()
    }
    let mut targets: Vec<String> = [
        declared_in("Reseller", &m.resellers, &in_changed),
        declared_in("Customer", &m.customers, &in_changed),
        declared_in("Subscription", &m.subscriptions, &in_changed),
        declared_in("SupportContact", &m.support_contacts, &in_changed),
    ]
    .concat();

    // Objects the changed files declared at `revision` (a removed document, a
    // deleted file): still declared elsewhere, they are targets; gone, their live
    // customer is read so what it holds shows as unmanaged.
    let mut removed = crate::live::CustomerScope::default();
    for path in &changed {
        if !(path.ends_with(".yaml") || path.ends_with(".yml")) {
            continue;
        }
        let Ok(old) = git(&["show", &format!("{revision}:{path}")]) else {
            continue; // new since the revision
        };
        let Ok(documents) = parse_documents(&old, FileId(u32::MAX)) else {
            continue; // it did not parse then either: nothing was applied from it
        };
        for document in documents {
            let field = |path: &[&str]| {
                let mut node = &document.root;
                for key in path {
                    node = node.get(key)?.1;
                }
                node.as_str().map(str::to_owned)
            };
            let (Some(kind), Some(name)) = (field(&["kind"]), field(&["metadata", "name"])) else {
                continue;
            };
            let declared = match kind.as_str() {
                "Customer" => desired.customer_index.contains_key(&name),
                "Subscription" => desired.subscription_index.contains_key(&name),
                "Reseller" => desired.reseller_index.contains_key(&name),
                "SupportContact" => m.support_contacts.iter().any(|c| c.name == name),
                _ => continue,
            };
            if declared {
                targets.push(format!("{kind}/{name}"));
                continue;
            }
            match kind.as_str() {
                "Customer" => {
                    if let Some(domain) = field(&["spec", "domain"]) {
                        removed.domains.insert(domain.to_ascii_lowercase());
                    }
                    if let Some(tenant) = field(&["spec", "tenantId"]) {
                        removed.tenant_ids.insert(tenant.to_ascii_lowercase());
                    }
                }
                "Subscription" => {
                    if let Some(customer) = field(&["spec", "customer"])
                        && desired.customer_index.contains_key(&customer)
                    {
                        targets.push(format!("Customer/{customer}"));
                    }
                }
                "SupportContact" => {
                    if let Some(subscription) = field(&["spec", "subscription"])
                        && desired.subscription_index.contains_key(&subscription)
                    {
                        targets.push(format!("Subscription/{subscription}"));
                    }
                }
                // A removed reseller's partnership is read with every reseller.
                _ => {}
            }
        }
    }
    let mut scope = if targets.is_empty() {
        Scope::default()
    } else {
        Scope::of_targets(desired, &targets).map_err(anyhow::Error::msg)?
    };
    scope.removed = removed;
    Ok(scope)
}
