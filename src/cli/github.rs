//! What the github and markdown output formats need from the environment: paths
//! relative to the repository's root (`GITHUB_WORKSPACE`), while cspctl may run in a
//! subdirectory or be given absolute paths.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::plan::Plan;

/// A copy of `plan` with each action's source file relative to the repository (see
/// [`use_repository_paths`]); the saved plan keeps the paths as given.
pub fn with_repository_paths(plan: &Plan) -> Plan {
    let mut plan = plan.clone();
    use_repository_paths(&mut plan);
    plan
}

/// `file` relative to the repository when running in GitHub Actions (see
/// [`repository_path`]); as given elsewhere.
pub fn repository_file(file: &str) -> String {
    repository_path(file, workspace_root().as_deref())
}

/// Makes each action's source file relative to the repository (see
/// [`repository_path`]) and returns the files as they were, for [`restore_paths`]:
/// the saved plan keeps the paths as given. Nothing changes outside GitHub Actions.
pub fn use_repository_paths(plan: &mut Plan) -> Vec<(usize, String)> {
    let Some(root) = workspace_root() else {
        return Vec::new();
    };
    // A file declares many objects: each is resolved once.
    let mut resolved: HashMap<String, String> = HashMap::new();
    let mut given = Vec::new();
    for (i, action) in plan.actions.iter_mut().enumerate() {
        let Some(source) = action.source.as_mut() else {
            continue;
        };
        let shown = resolved
            .entry(source.file.clone())
            .or_insert_with(|| repository_path(&source.file, Some(&root)));
        if *shown != source.file {
            given.push((i, std::mem::replace(&mut source.file, shown.clone())));
        }
    }
    given
}

/// Puts back the files [`use_repository_paths`] changed.
pub fn restore_paths(plan: &mut Plan, given: Vec<(usize, String)>) {
    for (i, file) in given {
        if let Some(source) = plan.actions.get_mut(i).and_then(|a| a.source.as_mut()) {
            source.file = file;
        }
    }
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
