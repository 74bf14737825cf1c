//! Settings and where they come from: one table ([`SETTINGS`]) names each setting
//! once, with its key in `cspctl.toml`, its flag and its environment variable, and
//! the command line is completed from it before the commands see it.
//!
//! Precedence, highest first: a flag; its environment variable (`CSPCTL_*`); for
//! `apply PLANFILE`, the backend the saved plan recorded (a flag or variable that
//! contradicts it is refused, naming it); `cspctl.toml`; the built-in default.
//!
//! How: the command line is parsed once; every setting that no flag and no
//! variable gave, and that a layer below has, is appended to the command line as
//! its flag (`--state=...`), and the result parsed again. So the commands keep
//! reading their clap arguments, a value from the file is checked by the same
//! parser as a flag, and a setting added as a flag is configurable as soon as it
//! is in the table. `cspctl config` prints the resolution.
//!
//! `cspctl.toml` is looked for in the manifests' folder (the first path given,
//! else the working directory) and then upward; `CSPCTL_CONFIG` names one instead.
//! Paths in it are relative to its folder. Secrets are never read from it (it is
//! committed): credentials come from the environment or a `--credentials` file.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::parser::ValueSource;
use serde_json::json;

use crate::plan::{BackendSettings, Plan};

/// The configuration file's name.
pub const FILE_NAME: &str = "cspctl.toml";

/// How a setting's value is written on the command line and in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `--flag=VALUE`; a string (or a number) in the file.
    Value,
    /// A path: `--flag=PATH`; relative paths in the file are relative to it.
    Path,
    /// `--flag` or nothing; `true`/`false` in the file and the variable.
    Switch,
    /// `--flag=A --flag=B`; an array of strings (or one string) in the file.
    List,
    /// The manifests' folders: the command's paths when none are given.
    Manifests,
}

/// Which saved-plan field records a setting (`apply PLANFILE` opens the same).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Recorded {
    Kind,
    State,
    StateUrl,
    Endpoint,
    Authority,
    Sandbox,
}

/// One setting: its key in `cspctl.toml`, its flag and its variable.
#[derive(Debug)]
pub struct Setting {
    /// The key in `cspctl.toml` (the flag's name, when there is a flag).
    pub key: &'static str,
    /// The long flag without `--`; empty for an environment-only setting.
    pub flag: &'static str,
    /// The environment variable; empty for none.
    pub env: &'static str,
    pub kind: Kind,
    /// The default as `cspctl config` shows it.
    pub default: &'static str,
    /// May be set in `cspctl.toml` (credentials may not: the file is committed).
    pub in_file: bool,
    /// Never shown: `cspctl config` prints that it is set, not its value.
    pub secret: bool,
    /// Recorded in a saved plan: `apply PLANFILE` takes it from the plan.
    recorded: Option<Recorded>,
    /// A part of the tenant to plan (`apply PLANFILE` has the plan's scope).
    pub scope: bool,
    /// The only backend that reads it: a value from a variable or the file is
    /// passed on only when that is the backend in force, since a flag for the
    /// other one is refused (`CSPCTL_PC_ENDPOINT` exported for a rehearsal must
    /// not trip up a plan on the local state).
    pub only_for: Option<&'static str>,
    /// What it is, for `--help` and `cspctl config`.
    pub about: &'static str,
}

const fn setting(key: &'static str, env: &'static str, kind: Kind) -> Setting {
    Setting {
        key,
        flag: key,
        env,
        kind,
        default: "",
        in_file: true,
        secret: false,
        recorded: None,
        scope: false,
        only_for: None,
        about: "",
    }
}

/// Every setting, in the order `cspctl config` prints them.
pub const SETTINGS: &[Setting] = &[
    Setting {
        flag: "",
        default: ". (the working directory)",
        about: "manifest folders when a command is given none",
        ..setting("manifests", "", Kind::Manifests)
    },
    Setting {
        default: "local",
        recorded: Some(Recorded::Kind),
        about: "where the live state is: local or partner-center",
        ..setting("backend", "CSPCTL_BACKEND", Kind::Value)
    },
    Setting {
        default: ".cspctl/state.json",
        recorded: Some(Recorded::State),
        about: "the local state file",
        only_for: Some("local"),
        ..setting("state", "CSPCTL_STATE", Kind::Path)
    },
    Setting {
        default: "none (the state stays on this machine)",
        recorded: Some(Recorded::StateUrl),
        about: "remote state: az://, s3://, gs:// or file:// URL",
        ..setting("state-url", "CSPCTL_STATE_URL", Kind::Value)
    },
    Setting {
        default: "2m",
        about: "the remote state lock's lease",
        ..setting("lock-ttl", "CSPCTL_LOCK_TTL", Kind::Value)
    },
    Setting {
        default: "https://api.partnercenter.microsoft.com",
        recorded: Some(Recorded::Endpoint),
        about: "Partner Center's API base URL",
        only_for: Some("partner-center"),
        ..setting("endpoint", "CSPCTL_PC_ENDPOINT", Kind::Value)
    },
    Setting {
        default: "https://login.microsoftonline.com",
        recorded: Some(Recorded::Authority),
        about: "Entra ID authority for tokens",
        only_for: Some("partner-center"),
        ..setting("authority", "CSPCTL_PC_AUTHORITY", Kind::Value)
    },
    Setting {
        default: "false",
        recorded: Some(Recorded::Sandbox),
        about: "Partner Center integration sandbox",
        only_for: Some("partner-center"),
        ..setting("sandbox", "CSPCTL_SANDBOX", Kind::Switch)
    },
    Setting {
        default: "none (the CSPCTL_PC_* variables)",
        about: "a JSON credentials file only its owner can read",
        only_for: Some("partner-center"),
        ..setting("credentials", "CSPCTL_PC_CREDENTIALS", Kind::Path)
    },
    Setting {
        default: ".cspctl/partner-center-<tenant>.journal",
        about: "the purchase journal",
        only_for: Some("partner-center"),
        ..setting("journal", "CSPCTL_PC_JOURNAL", Kind::Path)
    },
    Setting {
        default: "10m (apply: 1h)",
        about: "how long a run may take against Partner Center",
        ..setting("timeout", "CSPCTL_TIMEOUT", Kind::Value)
    },
    Setting {
        default: "600",
        about: "seconds to wait for a purchase to be provisioned",
        ..setting(
            "provisioning-timeout",
            "CSPCTL_PROVISIONING_TIMEOUT",
            Kind::Value,
        )
    },
    Setting {
        default: "33554432",
        about: "the largest response body read, in bytes",
        ..setting(
            "max-response-bytes",
            "CSPCTL_PC_MAX_RESPONSE_BYTES",
            Kind::Value,
        )
    },
    Setting {
        default: "7d",
        about: "the oldest live-state cache a plan uses before reading again",
        ..setting("max-cache-age", "CSPCTL_MAX_CACHE_AGE", Kind::Value)
    },
    Setting {
        default: "auto",
        about: "how the live state is read: auto (incremental) or full",
        ..setting("refresh", "CSPCTL_REFRESH", Kind::Value)
    },
    Setting {
        default: "none (every customer)",
        scope: true,
        about: "only these customers (manifest names)",
        ..setting("customer", "", Kind::List)
    },
    Setting {
        default: "none",
        scope: true,
        about: "only what these objects touch (Kind/name)",
        ..setting("target", "", Kind::List)
    },
    Setting {
        default: "none",
        scope: true,
        about: "only what manifests changed since this git revision declare",
        ..setting("changed-since", "", Kind::Value)
    },
    Setting {
        default: "30",
        about: "seconds apply waits for another apply's lock",
        ..setting("lock-timeout", "CSPCTL_LOCK_TIMEOUT", Kind::Value)
    },
    Setting {
        default: "10 (Partner Center), 64 (local)",
        about: "apply's actions in flight at once",
        ..setting("parallelism", "CSPCTL_PARALLELISM", Kind::Value)
    },
    Setting {
        default: "50 (validate --format github: 10)",
        about: "problems printed (0: all)",
        ..setting("max-problems", "CSPCTL_MAX_PROBLEMS", Kind::Value)
    },
    Setting {
        default: "auto (NO_COLOR, TERM=dumb and pipes turn it off)",
        about: "colour: auto, always or never",
        ..setting("color", "CSPCTL_COLOR", Kind::Value)
    },
    Setting {
        flag: "",
        in_file: false,
        default: "none",
        about: "Partner Center credentials: the partner's Entra tenant",
        ..setting("pc-tenant-id", "CSPCTL_PC_TENANT_ID", Kind::Value)
    },
    Setting {
        flag: "",
        in_file: false,
        default: "none",
        about: "Partner Center credentials: the Entra app's client id",
        ..setting("pc-client-id", "CSPCTL_PC_CLIENT_ID", Kind::Value)
    },
    Setting {
        flag: "",
        in_file: false,
        secret: true,
        default: "none",
        about: "Partner Center credentials: the Entra app's secret",
        ..setting("pc-client-secret", "CSPCTL_PC_CLIENT_SECRET", Kind::Value)
    },
    Setting {
        flag: "",
        in_file: false,
        secret: true,
        default: "none",
        about: "Partner Center credentials: an app+user refresh token",
        ..setting("pc-refresh-token", "CSPCTL_PC_REFRESH_TOKEN", Kind::Value)
    },
];

/// Variables read besides the settings, for `--help` and the manual pages.
pub const OTHER_VARIABLES: &[(&str, &str)] = &[
    (
        "CSPCTL_CONFIG",
        "the configuration file to read instead of looking for cspctl.toml",
    ),
    (
        "NO_COLOR",
        "set and not empty: no colour unless --color always",
    ),
    (
        "CSPCTL_NOW",
        "the current time (RFC 3339 UTC), for reproducible states",
    ),
];

/// Where a setting's value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env(&'static str),
    /// `apply PLANFILE`: the plan's recorded backend.
    Plan(PathBuf),
    File {
        path: PathBuf,
        line: usize,
    },
    Default,
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::Flag => "command line".to_owned(),
            Source::Env(name) => format!("env {name}"),
            Source::Plan(path) => format!("plan {}", path.display()),
            Source::File { path, line } => format!("{}:{line}", path.display()),
            Source::Default => "default".to_owned(),
        }
    }
}

/// A resolved setting, for `cspctl config`.
#[derive(Clone, Debug)]
pub struct Row {
    pub setting: &'static Setting,
    /// What it is set to (masked for secrets); `None` for the default.
    pub value: Option<String>,
    pub source: Source,
}

/// The command line as completed from the layers, and how each setting resolved.
pub struct Resolved {
    pub matches: clap::ArgMatches,
    pub rows: Vec<Row>,
    /// The configuration file read, if any.
    pub file: Option<PathBuf>,
    /// Where the file was looked for from.
    pub searched_from: PathBuf,
}

/// Why the command line was not resolved.
pub enum Failure {
    /// clap's answer (help, version, a usage error), printed by the caller.
    Usage(clap::Error),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure::Other(error)
    }
}

/// A value from `cspctl.toml`: its text(s) for the command line and its position.
#[derive(Clone, Debug)]
struct FileValue {
    values: Vec<String>,
    line: usize,
}

/// A parsed `cspctl.toml`.
#[derive(Debug, Default)]
struct ConfigFile {
    path: PathBuf,
    values: BTreeMap<&'static str, FileValue>,
}

/// Parses `args` with `command`, completes them from the layers (see the module
/// comment) and parses again.
pub fn resolve(command: clap::Command, args: Vec<OsString>) -> Result<Resolved, Failure> {
    let cwd = std::env::current_dir().context("reading the working directory")?;
    let named = std::env::var_os("CSPCTL_CONFIG").filter(|v| !v.is_empty());
    resolve_in(command, args, &cwd, named.map(PathBuf::from))
}

/// [`resolve`] in `cwd`, with the configuration file `named` (`CSPCTL_CONFIG`)
/// instead of the one found upward.
fn resolve_in(
    mut command: clap::Command,
    args: Vec<OsString>,
    cwd: &Path,
    named: Option<PathBuf>,
) -> Result<Resolved, Failure> {
    command.build();
    let first = command
        .clone()
        .try_get_matches_from(&args)
        .map_err(Failure::Usage)?;
    let (leaf, leaf_matches, path) = leaf(&command, &first);
    let paths = positional(leaf, leaf_matches);
    let searched_from = search_start(cwd, &paths);
    // Only a command that reads manifests or a setting reads the file: a broken
    // cspctl.toml must not stop `init --force`, `completions` or `show`.
    let reads_settings = has_paths(leaf)
        || SETTINGS
            .iter()
            .any(|s| s.key != "color" && find_arg(leaf, s).is_some());
    let file = match named.filter(|_| reads_settings) {
        Some(path) => Some(read_file(&cwd.join(path), cwd, &command)?),
        None if !reads_settings => None,
        None => match find_upward(&searched_from) {
            Some(path) => Some(read_file(&path, cwd, &command)?),
            None => None,
        },
    };
    let file = file.unwrap_or_default();
    let saved = (path == ["apply"]).then(|| saved_plan(&paths)).flatten();
    // The simulator's own flags share names with the settings (`sim serve --state`
    // is the simulator's file, not the local state): it takes none from the layers.
    let layered = path.first().map(String::as_str) != Some("sim");

    let mut rows = Vec::new();
    let mut injected: Vec<OsString> = Vec::new();
    // The backend in force, once its row is resolved (it comes first).
    let mut backend = "local".to_owned();
    for setting in SETTINGS {
        let arg = find_arg(leaf, setting);
        let given = arg.and_then(|arg| given_on_command_line(leaf_matches, arg));
        // A variable clap does not read itself counts as given too.
        let env = env_value(setting);
        let from_file = file.values.get(setting.key);
        let file_source = || Source::File {
            path: file.path.clone(),
            line: from_file.map_or(0, |v| v.line),
        };
        let (value, source, inject): (Option<Vec<String>>, Source, bool) = if let (
            Some(recorded),
            Some((plan_path, plan_settings)),
        ) =
            (setting.recorded, &saved)
        {
            let wanted = recorded_value(plan_settings, recorded);
            check_against_plan(
                setting,
                recorded,
                plan_path,
                plan_settings,
                &wanted,
                &given,
                &env,
            )?;
            match (&given, &wanted) {
                (Some((values, source)), _) => (Some(values.clone()), source.clone(), false),
                (None, Some(wanted)) => (
                    Some(vec![wanted.clone()]),
                    Source::Plan(plan_path.clone()),
                    true,
                ),
                (None, None) => (None, Source::Plan(plan_path.clone()), false),
            }
        } else if let Some((values, source)) = given {
            (Some(values), source, false)
        } else if let Some(value) = env {
            (Some(value), Source::Env(setting.env), true)
        } else if let Some(value) = from_file
            .filter(|_| !(saved.is_some() && (setting.scope || setting.recorded.is_some())))
            .filter(|_| setting.kind != Kind::Manifests || paths.is_empty())
        {
            (Some(value.values.clone()), file_source(), true)
        } else if setting.kind == Kind::Manifests && !paths.is_empty() {
            let given = paths.iter().map(|p| p.display().to_string()).collect();
            (Some(given), Source::Flag, false)
        } else {
            (None, Source::Default, false)
        };
        if setting.key == "backend"
            && let Some(kind) = value.as_ref().and_then(|v| v.first())
        {
            backend = kind.clone();
        }
        let inject = inject && layered && setting.only_for.is_none_or(|only| only == backend);
        if inject && let Some(arg) = arg {
            injected.extend(command_line(
                setting,
                arg,
                value.as_deref().unwrap_or_default(),
            ));
        } else if inject && setting.kind == Kind::Manifests && has_paths(leaf) {
            injected.extend(value.iter().flatten().map(OsString::from));
        }
        rows.push(Row {
            setting,
            value: value.map(|values| shown(setting, &values)),
            source,
        });
    }

    let matches = if injected.is_empty() {
        first
    } else {
        let mut args = args;
        let manifests: Vec<OsString> = injected
            .iter()
            .filter(|a| !a.to_string_lossy().starts_with("--"))
            .cloned()
            .collect();
        let flags: Vec<OsString> = injected
            .into_iter()
            .filter(|a| a.to_string_lossy().starts_with("--"))
            .collect();
        // Before a `--` that ends the options, or at the end; the paths after it.
        let at = args.iter().position(|a| a == "--").unwrap_or(args.len());
        let has_separator = at < args.len();
        args.splice(at..at, flags);
        if !manifests.is_empty() {
            if !has_separator {
                args.push("--".into());
            }
            args.extend(manifests);
        }
        command.try_get_matches_from(&args).map_err(|error| {
            Failure::Other(anyhow::anyhow!(
                "the settings from {} do not fit this command: {}",
                if file.path.as_os_str().is_empty() {
                    "the environment or the saved plan".to_owned()
                } else {
                    file.path.display().to_string()
                },
                first_line(&error.render().to_string())
            ))
        })?
    };
    Ok(Resolved {
        matches,
        rows,
        file: (!file.path.as_os_str().is_empty()).then_some(file.path),
        searched_from,
    })
}

/// The subcommand that runs (the deepest), its matches and its name path.
fn leaf<'a>(
    command: &'a clap::Command,
    matches: &'a clap::ArgMatches,
) -> (&'a clap::Command, &'a clap::ArgMatches, Vec<String>) {
    let (mut command, mut matches, mut path) = (command, matches, Vec::new());
    while let Some((name, sub)) = matches.subcommand() {
        let Some(found) = command.find_subcommand(name) else {
            break;
        };
        path.push(name.to_owned());
        command = found;
        matches = sub;
    }
    (command, matches, path)
}

/// The command's manifest (or plan file) arguments.
const POSITIONALS: [&str; 2] = ["paths", "inputs"];

fn has_paths(command: &clap::Command) -> bool {
    command
        .get_arguments()
        .any(|arg| POSITIONALS.contains(&arg.get_id().as_str()) && arg.is_positional())
}

fn positional(command: &clap::Command, matches: &clap::ArgMatches) -> Vec<PathBuf> {
    if !has_paths(command) {
        return Vec::new();
    }
    POSITIONALS
        .iter()
        .filter_map(|id| matches.try_get_raw(id).ok().flatten())
        .flatten()
        .map(PathBuf::from)
        .collect()
}

/// The folder `cspctl.toml` is looked for from: the first path's (its parent for
/// a file), else the working directory.
fn search_start(cwd: &Path, paths: &[PathBuf]) -> PathBuf {
    let start = match paths.first() {
        Some(path) if path.is_dir() => path.clone(),
        Some(path) => path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
        None => PathBuf::from("."),
    };
    let absolute = cwd.join(start);
    std::fs::canonicalize(&absolute).unwrap_or(absolute)
}

fn find_upward(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(FILE_NAME))
        .find(|candidate| candidate.is_file())
}

/// `path` as a reader knows it: relative to the working directory (`../x` above
/// it), absolute only when they share no folder but the root.
fn relative_to(path: &Path, cwd: &Path) -> PathBuf {
    use std::path::Component;
    let cwd = std::fs::canonicalize(cwd).unwrap_or_else(|_| cwd.to_path_buf());
    let (from, to): (Vec<Component>, Vec<Component>) =
        (cwd.components().collect(), path.components().collect());
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    if common <= 1 {
        return path.to_path_buf();
    }
    let mut relative: PathBuf = from[common..]
        .iter()
        .map(|_| Component::ParentDir)
        .collect();
    relative.extend(&to[common..]);
    if relative.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        relative
    }
}

/// The argument a setting's flag names in `command`, if it has one.
fn find_arg<'a>(command: &'a clap::Command, setting: &Setting) -> Option<&'a clap::Arg> {
    if setting.flag.is_empty() {
        return None;
    }
    command
        .get_arguments()
        .find(|arg| arg.get_long() == Some(setting.flag))
}

/// The values a flag or a variable clap reads gave, with where from.
fn given_on_command_line(
    matches: &clap::ArgMatches,
    arg: &clap::Arg,
) -> Option<(Vec<String>, Source)> {
    let id = arg.get_id().as_str();
    let source = match matches.value_source(id)? {
        ValueSource::CommandLine => Source::Flag,
        ValueSource::EnvVariable => {
            let name = arg.get_env()?.to_string_lossy().into_owned();
            Source::Env(
                SETTINGS
                    .iter()
                    .find(|s| s.env == name)
                    .map_or("the environment", |s| s.env),
            )
        }
        _ => return None,
    };
    let values: Vec<String> = match matches.try_get_raw(id) {
        Ok(Some(raw)) => raw.map(|v| v.to_string_lossy().into_owned()).collect(),
        // A switch has no raw value.
        _ => vec!["true".to_owned()],
    };
    let values = if values.is_empty() {
        vec!["true".to_owned()]
    } else {
        values
    };
    Some((values, source))
}

/// The setting's variable when set and not empty, as command-line values.
fn env_value(setting: &Setting) -> Option<Vec<String>> {
    if setting.env.is_empty() {
        return None;
    }
    let value = std::env::var(setting.env).ok().filter(|v| !v.is_empty())?;
    Some(vec![value])
}

/// `--flag=VALUE` words for `values`.
fn command_line(setting: &Setting, arg: &clap::Arg, values: &[String]) -> Vec<OsString> {
    let flag = arg.get_long().unwrap_or(setting.flag);
    match setting.kind {
        Kind::Switch => {
            if values.iter().any(|v| is_true(v)) {
                vec![format!("--{flag}").into()]
            } else {
                Vec::new()
            }
        }
        _ => values
            .iter()
            .map(|value| OsString::from(format!("--{flag}={value}")))
            .collect(),
    }
}

fn is_true(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

/// A value as `cspctl config` shows it: secrets masked, and a URL's query string
/// and user information (where a token would be) hidden.
fn shown(setting: &Setting, values: &[String]) -> String {
    if setting.secret {
        return "******** (set)".to_owned();
    }
    values
        .iter()
        .map(|value| mask_url(value))
        .collect::<Vec<_>>()
        .join(", ")
}

fn mask_url(value: &str) -> String {
    let Some((scheme, rest)) = value.split_once("://") else {
        return value.to_owned();
    };
    let (rest, query) = match rest.split_once('?') {
        Some((before, _)) => (before, "?********"),
        None => (rest, ""),
    };
    let rest = match rest.split_once('@') {
        Some((_, host)) if !host.contains('/') || rest.find('@') < rest.find('/') => {
            format!("********@{host}")
        }
        _ => rest.to_owned(),
    };
    format!("{scheme}://{rest}{query}")
}

fn first_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_owned()
}

// ---------------------------------------------------------------------------------
// The file.
// ---------------------------------------------------------------------------------

/// 1-based line and column of byte `offset` in `text`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.chars().count(), |nl| {
        before[nl + 1..].chars().count()
    }) + 1;
    (line, column)
}

/// Reads and checks `cspctl.toml`: known keys, values of the right type that the
/// flag's own parser accepts. A problem names the file, line and column.
fn read_file(path: &Path, cwd: &Path, command: &clap::Command) -> anyhow::Result<ConfigFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the configuration file {}", path.display()))?;
    let shown_path = relative_to(path, cwd);
    let at = |offset: usize| {
        let (line, column) = position(&text, offset);
        format!("{}:{line}:{column}", shown_path.display())
    };
    let table = toml::de::DeTable::parse(&text).map_err(|error| {
        let place = error
            .span()
            .map_or_else(|| shown_path.display().to_string(), |span| at(span.start));
        anyhow::anyhow!("{place}: {}", error.message().trim())
    })?;
    let folder = path.parent().unwrap_or(Path::new("."));
    let mut values = BTreeMap::new();
    let mut problems: Vec<(usize, String)> = Vec::new();
    for (key, value) in table.get_ref() {
        let start = key.span().start;
        let name: &str = key.get_ref();
        let Some(setting) = SETTINGS.iter().find(|s| s.key == name) else {
            let known = SETTINGS.iter().filter(|s| s.in_file).map(|s| s.key);
            let hint = crate::diagnostic::did_you_mean(name, known)
                .map(|k| format!(" (did you mean `{k}`?)"))
                .unwrap_or_default();
            problems.push((
                start,
                format!(
                    "{}: unknown setting `{name}`{hint}; `cspctl config` lists them",
                    at(start)
                ),
            ));
            continue;
        };
        if !setting.in_file {
            problems.push((
                start,
                format!(
                    "{}: `{name}` is a credential and {FILE_NAME} is committed: set {} in the environment (or use a --credentials file)",
                    at(start),
                    setting.env
                ),
            ));
            continue;
        }
        match file_values(setting, value.get_ref(), folder, cwd) {
            Ok(texts) => {
                if let Err(message) = check_value(command, setting, &texts) {
                    let start = value.span().start;
                    problems.push((start, format!("{}: `{name}`: {message}", at(start))));
                    continue;
                }
                let (line, _) = position(&text, value.span().start);
                values.insert(
                    setting.key,
                    FileValue {
                        values: texts,
                        line,
                    },
                );
            }
            Err(message) => {
                let start = value.span().start;
                problems.push((start, format!("{}: `{name}`: {message}", at(start))));
            }
        }
    }
    if !problems.is_empty() {
        problems.sort();
        bail!(
            "{}",
            problems
                .into_iter()
                .map(|(_, message)| message)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    Ok(ConfigFile {
        path: shown_path,
        values,
    })
}

/// The command-line texts of a file value, or why it does not fit the setting.
fn file_values(
    setting: &Setting,
    value: &toml::de::DeValue<'_>,
    folder: &Path,
    cwd: &Path,
) -> Result<Vec<String>, String> {
    use toml::de::DeValue;
    let scalar = |value: &DeValue<'_>| -> Result<String, String> {
        match value {
            DeValue::String(text) => Ok(text.to_string()),
            DeValue::Integer(number) => Ok(number.as_str().replace('_', "")),
            DeValue::Boolean(flag) if setting.kind == Kind::Switch => Ok(flag.to_string()),
            other => Err(format!("expected a string, found {}", other.type_str())),
        }
    };
    let texts = match (setting.kind, value) {
        (Kind::Switch, DeValue::Boolean(flag)) => vec![flag.to_string()],
        (Kind::Switch, other) => {
            return Err(format!(
                "expected true or false, found {}",
                other.type_str()
            ));
        }
        (Kind::List | Kind::Manifests, DeValue::Array(items)) => items
            .iter()
            .map(|item| scalar(item.get_ref()))
            .collect::<Result<_, _>>()?,
        (_, DeValue::Array(_)) => return Err("expected one value, found an array".to_owned()),
        (_, other) => vec![scalar(other)?],
    };
    Ok(match setting.kind {
        // Relative to the file's folder, shown relative to the working directory.
        Kind::Path | Kind::Manifests => texts
            .into_iter()
            .map(|text| {
                let path = folder.join(&text);
                let path = std::fs::canonicalize(&path).unwrap_or(path);
                relative_to(&path, cwd).display().to_string()
            })
            .collect(),
        _ => texts,
    })
}

/// Runs the flag's own value parser on a file value, so a bad duration or an
/// unknown backend is refused with the file's position, not after a re-parse.
fn check_value(
    command: &clap::Command,
    setting: &Setting,
    values: &[String],
) -> Result<(), String> {
    if setting.kind == Kind::Switch || setting.flag.is_empty() {
        return Ok(());
    }
    let Some(arg) = all_commands(command).find_map(|c| find_arg(c, setting)) else {
        return Ok(()); // no command has this flag yet: nothing to check against
    };
    let probe = clap::Command::new(FILE_NAME).no_binary_name(true).arg(
        arg.clone()
            .required(false)
            .env(clap::builder::Resettable::<clap::builder::OsStr>::Reset)
            .global(false),
    );
    let words = command_line(setting, arg, values);
    probe
        .try_get_matches_from(words)
        .map(|_| ())
        .map_err(|error| first_line(&error.render().to_string()))
}

fn all_commands(command: &clap::Command) -> Box<dyn Iterator<Item = &clap::Command> + '_> {
    Box::new(std::iter::once(command).chain(command.get_subcommands().flat_map(all_commands)))
}

// ---------------------------------------------------------------------------------
// apply PLANFILE: the saved plan's backend.
// ---------------------------------------------------------------------------------

/// The saved plan `apply` was given and the backend it recorded, if it has one. A
/// file that is no plan is left for apply to report.
fn saved_plan(paths: &[PathBuf]) -> Option<(PathBuf, BackendSettings)> {
    let [path] = paths else { return None };
    if !path.is_file()
        || matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        )
    {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let plan = Plan::from_json(&text).ok()?;
    Some((path.clone(), plan.backend_settings?))
}

fn recorded_value(settings: &BackendSettings, field: Recorded) -> Option<String> {
    match field {
        Recorded::Kind => Some(settings.kind.clone()),
        Recorded::State => settings.state.clone(),
        Recorded::StateUrl => settings.state_url.clone(),
        Recorded::Endpoint => settings.endpoint.clone(),
        Recorded::Authority => settings.authority.clone(),
        Recorded::Sandbox => settings.sandbox.then(|| "true".to_owned()),
    }
}

/// Whether the recorded backend `kind` reads this setting at all.
fn used_by(kind: &str, field: Recorded) -> bool {
    match field {
        Recorded::Kind | Recorded::StateUrl => true,
        Recorded::State => kind == "local",
        Recorded::Endpoint | Recorded::Authority | Recorded::Sandbox => kind == "partner-center",
    }
}

/// Refuses a flag or variable that says other than the saved plan. A variable
/// that the plan's backend does not read (`CSPCTL_PC_ENDPOINT` exported for a plan
/// on the local state) is no contradiction; a flag always is.
fn check_against_plan(
    setting: &Setting,
    field: Recorded,
    plan_path: &Path,
    recorded: &BackendSettings,
    wanted: &Option<String>,
    given: &Option<(Vec<String>, Source)>,
    env: &Option<Vec<String>>,
) -> anyhow::Result<()> {
    let normal = |value: &str| -> String {
        let value = value.trim();
        match setting.kind {
            Kind::Switch => is_true(value).to_string(),
            Kind::Path => {
                let trimmed = value.trim_start_matches("./");
                Path::new(trimmed)
                    .components()
                    .collect::<PathBuf>()
                    .display()
                    .to_string()
            }
            _ => value.trim_end_matches('/').to_owned(),
        }
    };
    let wanted_normal = wanted.as_deref().map(normal);
    let wanted_normal = match (setting.kind, wanted_normal) {
        (Kind::Switch, None) => Some("false".to_owned()),
        (_, other) => other,
    };
    let (values, what) = match (given, env) {
        (Some((values, Source::Flag)), _) => (values, format!("--{}", setting.flag)),
        (Some((values, Source::Env(name))), _) => {
            if !used_by(&recorded.kind, field) {
                return Ok(());
            }
            (values, (*name).to_owned())
        }
        (Some(_), _) => return Ok(()),
        (None, Some(values)) => {
            if !used_by(&recorded.kind, field) {
                return Ok(());
            }
            (values, setting.env.to_owned())
        }
        (None, None) => return Ok(()),
    };
    let given_normal = values.first().map(|v| normal(v));
    if given_normal != wanted_normal {
        bail!(
            "{what} says `{}`, but the saved plan {} was made with {} `{}`; it is applied against the backend it was planned against (credentials from the environment), so drop {what}, or make a new plan with it",
            values.join(", "),
            plan_path.display(),
            setting.key,
            wanted.as_deref().unwrap_or(match setting.kind {
                Kind::Switch => "false",
                _ => "none",
            }),
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// `cspctl config`.
// ---------------------------------------------------------------------------------

/// How `cspctl config` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table: setting, value, source.
    Text,
    /// A JSON object: the file and, per setting, its value and source.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Manifest files or directories: where cspctl.toml is looked for from
    /// (default: the current directory).
    paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    #[command(flatten)]
    backend: super::backend::BackendArgs,
    #[command(flatten)]
    scope: super::scope::ScopeArgs,
}

/// Prints the resolved settings: each with its value (secrets masked) and source.
pub fn run(args: &Args, resolved: &Resolved) -> anyhow::Result<ExitCode> {
    match args.format {
        Format::Text => {
            match &resolved.file {
                Some(path) => outln!("Configuration file: {}", path.display())?,
                None => outln!(
                    "Configuration file: none ({FILE_NAME} not found in {} or above)",
                    resolved.searched_from.display()
                )?,
            }
            outln!(
                "Precedence: flag > environment variable > saved plan (apply PLANFILE) > {FILE_NAME} > default"
            )?;
            outln!()?;
            let width = SETTINGS.iter().map(|s| s.key.len()).max().unwrap_or(0);
            let value_width = resolved
                .rows
                .iter()
                .map(|row| row_value(row).chars().count())
                .max()
                .unwrap_or(0)
                .min(48);
            for row in &resolved.rows {
                let text = crate::printable::escape_controls(&row_value(row)).into_owned();
                outln!(
                    "{:width$}  {:value_width$}  {}",
                    row.setting.key,
                    text,
                    row.source.describe()
                )?;
            }
        }
        Format::Json => {
            let settings: serde_json::Map<String, serde_json::Value> = resolved
                .rows
                .iter()
                .map(|row| {
                    (
                        row.setting.key.to_owned(),
                        json!({
                            "value": row.value,
                            "default": row.setting.default,
                            "source": row.source.describe(),
                            "env": (!row.setting.env.is_empty()).then_some(row.setting.env),
                            "flag": (!row.setting.flag.is_empty()).then(|| format!("--{}", row.setting.flag)),
                        }),
                    )
                })
                .collect();
            let value = json!({
                // Bumped on any incompatible change of this output.
                "format_version": 1,
                "file": resolved.file.as_ref().map(|p| p.display().to_string()),
                "settings": settings,
            });
            outln!("{}", crate::printable::to_json(&value, true))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn row_value(row: &Row) -> String {
    match (&row.value, &row.source) {
        (Some(value), _) => value.clone(),
        (None, Source::Plan(_)) => "none".to_owned(),
        (None, _) => row.setting.default.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_is_named_once() {
        let mut keys: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
        let mut envs: Vec<&str> = SETTINGS
            .iter()
            .map(|s| s.env)
            .filter(|e| !e.is_empty())
            .collect();
        let (k, e) = (keys.len(), envs.len());
        keys.sort_unstable();
        keys.dedup();
        envs.sort_unstable();
        envs.dedup();
        assert_eq!((keys.len(), envs.len()), (k, e));
    }

    #[test]
    fn urls_lose_their_secrets_when_shown() {
        assert_eq!(
            mask_url("az://container/prefix?sig=abc"),
            "az://container/prefix?********"
        );
        assert_eq!(
            mask_url("https://user:pw@example.test/x"),
            "https://********@example.test/x"
        );
        assert_eq!(mask_url(".cspctl/state.json"), ".cspctl/state.json");
    }

    /// The simulator's `--state` is its own file: the settings' `state` (the local
    /// state) must not reach it, while `plan` gets it.
    #[test]
    fn the_simulator_takes_nothing_from_the_settings() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join(FILE_NAME);
        std::fs::write(&file, "state = \"local.json\"\n").expect("write");
        let run = |words: &[&str]| {
            let args = words.iter().map(OsString::from).collect();
            match resolve_in(
                super::super::help::command(),
                args,
                dir.path(),
                Some(file.clone()),
            ) {
                Ok(resolved) => resolved,
                Err(_) => panic!("{words:?} resolves"),
            }
        };
        let state_of = |resolved: &Resolved| {
            let (_, leaf) = resolved.matches.subcommand().expect("a command");
            let leaf = leaf.subcommand().map_or(leaf, |(_, sub)| sub);
            leaf.try_get_raw("state")
                .ok()
                .flatten()
                .and_then(|mut v| v.next())
                .map(|v| v.to_string_lossy().into_owned())
        };
        assert_eq!(
            state_of(&run(&["cspctl", "plan"])).as_deref(),
            Some("local.json")
        );
        assert_eq!(state_of(&run(&["cspctl", "sim", "serve"])), None);
    }

    #[test]
    fn positions_are_one_based() {
        assert_eq!(position("a = 1\nbc = 2", 6), (2, 1));
        assert_eq!(position("a = 1\nbc = 2", 11), (2, 6));
    }
}
