//! The CI pipelines under `examples/ci` stay valid: every file parses as YAML with the
//! structure GitHub Actions or GitLab CI expects, each pipeline does what its README
//! says (plan comment, apply of the reviewed plan file, drift issue), and every
//! `cspctl ...` command line in their shell scripts is accepted by cspctl's own
//! argument parser.

use std::path::{Path, PathBuf};

use clap::Parser as _;
use saphyr::{LoadableYamlNode as _, Yaml};

fn ci_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ci")
}

fn read(relative: &str) -> String {
    let path = ci_dir().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file under `examples/ci`, relative, sorted.
fn all_files() -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("readable directory") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, root, out);
            } else {
                let relative = path.strip_prefix(root).expect("under the root");
                out.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(&ci_dir(), &ci_dir(), &mut out);
    out.sort();
    out
}

// ---------------------------------------------------------------------------------
// Extracting `cspctl` command lines from shell text.
// ---------------------------------------------------------------------------------

/// What an expansion (`$VAR`, `${VAR}`, `$(...)`, `${{ ... }}`) stands for.
const PLACEHOLDER: &str = "X";

/// Words that may precede a command without being it.
const PREFIXES: &[&str] = &[
    "if", "then", "else", "elif", "do", "while", "until", "!", "{", "time", "exec", "command",
];

/// Splits shell text into simple commands (lists of words, quotes removed, expansions
/// replaced by [`PLACEHOLDER`], redirections dropped) and returns those that run
/// `cspctl`. Commands inside `$( ... )` are found too.
fn cspctl_commands(script: &str) -> Vec<Vec<String>> {
    let text = script.replace("\\\r\n", " ").replace("\\\n", " ");
    let text = replace_github_expressions(&text);
    let mut commands = Vec::new();
    for command in simple_commands(&text, &mut commands) {
        if command.first().map(String::as_str) == Some("cspctl") {
            commands.push(command);
        }
    }
    commands
}

/// `${{ ... }}` (GitHub Actions expressions) → the placeholder.
fn replace_github_expressions(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        out.push_str(PLACEHOLDER);
        rest = match rest[start..].find("}}") {
            Some(end) => &rest[start + end + 2..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

/// Parses `text` into simple commands; `cspctl` commands found inside command
/// substitutions go straight to `found`.
fn simple_commands(text: &str, found: &mut Vec<Vec<String>>) -> Vec<Vec<String>> {
    let chars: Vec<char> = text.chars().collect();
    let mut parser = Words::default();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' => {
                let end = find(&chars, i + 1, '\'');
                parser.push_str(&chars[i + 1..end].iter().collect::<String>());
                i = end + 1;
            }
            '"' => {
                i += 1;
                parser.start_word();
                while i < chars.len() && chars[i] != '"' {
                    match chars[i] {
                        '\\' if i + 1 < chars.len() && "\"\\$`\n".contains(chars[i + 1]) => {
                            parser.push(chars[i + 1]);
                            i += 2;
                        }
                        '$' => i = expansion(&chars, i, &mut parser, found),
                        other => {
                            parser.push(other);
                            i += 1;
                        }
                    }
                }
                i += 1;
            }
            '\\' => {
                if let Some(&next) = chars.get(i + 1) {
                    parser.push(next);
                }
                i += 2;
            }
            '$' => i = expansion(&chars, i, &mut parser, found),
            '#' if parser.word.is_none() => {
                i = find(&chars, i, '\n');
            }
            ' ' | '\t' => {
                parser.end_word();
                i += 1;
            }
            '\n' | ';' | '&' | '|' | '(' | ')' => {
                parser.end_command();
                i += 1;
            }
            '>' | '<' => {
                // A file descriptor number right before it belongs to the redirection.
                if parser
                    .word
                    .as_deref()
                    .is_some_and(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_digit()))
                {
                    parser.word = None;
                }
                parser.end_word();
                i += 1;
                while i < chars.len() && matches!(chars[i], '>' | '<' | '|') {
                    i += 1;
                }
                if chars.get(i) == Some(&'&') {
                    // `>&2`, `2>&1`: a descriptor, not a file.
                    i += 1;
                    while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '-') {
                        i += 1;
                    }
                } else {
                    parser.skip_next_word = true;
                }
            }
            other => {
                parser.push(other);
                i += 1;
            }
        }
    }
    parser.end_command();
    parser.commands
}

/// The index of the next `wanted` at or after `from` (or the end).
fn find(chars: &[char], from: usize, wanted: char) -> usize {
    (from..chars.len())
        .find(|&j| chars[j] == wanted)
        .unwrap_or(chars.len())
}

/// A `$` expansion at `i`: adds the placeholder to the current word and returns the
/// index after it. Commands inside `$( ... )` are parsed recursively.
fn expansion(chars: &[char], i: usize, parser: &mut Words, found: &mut Vec<Vec<String>>) -> usize {
    match chars.get(i + 1) {
        Some('(') => {
            let end = matching_paren(chars, i + 1);
            let inner: String = chars[i + 2..end.min(chars.len())].iter().collect();
            for command in simple_commands(&inner, found) {
                if command.first().map(String::as_str) == Some("cspctl") {
                    found.push(command);
                }
            }
            parser.push_str(PLACEHOLDER);
            end + 1
        }
        Some('{') => {
            parser.push_str(PLACEHOLDER);
            find(chars, i + 2, '}') + 1
        }
        Some(c) if c.is_ascii_alphabetic() || *c == '_' => {
            let mut j = i + 1;
            while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            parser.push_str(PLACEHOLDER);
            j
        }
        Some(c) if c.is_ascii_digit() || "?#$!@*-".contains(*c) => {
            parser.push_str(PLACEHOLDER);
            i + 2
        }
        _ => {
            parser.push('$');
            i + 1
        }
    }
}

/// The index of the `)` closing the `(` at `open`, skipping quoted text.
fn matching_paren(chars: &[char], open: usize) -> usize {
    let mut depth = 0;
    let mut i = open;
    while i < chars.len() {
        match chars[i] {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            '\'' => i = find(chars, i + 1, '\''),
            '"' => {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            '\\' => i += 1,
            _ => {}
        }
        i += 1;
    }
    chars.len()
}

/// Words and commands as they are recognised.
#[derive(Default)]
struct Words {
    word: Option<String>,
    command: Vec<String>,
    commands: Vec<Vec<String>>,
    skip_next_word: bool,
}

impl Words {
    fn start_word(&mut self) {
        self.word.get_or_insert_with(String::new);
    }

    fn push(&mut self, c: char) {
        self.word.get_or_insert_with(String::new).push(c);
    }

    fn push_str(&mut self, s: &str) {
        self.word.get_or_insert_with(String::new).push_str(s);
    }

    fn end_word(&mut self) {
        if let Some(word) = self.word.take() {
            if self.skip_next_word {
                self.skip_next_word = false;
            } else {
                self.command.push(word);
            }
        }
    }

    fn end_command(&mut self) {
        self.end_word();
        self.skip_next_word = false;
        let mut command = std::mem::take(&mut self.command);
        // Leading keywords and variable assignments (`NO_COLOR=1 cspctl ...`).
        while let Some(first) = command.first() {
            let assignment = first.split_once('=').is_some_and(|(name, _)| {
                !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !name.starts_with(|c: char| c.is_ascii_digit())
            });
            if PREFIXES.contains(&first.as_str()) || assignment {
                command.remove(0);
            } else {
                break;
            }
        }
        if !command.is_empty() {
            self.commands.push(command);
        }
    }
}

/// Checks a command with cspctl's parser; help and version requests count as parsed.
fn check_parses(file: &str, command: &[String]) {
    if let Err(error) = cspctl::cli::Cli::try_parse_from(command) {
        use clap::error::ErrorKind;
        if !matches!(
            error.kind(),
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
        ) {
            panic!(
                "{file}: `{}` is not accepted by cspctl's parser:\n{error}",
                command.join(" ")
            );
        }
    }
}

/// Checks shell text with `bash -n` (syntax only, nothing runs): an unbalanced quote
/// would otherwise only show in CI.
fn check_shell_syntax(file: &str, script: &str) {
    let output = std::process::Command::new("bash")
        .args(["-n", "-c", script])
        .output()
        .expect("bash runs");
    assert!(
        output.status.success(),
        "{file}: shell syntax error:\n{}\n{script}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The value of `--name VALUE` or `--name=VALUE`.
fn option<'a>(command: &'a [String], name: &str) -> Option<&'a str> {
    command.iter().enumerate().find_map(|(i, word)| {
        if word == name {
            command.get(i + 1).map(String::as_str)
        } else {
            word.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('='))
        }
    })
}

fn has_flag(command: &[String], name: &str) -> bool {
    command.iter().any(|word| word == name)
}

fn subcommand<'a>(commands: &'a [Vec<String>], name: &str) -> Vec<&'a Vec<String>> {
    commands
        .iter()
        .filter(|c| c.get(1).map(String::as_str) == Some(name))
        .collect()
}

#[test]
fn the_extractor_finds_commands_in_tricky_shell() {
    let script = r#"
# cspctl plan in a comment is not a command
rc=0
cspctl plan manifests --format markdown --out plan.json \
  --full-plan-url "$RUN_URL/x" --detailed-exitcode > plan.md || rc=$?
if ! cspctl validate 'manifests dir' 2>&1; then echo "no; cspctl apply x | y"; fi
out=$(NO_COLOR=1 cspctl drift manifests --format json 2> /dev/null | jq .)
echo "${{ secrets.X }}" && cspctl apply "${PLAN_DIR}/plan.json" --auto-approve>>log
cargo install --locked --git "$URL" cspctl
"#;
    let commands = cspctl_commands(script);
    let expected: Vec<Vec<&str>> = vec![
        vec![
            "cspctl",
            "plan",
            "manifests",
            "--format",
            "markdown",
            "--out",
            "plan.json",
            "--full-plan-url",
            "X/x",
            "--detailed-exitcode",
        ],
        vec!["cspctl", "validate", "manifests dir"],
        vec!["cspctl", "drift", "manifests", "--format", "json"],
        vec!["cspctl", "apply", "X/plan.json", "--auto-approve"],
    ];
    // Order does not matter (a substitution's command is found while its line is read).
    let mut sorted = commands.clone();
    sorted.sort();
    let mut expected: Vec<Vec<String>> = expected
        .into_iter()
        .map(|c| c.into_iter().map(str::to_owned).collect())
        .collect();
    expected.sort();
    assert_eq!(sorted, expected);
}

// ---------------------------------------------------------------------------------
// YAML helpers.
// ---------------------------------------------------------------------------------

fn load(text: &str, file: &str) -> Yaml<'static> {
    let text: &'static str = Box::leak(text.to_owned().into_boxed_str());
    let mut docs = Yaml::load_from_str(text).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert_eq!(docs.len(), 1, "{file}: one YAML document expected");
    docs.remove(0)
}

fn get<'a>(node: &'a Yaml<'static>, key: &str) -> Option<&'a Yaml<'static>> {
    node.as_mapping_get(key)
}

fn str_of<'a>(node: &'a Yaml<'static>, key: &str) -> Option<&'a str> {
    get(node, key).and_then(|v| v.as_str())
}

fn keys(node: &Yaml<'static>) -> Vec<String> {
    node.as_mapping()
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Every string in a node (a script given as a string or as nested lists of strings).
fn strings(node: &Yaml<'static>) -> Vec<String> {
    match node {
        Yaml::Sequence(items) => items.iter().flat_map(strings).collect(),
        other => other.as_str().map(str::to_owned).into_iter().collect(),
    }
}

// ---------------------------------------------------------------------------------
// GitHub Actions.
// ---------------------------------------------------------------------------------

/// A GitHub workflow, checked for the structure GitHub requires.
struct Workflow {
    file: String,
    root: Yaml<'static>,
    /// Every step, with its job's id.
    steps: Vec<(String, Yaml<'static>)>,
    /// The text of every `run:`.
    runs: Vec<String>,
    commands: Vec<Vec<String>>,
}

impl Workflow {
    fn load(file: &str) -> Workflow {
        let root = load(&read(file), file);
        assert!(root.as_mapping().is_some(), "{file}: a mapping expected");
        for key in ["name", "on", "permissions", "jobs"] {
            assert!(get(&root, key).is_some(), "{file}: no `{key}`");
        }
        let jobs = get(&root, "jobs").expect("jobs");
        assert!(!keys(jobs).is_empty(), "{file}: no jobs");
        let mut steps = Vec::new();
        for job_id in keys(jobs) {
            let job = get(jobs, &job_id).expect("job");
            assert!(
                str_of(job, "runs-on").is_some(),
                "{file}: job `{job_id}` has no runs-on"
            );
            let list = get(job, "steps")
                .and_then(|s| s.as_sequence())
                .unwrap_or_else(|| panic!("{file}: job `{job_id}` has no steps"));
            assert!(!list.is_empty(), "{file}: job `{job_id}` has no steps");
            for step in list {
                let uses = str_of(step, "uses");
                let run = str_of(step, "run");
                assert!(
                    uses.is_some() != run.is_some(),
                    "{file}: job `{job_id}`: a step must have exactly one of `uses` and `run`: {step:?}"
                );
                if let Some(uses) = uses {
                    let (_, version) = uses
                        .split_once('@')
                        .unwrap_or_else(|| panic!("{file}: `{uses}` is not pinned"));
                    let major = version.strip_prefix('v').is_some_and(|v| {
                        v.split('.')
                            .next()
                            .is_some_and(|m| !m.is_empty() && m.chars().all(|c| c.is_ascii_digit()))
                    });
                    let sha = version.len() == 40 && version.chars().all(|c| c.is_ascii_hexdigit());
                    assert!(
                        major || sha,
                        "{file}: `{uses}`: pin actions to a major version or a commit"
                    );
                }
                steps.push((job_id.clone(), step.clone()));
            }
        }
        let runs: Vec<String> = steps
            .iter()
            .filter_map(|(_, step)| str_of(step, "run").map(str::to_owned))
            .collect();
        for run in &runs {
            check_shell_syntax(file, run);
            // Expressions in shell text invite script injection and print secrets into
            // the script; values reach run steps through `env` only.
            assert!(
                !run.contains("${{"),
                "{file}: a run step uses `${{{{ }}}}`; pass the value through env:\n{run}"
            );
            for secret in ["CSPCTL_PC_CLIENT_SECRET", "CSPCTL_PC_REFRESH_TOKEN"] {
                assert!(
                    !run.contains(secret),
                    "{file}: a run step mentions {secret}:\n{run}"
                );
            }
        }
        let commands: Vec<Vec<String>> = runs.iter().flat_map(|r| cspctl_commands(r)).collect();
        Workflow {
            file: file.to_owned(),
            root,
            steps,
            runs,
            commands,
        }
    }

    fn on(&self) -> &Yaml<'static> {
        get(&self.root, "on").expect("on")
    }

    fn run_text(&self) -> String {
        self.runs.join("\n")
    }

    /// Steps using an action (`owner/name[/path]`), any version.
    fn uses(&self, action: &str) -> Vec<&Yaml<'static>> {
        self.steps
            .iter()
            .map(|(_, step)| step)
            .filter(|step| {
                str_of(step, "uses").is_some_and(|u| u.split('@').next() == Some(action))
            })
            .collect()
    }

    fn check_commands(&self, at_least: usize) {
        assert!(
            self.commands.len() >= at_least,
            "{}: found only {} cspctl command(s): {:?}",
            self.file,
            self.commands.len(),
            self.commands
        );
        for command in &self.commands {
            check_parses(&self.file, command);
        }
    }
}

fn with<'a>(step: &'a Yaml<'static>, key: &str) -> Option<&'a str> {
    get(step, "with").and_then(|w| str_of(w, key))
}

#[test]
fn the_plan_workflow_comments_the_plan_and_keeps_the_plan_file() {
    let w = Workflow::load("github/cspctl-plan.yml");
    w.check_commands(1);

    let pull_request = get(w.on(), "pull_request").expect("on: pull_request");
    let paths = strings(get(pull_request, "paths").expect("pull_request.paths"));
    assert!(paths.iter().any(|p| p == "manifests/**"), "{paths:?}");

    let permissions = get(&w.root, "permissions").expect("permissions");
    assert_eq!(str_of(permissions, "contents"), Some("read"));
    assert_eq!(str_of(permissions, "pull-requests"), Some("write"));
    assert_eq!(keys(permissions).len(), 2, "minimal permissions");

    // The cspctl Action validates, then plans: one comment, plan.json uploaded as
    // cspctl-plan (what cspctl-apply.yml downloads).
    let action = w.uses(ACTION);
    assert_eq!(
        action
            .iter()
            .map(|step| with(step, "command"))
            .collect::<Vec<_>>(),
        [Some("validate"), Some("plan")]
    );
    let plan = action[1];
    assert_eq!(with(plan, "plan-file"), Some("plan.json"));
    assert_eq!(with(plan, "artifact-name"), Some("cspctl-plan"));
    assert_eq!(with(plan, "manifests"), Some("manifests"));
    // A pull request's plan reads what its changed files touch: --changed-since
    // with the merge base, which needs the history checked out.
    assert_eq!(with(plan, "args"), Some("--changed-since"));
    assert!(
        read("github/cspctl-plan.yml").contains("fetch-depth: 0"),
        "the checkout fetches the history --changed-since needs"
    );
    let plans = subcommand(&w.commands, "plan");
    assert!(
        plans
            .iter()
            .any(|c| option(c, "--format") == Some("github")),
        "a plan with annotations"
    );

    // The Action's comment step: one comment, found by its marker, patched.
    let comment =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("action/comment.sh"))
            .expect("action/comment.sh");
    assert!(comment.contains("marker=") && comment.contains("PATCH"));
}

/// The cspctl Action, as the examples use it.
const ACTION: &str = "cspctl/cspctl";

#[test]
fn every_github_workflow_installs_the_released_cspctl_with_the_action() {
    for file in [
        "github/cspctl-plan.yml",
        "github/cspctl-apply.yml",
        "github/cspctl-drift.yml",
    ] {
        let w = Workflow::load(file);
        assert!(!w.uses(ACTION).is_empty(), "{file} uses the Action");
        assert!(
            !read(file).contains("cargo install"),
            "{file} builds cspctl instead of installing a release"
        );
    }
    let text = read("gitlab/.gitlab-ci.yml");
    assert!(
        !text.contains("cargo install"),
        "GitLab installs the release"
    );
    assert!(text.contains("sha256sum --check"), "and checks its SHA-256");
}

#[test]
fn the_apply_workflow_applies_the_reviewed_plan_file_one_at_a_time() {
    let w = Workflow::load("github/cspctl-apply.yml");
    w.check_commands(2);

    let push = get(w.on(), "push").expect("on: push");
    let branches = strings(get(push, "branches").expect("push.branches"));
    assert_eq!(branches, ["main"]);

    let concurrency = get(&w.root, "concurrency").expect("concurrency");
    assert_eq!(str_of(concurrency, "group"), Some("cspctl-apply"));
    assert_eq!(
        get(concurrency, "cancel-in-progress").and_then(|v| v.as_bool()),
        Some(false)
    );

    let applies = subcommand(&w.commands, "apply");
    assert!(!applies.is_empty(), "an apply");
    for apply in &applies {
        assert!(has_flag(apply, "--auto-approve"), "{apply:?}");
        let inputs: Vec<&String> = apply[2..]
            .iter()
            .take_while(|w| !w.starts_with("--"))
            .collect();
        assert!(
            inputs.len() == 1 && inputs[0].ends_with(".json"),
            "apply of one plan file, not of manifests: {apply:?}"
        );
    }
    assert!(
        subcommand(&w.commands, "plan").is_empty(),
        "apply must not make a new, unreviewed plan"
    );

    let text = w.run_text();
    assert!(text.contains("gh run download") && text.contains("cspctl-plan"));
    assert!(text.contains("/pulls"), "finds the merged pull request");
    for code in ["3)", "130)"] {
        assert!(text.contains(code), "exit code {code} handled");
    }

    // The state, journal and lock are remote (Azure Blob Storage, OIDC login): no
    // runner-local journal cache, no storage secret.
    assert!(
        !w.uses("azure/login").is_empty(),
        "logs in to Azure with OIDC"
    );
    let permissions = get(&w.root, "permissions").expect("permissions");
    assert_eq!(str_of(permissions, "id-token"), Some("write"));
    let env = get(&w.root, "env").expect("env");
    assert!(
        str_of(env, "CSPCTL_STATE_URL").is_some_and(|url| url.starts_with("az://")),
        "remote state in Azure Blob Storage"
    );
    assert!(
        w.uses("actions/cache/restore").is_empty(),
        "no local journal"
    );
}

#[test]
fn the_drift_workflow_runs_nightly_and_opens_an_issue() {
    let w = Workflow::load("github/cspctl-drift.yml");
    w.check_commands(3);

    let schedule = get(w.on(), "schedule")
        .and_then(|s| s.as_sequence())
        .expect("on: schedule");
    let cron = str_of(&schedule[0], "cron").expect("cron");
    assert_eq!(cron.split_whitespace().count(), 5, "{cron}");
    assert!(get(w.on(), "workflow_dispatch").is_some());

    let drifts = subcommand(&w.commands, "drift");
    assert!(
        drifts
            .iter()
            .any(|c| option(c, "--format") == Some("markdown")),
        "a markdown drift report"
    );
    let text = w.run_text();
    for needle in [
        "gh issue create",
        "gh issue comment",
        "--body-file",
        "cspctl-drift",
    ] {
        assert!(text.contains(needle), "{needle}");
    }
    let permissions = get(&w.root, "permissions").expect("permissions");
    assert_eq!(str_of(permissions, "issues"), Some("write"));
}

#[test]
fn every_github_workflow_is_valid() {
    let files: Vec<String> = all_files()
        .into_iter()
        .filter(|f| f.starts_with("github/"))
        .collect();
    assert_eq!(files.len(), 3, "{files:?}");
    for file in files {
        assert!(file.ends_with(".yml"), "{file}");
        Workflow::load(&file).check_commands(1);
    }
}

// ---------------------------------------------------------------------------------
// GitLab CI.
// ---------------------------------------------------------------------------------

#[test]
fn the_gitlab_pipeline_plans_applies_the_saved_plan_and_checks_drift() {
    let file = "gitlab/.gitlab-ci.yml";
    let root = load(&read(file), file);
    const RESERVED: &[&str] = &[
        "default",
        "include",
        "stages",
        "variables",
        "workflow",
        "image",
        "services",
        "cache",
        "before_script",
        "after_script",
    ];
    let jobs: Vec<String> = keys(&root)
        .into_iter()
        .filter(|k| !RESERVED.contains(&k.as_str()))
        .collect();
    let stages = strings(get(&root, "stages").expect("stages"));
    let mut commands = Vec::new();
    let mut job_commands = std::collections::BTreeMap::new();
    for name in &jobs {
        let job = get(&root, name).expect("job");
        let hidden = name.starts_with('.');
        if !hidden {
            let script = get(job, "script").unwrap_or_else(|| panic!("{file}: {name}: no script"));
            assert!(!strings(script).is_empty(), "{file}: {name}: empty script");
            let stage = str_of(job, "stage").unwrap_or("test");
            assert!(stages.iter().any(|s| s == stage), "{file}: {name}: {stage}");
        }
        let mut own = Vec::new();
        for key in ["before_script", "script", "after_script"] {
            for text in get(job, key).map(strings).unwrap_or_default() {
                check_shell_syntax(file, &text);
                own.extend(cspctl_commands(&text));
            }
        }
        commands.extend(own.iter().cloned());
        job_commands.insert(name.clone(), own);
    }
    for expected in ["plan:mr", "plan:main", "apply", "drift"] {
        assert!(
            jobs.iter().any(|j| j == expected),
            "{file}: no job {expected}"
        );
    }
    assert!(commands.len() >= 6, "{file}: found only {commands:?}");
    for command in &commands {
        check_parses(file, command);
    }

    let markdown_plan = |job: &str| {
        job_commands[job].iter().any(|c| {
            c[1] == "plan"
                && option(c, "--format") == Some("markdown")
                && option(c, "--out") == Some("plan.json")
        })
    };
    assert!(markdown_plan("plan:mr"), "plan:mr");
    assert!(markdown_plan("plan:main"), "plan:main");
    assert!(
        job_commands["apply"].iter().any(|c| c[1] == "apply"
            && c.get(2).map(String::as_str) == Some("plan.json")
            && has_flag(c, "--auto-approve")),
        "apply applies the saved plan file"
    );
    assert!(job_commands["apply"].iter().all(|c| c[1] != "plan"));
    assert!(
        job_commands["drift"]
            .iter()
            .any(|c| c[1] == "drift" && option(c, "--format") == Some("markdown"))
    );

    let apply = get(&root, "apply").expect("apply");
    assert_eq!(str_of(apply, "resource_group"), Some("cspctl-apply"));
    let rules = get(apply, "rules")
        .and_then(|r| r.as_sequence())
        .expect("apply: rules");
    assert!(
        rules.iter().all(|r| str_of(r, "when") == Some("manual")),
        "apply runs only when someone plays it"
    );
    assert_eq!(strings(get(apply, "needs").expect("needs")), ["plan:main"]);
    // The state, journal and lock are remote (Azure Blob Storage, OIDC): no
    // runner-local journal, no storage secret.
    let variables = get(apply, "variables").expect("apply: variables");
    assert!(
        str_of(variables, "CSPCTL_STATE_URL").is_some_and(|url| url.starts_with("az://")),
        "apply keeps its state in Azure Blob Storage"
    );
    assert!(
        get(apply, "id_tokens").is_some(),
        "apply logs in with GitLab's OIDC token"
    );
    assert!(
        !read(file).contains(".cspctl/"),
        "no runner-local journal is cached or kept"
    );

    let drift = get(&root, "drift").expect("drift");
    let rules: Vec<&str> = get(drift, "rules")
        .and_then(|r| r.as_sequence())
        .expect("drift: rules")
        .iter()
        .filter_map(|r| str_of(r, "if"))
        .collect();
    assert!(rules.iter().any(|r| r.contains("schedule")), "{rules:?}");

    let text = read(file);
    assert!(text.contains("<!-- cspctl:plan -->"));
    assert!(text.contains("/merge_requests/$CI_MERGE_REQUEST_IID/notes"));
    assert!(text.contains("releases/download/v"), "the released binary");
    assert!(text.contains("/issues"));
    for secret in ["CSPCTL_PC_CLIENT_SECRET", "CSPCTL_PC_REFRESH_TOKEN"] {
        let scripts: String = jobs
            .iter()
            .flat_map(|j| {
                ["before_script", "script", "after_script"]
                    .into_iter()
                    .filter_map(|k| get(get(&root, j).expect("job"), k))
                    .flat_map(strings)
                    .collect::<Vec<_>>()
            })
            .collect();
        assert!(
            !scripts.contains(secret),
            "{file}: a script mentions {secret}"
        );
    }
}

// ---------------------------------------------------------------------------------
// The directory as a whole.
// ---------------------------------------------------------------------------------

#[test]
fn the_readme_describes_every_pipeline() {
    let files = all_files();
    assert_eq!(
        files,
        [
            "README.md",
            "github/cspctl-apply.yml",
            "github/cspctl-drift.yml",
            "github/cspctl-plan.yml",
            "gitlab/.gitlab-ci.yml",
        ],
        "a new file under examples/ci needs checks here"
    );
    let readme = read("README.md");
    for file in &files[1..] {
        assert!(readme.contains(&format!("]({file})")), "README: {file}");
    }
    for variable in [
        "CSPCTL_VERSION",
        "CSPCTL_PC_TENANT_ID",
        "CSPCTL_PC_CLIENT_ID",
        "CSPCTL_PC_CLIENT_SECRET",
        "CSPCTL_PC_REFRESH_TOKEN",
        "CSPCTL_GITLAB_TOKEN",
    ] {
        assert!(readme.contains(variable), "README: {variable}");
    }
    // Every cspctl variable a pipeline reads is documented.
    for file in &files[1..] {
        let text = read(file);
        for (i, _) in text.match_indices("CSPCTL_") {
            let name: String = text[i..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            assert!(
                readme.contains(&name)
                    || ["CSPCTL_BACKEND", "CSPCTL_PC_JOURNAL"].contains(&name.as_str()),
                "{file} uses {name}, which examples/ci/README.md does not describe"
            );
        }
    }
}
