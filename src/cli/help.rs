//! What `--help` and the manual pages say besides the flags: examples, the exit
//! codes and the environment variables each command reads. One [`Sections`] per
//! command feeds both, so the two cannot differ; the variables come from the
//! settings table (`cli::config`), so a setting added there is documented here.

use clap::CommandFactory as _;

use super::config::{OTHER_VARIABLES, SETTINGS};

/// What a command's help adds.
pub struct Sections {
    /// `(what it does, command line)`.
    pub examples: Pairs,
    /// `(code, meaning)`.
    pub exit_codes: Pairs,
    /// `(variable, meaning)`.
    pub environment: Vec<(String, String)>,
}

const OK: (&str, &str) = ("0", "success");
const ERROR: (&str, &str) = (
    "1",
    "error: bad manifests or arguments, a backend that failed, a refused plan",
);
const INTERRUPTED: (&str, &str) = ("130", "interrupted (Ctrl-C or SIGTERM)");

/// Pairs of text: (what, command line) or (code, meaning).
type Pairs = Vec<(&'static str, &'static str)>;

/// Examples and exit codes of the command at `path` (`["plan"]`, `["local",
/// "accept-relationship"]`).
fn examples_and_codes(path: &[&str]) -> (Pairs, Pairs) {
    match path {
        ["validate"] => (
            vec![
                (
                    "Check the manifests in ./manifests",
                    "cspctl validate manifests",
                ),
                (
                    "Annotate a pull request's files (GitHub Actions)",
                    "cspctl validate manifests --format github",
                ),
                (
                    "SARIF for GitHub code scanning",
                    "cspctl validate manifests --format sarif > cspctl.sarif",
                ),
            ],
            vec![
                ("0", "the manifests are valid (warnings allowed)"),
                ("1", "problems found, or bad arguments"),
                INTERRUPTED,
            ],
        ),
        ["plan"] => (
            vec![
                ("Plan against the local state", "cspctl plan manifests"),
                (
                    "Save the plan for review and a later apply",
                    "cspctl plan manifests --out plan.json",
                ),
                (
                    "A pull-request comment; exit 2 when something changes",
                    "cspctl plan manifests --format markdown --detailed-exitcode",
                ),
                (
                    "Against Partner Center's integration sandbox",
                    "cspctl plan manifests --backend partner-center --sandbox",
                ),
                (
                    "Only one customer",
                    "cspctl plan manifests --customer contoso",
                ),
            ],
            vec![
                (
                    "0",
                    "planned (no changes, or changes without --detailed-exitcode)",
                ),
                ERROR,
                ("2", "changes present (with --detailed-exitcode)"),
                INTERRUPTED,
            ],
        ),
        ["apply"] => (
            vec![
                ("Plan and apply, asking first", "cspctl apply manifests"),
                (
                    "Apply a reviewed plan: its backend, state and scope come from the file",
                    "cspctl apply plan.json --auto-approve",
                ),
                (
                    "JSON Lines events for a pipeline",
                    "cspctl apply plan.json --auto-approve --format json",
                ),
            ],
            vec![
                ("0", "applied, or nothing to do"),
                (
                    "1",
                    "error: an action failed, the plan was stale or refused, the deadline passed",
                ),
                ("3", "applied, but manual steps remain (a person must act)"),
                ("130", "interrupted; the next apply converges"),
            ],
        ),
        ["show"] => (
            vec![
                ("Read a saved plan", "cspctl show plan.json"),
                (
                    "The pull-request comment of a saved plan",
                    "cspctl show plan.json --format markdown",
                ),
            ],
            vec![OK, ("1", "not a plan file, or a damaged or edited one")],
        ),
        ["drift"] => (
            vec![
                (
                    "Compare the live tenant with the manifests",
                    "cspctl drift manifests",
                ),
                (
                    "An issue body for a scheduled job",
                    "cspctl drift manifests --format markdown",
                ),
            ],
            vec![
                ("0", "in sync"),
                ERROR,
                ("2", "drift: a changed field or an unmanaged object"),
                INTERRUPTED,
            ],
        ),
        ["export"] => (
            vec![
                (
                    "Write manifests for an existing tenant",
                    "cspctl export --backend partner-center --out manifests",
                ),
                ("Print them", "cspctl export"),
            ],
            vec![OK, ERROR, INTERRUPTED],
        ),
        ["graph"] => (
            vec![
                ("The dependency graph as text", "cspctl graph manifests"),
                ("As Graphviz", "cspctl graph manifests --format dot"),
            ],
            vec![OK, ("1", "problems in the manifests, or bad arguments")],
        ),
        ["force-unlock"] => (
            vec![(
                "Release a dead runner's lock (its id is in the waiting apply's message)",
                "cspctl force-unlock 5d9c0f6e --state-url az://tfstate/cspctl",
            )],
            vec![OK, ("1", "no such lock, or the store could not be reached")],
        ),
        ["schema"] => (
            vec![
                ("The manifests' JSON Schema", "cspctl schema"),
                ("The saved plans' JSON Schema", "cspctl schema --plan"),
            ],
            vec![OK, ERROR],
        ),
        ["init"] => (
            vec![
                ("Scaffold the current folder", "cspctl init"),
                ("Scaffold a new folder", "cspctl init my-tenant"),
            ],
            vec![OK, ("1", "a file it would write exists (see --force)")],
        ),
        ["config"] => (
            vec![
                ("Show the settings and their sources", "cspctl config"),
                ("As JSON", "cspctl config --format json"),
                (
                    "What a command with these flags would use",
                    "cspctl config manifests --backend partner-center --sandbox",
                ),
            ],
            vec![
                OK,
                ("1", "cspctl.toml has a problem (named by line and column)"),
            ],
        ),
        ["completions"] => (
            vec![(
                "Bash completion",
                "cspctl completions bash > /etc/bash_completion.d/cspctl",
            )],
            vec![OK, ERROR],
        ),
        ["man"] => (
            vec![
                ("Read the manual", "cspctl man | man -l -"),
                ("Write every page", "cspctl man --out man/"),
            ],
            vec![OK, ERROR],
        ),
        ["local", "accept-relationship"] => (
            vec![(
                "Simulate a customer's admin accepting a reseller",
                "cspctl local accept-relationship --customer tailspin-demo.onmicrosoft.com --reseller 22222222-3333-4444-8555-666666666666",
            )],
            vec![OK, ERROR],
        ),
        ["sim", "serve"] => (
            vec![
                (
                    "An integration-sandbox simulator keeping its tenant in a file",
                    "cspctl sim serve --sandbox --state sim.json --listen 127.0.0.1:8080",
                ),
                (
                    "Then plan against it (its default credentials are in docs/simulator.md)",
                    "cspctl plan manifests --backend partner-center --endpoint http://127.0.0.1:8080 --authority http://127.0.0.1:8080 --sandbox",
                ),
            ],
            vec![OK, ERROR, INTERRUPTED],
        ),
        ["sim", "add-reseller"] => (
            vec![(
                "A reseller accepts the partnership invitation",
                "cspctl sim add-reseller --endpoint http://127.0.0.1:8080 --tenant-id 6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d --mpn-id 4847383 --name Northwind",
            )],
            vec![OK, ERROR],
        ),
        ["sim", "accept-relationship"] => (
            vec![(
                "A customer's admin accepts a reseller relationship request",
                "cspctl sim accept-relationship --endpoint http://127.0.0.1:8080 --customer tailspin-demo.onmicrosoft.com --reseller 22222222-3333-4444-8555-666666666666",
            )],
            vec![OK, ERROR],
        ),
        ["sim", "advance-clock"] => (
            vec![(
                "A day passes in the simulator (renewals, provisioning)",
                "cspctl sim advance-clock --endpoint http://127.0.0.1:8080 --seconds 86400",
            )],
            vec![OK, ERROR],
        ),
        _ => (Vec::new(), vec![OK, ERROR, INTERRUPTED]),
    }
}

/// The sections of `command` (at `path`): the variables are those of the
/// settings it has a flag for, the credentials where it reads Partner Center,
/// and the ones every command reads.
pub fn sections(command: &clap::Command, path: &[&str]) -> Sections {
    let (examples, exit_codes) = examples_and_codes(path);
    let longs: Vec<&str> = command
        .get_arguments()
        .filter_map(|a| a.get_long())
        .collect();
    let reads_partner_center = longs.contains(&"backend");
    // The simulator's commands take no setting from the environment (cli::config).
    let simulator = path.first() == Some(&"sim");
    let mut environment: Vec<(String, String)> = SETTINGS
        .iter()
        .filter(|s| !s.env.is_empty())
        .filter(|s| !simulator || s.key == "color")
        .filter(|s| {
            (!s.flag.is_empty() && longs.contains(&s.flag))
                || (s.flag.is_empty() && reads_partner_center)
        })
        .map(|s| {
            let about = if s.flag.is_empty() {
                s.about.to_owned()
            } else {
                format!("--{} ({})", s.flag, s.about)
            };
            (s.env.to_owned(), about)
        })
        .collect();
    environment.extend(
        OTHER_VARIABLES
            .iter()
            .map(|(name, about)| ((*name).to_owned(), (*about).to_owned())),
    );
    Sections {
        examples,
        exit_codes,
        environment,
    }
}

impl Sections {
    /// As `--help` prints it.
    pub fn text(&self) -> String {
        let mut out = String::new();
        if !self.examples.is_empty() {
            out.push_str("Examples:\n");
            for (what, line) in &self.examples {
                out.push_str(&format!("  # {what}\n  {line}\n"));
            }
            out.push('\n');
        }
        out.push_str("Exit codes:\n");
        for (code, meaning) in &self.exit_codes {
            out.push_str(&format!("  {code:<4} {meaning}\n"));
        }
        out.push_str("\nEnvironment (flags win over variables, variables over cspctl.toml):\n");
        let width = self
            .environment
            .iter()
            .map(|(n, _)| n.len())
            .max()
            .unwrap_or(0);
        for (name, about) in &self.environment {
            out.push_str(&format!("  {name:<width$}  {about}\n"));
        }
        out
    }

    /// As the manual page has it: EXAMPLES, EXIT STATUS and ENVIRONMENT sections.
    pub fn roff(&self) -> String {
        let mut out = String::new();
        if !self.examples.is_empty() {
            out.push_str(".SH EXAMPLES\n");
            for (what, line) in &self.examples {
                out.push_str(&format!(
                    ".PP\n{}\n.PP\n.RS 4\n.nf\n{}\n.fi\n.RE\n",
                    roff_text(what),
                    roff_text(line)
                ));
            }
        }
        out.push_str(".SH \"EXIT STATUS\"\n");
        for (code, meaning) in &self.exit_codes {
            out.push_str(&format!(".TP\n\\fB{code}\\fR\n{}\n", roff_text(meaning)));
        }
        out.push_str(".SH ENVIRONMENT\n");
        for (name, about) in &self.environment {
            out.push_str(&format!(
                ".TP\n\\fB{}\\fR\n{}\n",
                roff_text(name),
                roff_text(about)
            ));
        }
        out
    }
}

/// Text safe in roff: backslashes and hyphens escaped, no line starting with a
/// control character.
fn roff_text(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// Calls `f` on every command below `command` with its name path.
fn for_each(
    command: &mut clap::Command,
    path: &mut Vec<String>,
    f: &mut dyn FnMut(&mut clap::Command, &[&str]),
) {
    let names: Vec<String> = command
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    for name in names {
        path.push(name.clone());
        if let Some(sub) = command.find_subcommand_mut(&name) {
            let words: Vec<&str> = path.iter().map(String::as_str).collect();
            f(sub, &words);
            for_each(sub, path, f);
        }
        path.pop();
    }
}

/// The command line definition with every command's examples, exit codes and
/// variables in its `--help` (`-h` stays short).
pub fn command() -> clap::Command {
    let mut command = super::Cli::command().after_long_help(
        "Exit codes: 0 success or no changes; 1 error; 2 changes (plan --detailed-exitcode) or drift; 3 manual steps remain (apply); 130 interrupted.\nEach command's --help has examples and the variables it reads; cspctl config shows the settings in force.",
    );
    // Built first so global flags (--color) are on every command when listed.
    command.build();
    for_each(&mut command, &mut Vec::new(), &mut |sub, path| {
        let text = sections(sub, path).text();
        *sub = std::mem::take(sub).after_long_help(text);
    });
    command
}

/// Every command below the top with its name path, for the manual pages.
pub fn commands(command: &clap::Command) -> Vec<(Vec<String>, clap::Command)> {
    fn walk(
        command: &clap::Command,
        path: &mut Vec<String>,
        out: &mut Vec<(Vec<String>, clap::Command)>,
    ) {
        for sub in command.get_subcommands().filter(|c| !c.is_hide_set()) {
            path.push(sub.get_name().to_owned());
            out.push((path.clone(), sub.clone()));
            walk(sub, path, out);
            path.pop();
        }
    }
    let mut out = Vec::new();
    walk(command, &mut Vec::new(), &mut out);
    out
}
