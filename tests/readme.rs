//! The README's examples stay true. Every ```` ```console ```` block is run with the
//! real binary and its output compared with what the block shows; every `cspctl ...`
//! command line anywhere in it must be accepted by the real argument parser; every
//! file it links to must exist.
//!
//! How a block is run (the README's "Development" section tells readers the same):
//! - Each `## ` section runs in a fresh sandbox holding a copy of [`SANDBOX_CONTENT`],
//!   its blocks in README order, so a tour's state carries from one block to the next
//!   while a section never depends on what another one did (a reader may start at any
//!   section, and a change to one cannot silently break another).
//! - In a console block, `$ cspctl ...` lines are commands; the lines after each, up to
//!   the next `$` line, are its expected stdout and stderr, interleaved as printed.
//!   As in trycmd, a line `...` matches any number of lines and `[..]` any text within
//!   a line. Every command must exit 0, except as an `exit` directive says.
//! - Directives are HTML comments right before a block, invisible on GitHub:
//!   `<!-- readme-test: DIRECTIVE -->`. See [`Directive`] for the set; a precondition a
//!   reader does by hand ("edit a quantity") is one, so the block after it shows what
//!   the reader sees.

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};

use clap::Parser as _;

const README: &str = include_str!("../README.md");

/// The clock every README command runs at, as `tests/cli.rs` fixes it.
const NOW: &str = "2026-03-01T10:00:00Z";

/// What each section's sandbox starts with, copied from the repository: the examples
/// the README applies, the schemas they point at, and the diagnostics cases the
/// README's broken manifest is one of.
const SANDBOX_CONTENT: &[&str] = &["examples", "schemas", "tests/cmd/diagnostics.in"];

/// Command lines in code blocks, without the `$ ` prompt and trailing comments.
fn commands() -> Vec<String> {
    let mut in_block = false;
    let mut out = Vec::new();
    for line in README.lines() {
        if line.starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if !in_block {
            continue;
        }
        let line = without_comment(line.trim_start_matches("$ "));
        if let Some(rest) = line.strip_prefix("cargo run --release -- ") {
            out.push(format!("cspctl {rest}"));
        } else if line.starts_with("cspctl ") {
            out.push(line.to_owned());
        }
    }
    out
}

/// A shell line without its trailing `  # comment`.
fn without_comment(line: &str) -> &str {
    line.split("  #").next().unwrap_or(line).trim()
}

#[test]
fn every_cspctl_command_in_the_readme_parses() {
    let commands = commands();
    assert!(commands.len() >= 10, "found only {commands:?}");
    for command in commands {
        if let Err(error) = cspctl::cli::Cli::try_parse_from(split_words(&command)) {
            panic!("README command `{command}` does not parse:\n{error}");
        }
    }
}

#[test]
fn every_linked_file_exists() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for (i, _) in README.match_indices("](") {
        let target = &README[i + 2..];
        let target = &target[..target.find(')').expect("closing parenthesis")];
        if target.starts_with("http") || target.starts_with('#') {
            continue;
        }
        assert!(
            root.join(target).exists(),
            "README links to missing {target}"
        );
    }
}

#[test]
fn the_two_setup_commands_are_there() {
    assert!(README.contains("cargo run --release -- apply examples/basic --auto-approve"));
    assert!(README.contains("\ncargo test "));
}

#[test]
fn every_readme_block_prints_what_it_shows() {
    let failures = run_markdown("README.md", README);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// The runner's own tests: it must catch what it exists to catch.

#[test]
fn a_wrong_expected_output_is_reported_with_its_line() {
    let markdown = "## A section\n\nText.\n\n```console\n$ cspctl validate examples/basic\nvalid: 7 object(s) in 3 file(s)\n```\n";
    let failures = run_markdown("DEMO.md", markdown);
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert!(
        failures[0].starts_with("DEMO.md:6: `cspctl validate examples/basic`"),
        "{}",
        failures[0]
    );
    assert!(
        failures[0].contains("valid: 6 object(s)"),
        "{}",
        failures[0]
    );
}

#[test]
fn an_unexpected_exit_code_is_reported() {
    let markdown = "## A\n\n```console\n$ cspctl validate nowhere\n...\n```\n";
    let failures = run_markdown("DEMO.md", markdown);
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert!(
        failures[0].contains("exit code 1 (expected 0)"),
        "{}",
        failures[0]
    );
}

#[test]
fn directives_set_up_the_block_and_state_carries_within_a_section() {
    let markdown = r#"## Tour

<!-- readme-test: copy examples/basic manifests -->
<!-- readme-test: replace manifests/subscriptions.yaml "quantity: 25" "quantity: 30" -->
```console
$ cspctl apply manifests --auto-approve
...
      quantity = 3[..]
...
Apply complete: 6 applied, 0 failed, 0 skipped, 0 waiting on a person.
```

<!-- readme-test: exit 2 -->
```console
$ cspctl plan manifests --detailed-exitcode
No changes. The live state matches the manifests.
```

## Another section starts afresh

<!-- readme-test: skip -->
```console
$ cspctl apply examples/basic --auto-approve
```
"#;
    let failures = run_markdown("DEMO.md", markdown);
    // The plan finds the edited quantity applied, so it exits 0, not 2; the skip
    // has no reason.
    assert_eq!(failures.len(), 2, "{failures:#?}");
    assert!(
        failures[0].starts_with(
            "DEMO.md:15: `cspctl plan manifests --detailed-exitcode`: exit code 0 (expected 2)"
        ),
        "{}",
        failures[0]
    );
    assert!(
        failures[1].starts_with("DEMO.md:21: a skip needs a reason"),
        "{}",
        failures[1]
    );

    let fixed = markdown
        .replace("exit 2", "exit 0")
        .replace("skip -->", "skip (needs a network) -->");
    let failures = run_markdown("DEMO.md", &fixed);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn wildcards_match_as_in_trycmd() {
    let expected = ["a", "...", "x [..] z", "end"];
    assert!(lines_match(&expected, &["a", "x y z", "end"]));
    assert!(lines_match(&expected, &["a", "1", "2", "x  z", "end"]));
    assert!(!lines_match(&expected, &["a", "x y", "end"]));
    assert!(!lines_match(&expected, &["a", "x y z", "end", "more"]));
    assert!(lines_match(&["..."], &[]));
}

// The runner.

/// A `<!-- readme-test: ... -->` comment, applying to the fenced block after it.
#[derive(Debug)]
enum Directive {
    /// `skip (REASON)`: the block is not run; the reason (which test covers it, or why
    /// it cannot run here) is required.
    Skip { reason: String },
    /// `replace FILE "OLD" "NEW"`: edit a sandbox file, as the reader is told to;
    /// `OLD` must occur exactly once.
    Replace {
        file: String,
        old: String,
        new: String,
    },
    /// `copy FROM TO`: copy a sandbox file or directory (over what is there).
    Copy { from: String, to: String },
    /// `append FILE` with the text on the comment's next lines.
    Append { file: String, text: String },
    /// `run cspctl ...`: a precondition the README does not show; it must exit 0.
    Run(Vec<String>),
    /// `exit CODE`: the block's last command exits with CODE (the others with 0).
    Exit(i32),
    /// `output-of cspctl ...`: this block (not a console one) is what that command
    /// prints on stdout: a comment, a file, data (stderr's progress is not shown).
    OutputOf(Vec<String>),
}

/// A fenced block and the directives right before it.
struct Block {
    /// The 1-based line of its opening fence.
    line: usize,
    info: String,
    body: Vec<String>,
    directives: Vec<(usize, Directive)>,
}

/// A `## ` section: the unit that shares a sandbox.
struct Section {
    blocks: Vec<Block>,
}

/// Runs every block of `markdown` (named `name` in messages) and returns one message
/// per failure, each starting with `name:LINE:`. A section stops at its first failure,
/// since its later blocks build on that one.
fn run_markdown(name: &str, markdown: &str) -> Vec<String> {
    let (sections, mut failures) = parse(markdown);
    for section in sections {
        let sandbox = tempfile::tempdir().expect("sandbox");
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for entry in SANDBOX_CONTENT {
            copy_tree(&root.join(entry), &sandbox.path().join(entry));
        }
        for block in &section.blocks {
            if let Err(failure) = run_block(block, sandbox.path()) {
                failures.push(failure);
                break;
            }
        }
    }
    failures.sort_by_key(|(line, _)| *line);
    failures
        .into_iter()
        .map(|(line, message)| format!("{name}:{line}: {message}"))
        .collect()
}

/// Splits `markdown` into sections of fenced blocks with their directives, and the
/// problems found on the way (a directive that is malformed or precedes no block).
fn parse(markdown: &str) -> (Vec<Section>, Vec<(usize, String)>) {
    let mut sections = vec![Section { blocks: Vec::new() }];
    let mut problems = Vec::new();
    let mut pending: Vec<(usize, Directive)> = Vec::new();
    let mut lines = markdown.lines().enumerate().map(|(i, line)| (i + 1, line));
    while let Some((number, line)) = lines.next() {
        if line.starts_with("## ") {
            if let Some((at, _)) = pending.first() {
                problems.push((*at, "directive before no block of its section".to_owned()));
            }
            pending.clear();
            sections.push(Section { blocks: Vec::new() });
        } else if let Some(rest) = line.trim_start().strip_prefix("<!-- readme-test:") {
            let mut text = rest.to_owned();
            while !text.contains("-->") {
                let Some((_, next)) = lines.next() else {
                    problems.push((number, "unterminated directive".to_owned()));
                    break;
                };
                text.push('\n');
                text.push_str(next);
            }
            let text = text.split("-->").next().unwrap_or_default();
            match parse_directive(text) {
                Ok(directive) => pending.push((number, directive)),
                Err(message) => problems.push((number, message)),
            }
        } else if let Some(fence) = opening_fence(line) {
            let mut body = Vec::new();
            for (_, inner) in lines.by_ref() {
                let inner_trimmed = inner.trim_end();
                if inner_trimmed.len() >= fence && inner_trimmed.chars().all(|c| c == '`') {
                    break;
                }
                body.push(inner.to_owned());
            }
            let block = Block {
                line: number,
                info: line[fence..].trim().to_owned(),
                body,
                directives: std::mem::take(&mut pending),
            };
            sections.last_mut().expect("a section").blocks.push(block);
        }
    }
    if let Some((at, _)) = pending.first() {
        problems.push((*at, "directive before no block".to_owned()));
    }
    (sections, problems)
}

/// The length of the backtick run that opens a fenced block, if `line` opens one.
fn opening_fence(line: &str) -> Option<usize> {
    let fence = line.len() - line.trim_start_matches('`').len();
    (fence >= 3).then_some(fence)
}

fn parse_directive(text: &str) -> Result<Directive, String> {
    let (head, rest) = text.split_once('\n').unwrap_or((text, ""));
    let head = head.trim();
    let (name, arguments) = head.split_once(' ').unwrap_or((head, ""));
    let words = split_words(arguments);
    let wrong = || format!("malformed directive `{head}`");
    Ok(match (name, words.as_slice()) {
        ("skip", _) => Directive::Skip {
            reason: arguments.trim().to_owned(),
        },
        ("replace", [file, old, new]) => Directive::Replace {
            file: file.clone(),
            old: old.clone(),
            new: new.clone(),
        },
        ("copy", [from, to]) => Directive::Copy {
            from: from.clone(),
            to: to.clone(),
        },
        ("append", [file]) => Directive::Append {
            file: file.clone(),
            text: rest.trim_end_matches([' ', '\n']).to_owned() + "\n",
        },
        ("run", [program, ..]) if program == "cspctl" => Directive::Run(words),
        ("output-of", [program, ..]) if program == "cspctl" => Directive::OutputOf(words),
        ("exit", [code]) => Directive::Exit(code.parse().map_err(|_| wrong())?),
        _ => return Err(wrong()),
    })
}

/// Words of a command or directive line; double quotes group words with spaces.
fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    for (i, part) in line.split('"').enumerate() {
        if i % 2 == 1 {
            words.push(part.to_owned());
        } else {
            words.extend(part.split_whitespace().map(str::to_owned));
        }
    }
    words
}

/// Carries out the block's directives, then runs it; a failure names its line.
fn run_block(block: &Block, sandbox: &Path) -> Result<(), (usize, String)> {
    let mut exit = 0;
    let mut output_of = None;
    let mut skip = false;
    for (line, directive) in &block.directives {
        let fail = |message: String| (*line, message);
        match directive {
            // A skip without a reason fails rather than runs: the block was meant not to.
            Directive::Skip { reason } => {
                let reason = reason.strip_prefix('(').and_then(|r| r.strip_suffix(')'));
                if reason.is_none_or(|reason| reason.trim().is_empty()) {
                    return Err(fail("a skip needs a reason: `skip (REASON)`".to_owned()));
                }
                skip = true;
            }
            Directive::Exit(code) => exit = *code,
            Directive::OutputOf(words) => output_of = Some(words),
            Directive::Replace { file, old, new } => {
                let path = sandbox.join(file);
                let text =
                    std::fs::read_to_string(&path).map_err(|e| fail(format!("{file}: {e}")))?;
                if text.matches(old.as_str()).count() != 1 {
                    return Err(fail(format!("{file} holds `{old}` other than once")));
                }
                std::fs::write(&path, text.replace(old.as_str(), new)).expect("write");
            }
            Directive::Copy { from, to } => {
                let source = sandbox.join(from);
                if !source.exists() {
                    return Err(fail(format!("{from} does not exist in the sandbox")));
                }
                copy_tree(&source, &sandbox.join(to));
            }
            Directive::Append { file, text } => {
                let path = sandbox.join(file);
                let before =
                    std::fs::read_to_string(&path).map_err(|e| fail(format!("{file}: {e}")))?;
                std::fs::write(&path, before + text).expect("write");
            }
            Directive::Run(words) => {
                let (code, output) = run_cspctl(words, Streams::Both, sandbox);
                if code != 0 {
                    return Err(fail(format!(
                        "`{}` exited {code}:\n{output}",
                        words.join(" ")
                    )));
                }
            }
        }
    }
    if skip {
        return Ok(());
    }
    if let Some(words) = output_of {
        return check(
            block.line + 1,
            words,
            exit,
            &block.body,
            Streams::Stdout,
            sandbox,
        );
    }
    if block.info != "console" {
        return Ok(());
    }
    let mut commands: Vec<(usize, Vec<String>, Vec<String>)> = Vec::new();
    for (i, line) in block.body.iter().enumerate() {
        let number = block.line + 1 + i;
        if let Some(command) = line.strip_prefix("$ ") {
            commands.push((number, split_words(without_comment(command)), Vec::new()));
        } else if let Some((_, _, expected)) = commands.last_mut() {
            expected.push(line.clone());
        } else {
            return Err((number, "output before any `$ ` command".to_owned()));
        }
    }
    let last = commands.len().saturating_sub(1);
    for (i, (number, words, expected)) in commands.iter().enumerate() {
        let code = if i == last { exit } else { 0 };
        check(*number, words, code, expected, Streams::Both, sandbox)?;
    }
    Ok(())
}

/// Runs one command and compares its exit code and output with the expected ones.
fn check(
    line: usize,
    words: &[String],
    expected_code: i32,
    expected: &[String],
    streams: Streams,
    sandbox: &Path,
) -> Result<(), (usize, String)> {
    let command = words.join(" ");
    if words.first().map(String::as_str) != Some("cspctl") {
        return Err((line, format!("`{command}`: only cspctl commands run")));
    }
    let (code, output) = run_cspctl(words, streams, sandbox);
    let actual: Vec<&str> = without_trailing_blank_lines(output.lines().collect());
    let expected: Vec<&str> =
        without_trailing_blank_lines(expected.iter().map(String::as_str).collect());
    if code == expected_code && lines_match(&expected, &actual) {
        return Ok(());
    }
    Err((
        line,
        format!(
            "`{command}`: exit code {code} (expected {expected_code})\n--- expected\n{}\n--- printed\n{}",
            expected.join("\n"),
            actual.join("\n")
        ),
    ))
}

fn without_trailing_blank_lines(mut lines: Vec<&str>) -> Vec<&str> {
    while lines.last().is_some_and(|line| line.trim().is_empty()) {
        lines.pop();
    }
    lines
}

/// Which of a command's output streams a block shows.
#[derive(Clone, Copy)]
enum Streams {
    /// Stdout and stderr in one pipe, so they interleave as on a terminal.
    Both,
    Stdout,
}

/// Runs the real binary in `sandbox` as a reader would: colourless, at a fixed
/// clock, on the local backend whatever the environment says, with no terminal.
fn run_cspctl(words: &[String], streams: Streams, sandbox: &Path) -> (i32, String) {
    let (mut reader, writer) = std::io::pipe().expect("pipe");
    let stderr = match streams {
        Streams::Both => Stdio::from(writer.try_clone().expect("pipe")),
        Streams::Stdout => Stdio::null(),
    };
    let mut command = Command::new(env!("CARGO_BIN_EXE_cspctl"));
    command
        .args(&words[1..])
        .current_dir(sandbox)
        .env("NO_COLOR", "1")
        .env("CSPCTL_NOW", NOW)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(stderr);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CSPCTL_") && key != "CSPCTL_NOW" {
            command.env_remove(key);
        }
    }
    let mut child = command.spawn().expect("run cspctl");
    // The command holds the pipe's write ends: dropping it lets the read end.
    drop(command);
    let mut output = Vec::new();
    reader.read_to_end(&mut output).expect("read output");
    let status = child.wait().expect("cspctl ends");
    let output = String::from_utf8(output).expect("UTF-8 output");
    (status.code().unwrap_or(-1), output)
}

/// Whether `actual` matches `expected`, where a line `...` stands for any number of
/// lines and `[..]` for any text within a line.
fn lines_match(expected: &[&str], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((&"...", rest)) => (0..=actual.len()).any(|skip| lines_match(rest, &actual[skip..])),
        Some((first, rest)) => actual
            .split_first()
            .is_some_and(|(line, others)| line_matches(first, line) && lines_match(rest, others)),
    }
}

fn line_matches(pattern: &str, line: &str) -> bool {
    let mut parts = pattern.split("[..]");
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = line.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Copies a file or a directory tree.
fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).expect("create directory");
        for entry in std::fs::read_dir(from).expect("read directory") {
            let entry = entry.expect("directory entry");
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).expect("create directory");
        }
        std::fs::copy(from, to).expect("copy");
    }
}
