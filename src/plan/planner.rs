//! Planner (being written).
use crate::live::Live;
use crate::plan::Plan;
use crate::validate::Desired;
/// Options.
#[derive(Clone, Debug, Default)]
pub struct PlanOptions { pub backend: String, pub sandbox: bool }
/// Plans.
pub fn plan(_desired: &Desired, _live: &Live, options: &PlanOptions) -> Result<Plan, Vec<crate::diagnostic::Diagnostic>> {
    Ok(Plan { format_version: crate::plan::PLAN_FORMAT_VERSION, backend: options.backend.clone(), summary: Default::default(), actions: vec![], unmanaged: vec![] })
}
