//! The round trip of an export: its manifests planned against the snapshot they
//! came from, the way `cspctl plan` would, so that `cspctl export` reports (and
//! exits 1 on) an export that would not plan to "No changes". Pure, like the export.

use crate::diagnostic::{DiagnosticFormat, render_diagnostics};
use crate::live::Live;
use crate::manifest::source::SourceMap;
use crate::plan::PlanOptions;

use super::{Export, quoted, to_json};

/// Plans the exported manifests against `live` as `cspctl plan` would, and returns
/// every way the round trip is not exact: a document the loader or the rules reject,
/// a planned action, an unmanaged object no warning accounts for. Empty when
/// `cspctl plan` on the export will say "No changes" (and list only the objects
/// left out on purpose).
pub fn verify(live: &Live, export: &Export) -> Vec<String> {
    let files = export.manifest_files();
    let mut problems = Vec::new();
    if files.is_empty() {
        for (kind, id) in unmanaged_without_manifests(live) {
            if !export.skipped.contains(&(kind.to_owned(), id.clone())) {
                problems.push(format!("{kind} {id} is not exported and has no warning"));
            }
        }
        return problems;
    }
    let mut sources = SourceMap::new();
    for (path, text) in files {
        sources.add(path, text);
    }
    let desired = match crate::validate::check_sources(&sources, Vec::new(), usize::MAX) {
        Ok((desired, _)) => desired,
        Err(found) => {
            problems.push(render_diagnostics(
                &found.shown,
                &sources,
                DiagnosticFormat::Human,
                false,
            ));
            return problems;
        }
    };
    // A move to another SKU that Partner Center has scheduled was an eligible
    // transition when it was written: the round trip takes it as one (it asks
    // nothing; `cspctl plan` asks Partner Center again).
    let (mut planned, lookups) =
        crate::plan::plan_and_lookups(&desired, &sources, live, &PlanOptions::default());
    if !lookups.transitions.is_empty() {
        let mut with = live.clone();
        for (_, id) in &lookups.transitions {
            if let Some(next) = live
                .subscriptions
                .get(id)
                .and_then(|s| s.next_term.as_ref())
            {
                with.transitions.insert(
                    id.clone(),
                    vec![crate::live::LiveTransition {
                        catalog_item_id: next.offer_id.clone(),
                        title: None,
                        eligible: true,
                        reasons: Vec::new(),
                    }],
                );
            }
        }
        planned = crate::plan::plan(&desired, &sources, &with, &PlanOptions::default());
    }
    let plan = match planned {
        Ok(plan) => plan,
        Err(plan_problems) => {
            problems.push(render_diagnostics(
                &plan_problems,
                &sources,
                DiagnosticFormat::Human,
                false,
            ));
            return problems;
        }
    };
    for action in &plan.actions {
        let changes: Vec<String> = action
            .changes
            .iter()
            .map(|c| format!("{}: {} → {}", c.path, c.before, c.after))
            .collect();
        problems.push(format!(
            "the plan would {} {}{}",
            to_json(&action.action_type).as_str().unwrap_or_default(),
            action.address,
            if changes.is_empty() {
                String::new()
            } else {
                format!(" ({})", changes.join(", "))
            }
        ));
    }
    for unmanaged in &plan.unmanaged {
        if !export
            .skipped
            .contains(&(unmanaged.kind.clone(), unmanaged.id.clone()))
        {
            problems.push(format!(
                "the plan would list {} {} ({}) as unmanaged",
                unmanaged.kind,
                quoted(&unmanaged.name),
                unmanaged.id
            ));
        }
    }
    problems
}

fn unmanaged_without_manifests(live: &Live) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    out.extend(
        live.resellers
            .values()
            .map(|r| ("Reseller", r.tenant_id.clone())),
    );
    out.extend(live.customers.values().map(|c| ("Customer", c.id.clone())));
    out.extend(
        live.subscriptions
            .values()
            .filter(|s| !s.status.is_gone())
            .map(|s| ("Subscription", s.id.clone())),
    );
    out
}
