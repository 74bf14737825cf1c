//! The plan as a Markdown pull-request comment.

use crate::plan::Plan;

/// GitHub's limit on the body of an issue or pull-request comment, in characters.
pub const GITHUB_COMMENT_LIMIT: usize = 65_535;

/// How a markdown plan is rendered.
#[derive(Clone, Debug)]
pub struct MarkdownOptions {
    pub show_sensitive: bool,
    pub full_plan: Option<String>,
    pub max_len: usize,
}

impl Default for MarkdownOptions {
    fn default() -> MarkdownOptions {
        MarkdownOptions {
            show_sensitive: false,
            full_plan: None,
            max_len: GITHUB_COMMENT_LIMIT,
        }
    }
}

pub fn render_markdown(plan: &Plan, options: &MarkdownOptions) -> String {
    let _ = (plan, options);
    String::new()
}
