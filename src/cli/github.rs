//! What the github and markdown output formats need from the environment: paths
//! relative to the repository's root (`GITHUB_WORKSPACE`), while cspctl may run in a
//! subdirectory or be given absolute paths.

use std::path::{Path, PathBuf};

use crate::plan::Plan;

/// A copy of `plan` with each action's source file relative to the repository (see
/// [`repository_path`]); the saved plan keeps the paths as given.
pub fn with_repository_paths(plan: &Plan) -> Plan {
    let root = workspace_root();
    let mut plan = plan.clone();
    for source in plan.actions.iter_mut().filter_map(|a| a.source.as_mut()) {
        source.file = repository_path(&source.file, root.as_deref());
    }
    plan
}

/// `file` relative to the repository when running in GitHub Actions (see
/// [`repository_path`]); as given elsewhere.
pub fn repository_file(file: &str) -> String {
    repository_path(file, workspace_root().as_deref())
}

/// The repository root GitHub Actions checked out into, when running there.
fn workspace_root() -> Option<PathBuf> {
    let root = std::env::var_os("GITHUB_WORKSPACE").filter(|v| !v.is_empty())?;
    std::fs::canonicalize(root).ok()
}

/// `file` relative to `root` with `/` separators when it lies inside it; otherwise
/// as given (GitHub then shows the annotation on the run, not on a file).
fn repository_path(file: &str, root: Option<&Path>) -> String {
    let Some(root) = root else {
        return file.to_owned();
    };
    let Ok(absolute) = std::fs::canonicalize(file) else {
        return file.to_owned();
    };
    match absolute.strip_prefix(root) {
        Ok(relative) => relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"),
        Err(_) => file.to_owned(),
    }
}
