//! The README's examples stay true: every `cspctl ...` command line in it must be
//! accepted by the real argument parser, and every file it links to must exist.

use clap::Parser as _;

const README: &str = include_str!("../README.md");

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
        let line = line.trim_start_matches("$ ");
        let line = line.split("  #").next().unwrap_or(line).trim();
        if let Some(rest) = line.strip_prefix("cargo run --release -- ") {
            out.push(format!("cspctl {rest}"));
        } else if line.starts_with("cspctl ") {
            out.push(line.to_owned());
        }
    }
    out
}

#[test]
fn every_cspctl_command_in_the_readme_parses() {
    let commands = commands();
    assert!(commands.len() >= 10, "found only {commands:?}");
    for command in commands {
        let args: Vec<&str> = command.split_whitespace().collect();
        if let Err(error) = cspctl::cli::Cli::try_parse_from(&args) {
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
