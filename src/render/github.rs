//! GitHub Actions workflow annotations.

use crate::plan::Plan;

pub fn render_github_plan(plan: &Plan, show_sensitive: bool) -> String {
    let _ = (plan, show_sensitive);
    String::new()
}
