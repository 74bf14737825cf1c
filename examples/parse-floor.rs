//! The parse floor of the performance benchmark: the time it takes just to read and
//! parse a manifest tree with the YAML library cspctl is built on, and nothing else
//! (no schema, no rules, no plan). `cspctl validate` and `cspctl plan` are measured
//! against it.
//!
//! ```text
//! cargo run --release --example parse-floor -- DIR [--loader marked|plain]
//! ```
//!
//! Reads every `*.yaml` and `*.yml` file below `DIR` the way cspctl does (sorted,
//! hidden directories skipped, one `String` per file) and loads all documents of each
//! with saphyr's own loader. The default, `marked`, builds `saphyr::MarkedYaml` trees
//! (every node with its span, as cspctl keeps positions for diagnostics) from the
//! same `&str` parser cspctl feeds its own tree builder from, so the two differ only
//! in what is built from the events. `plain` is `saphyr::Yaml::load_from_str`, which
//! keeps no spans but reads through a `char` iterator; it is there for comparison.
//! Prints `files documents bytes` as one line; the trees are kept alive until the
//! file is done and passed through `black_box`, so the work cannot be optimized away.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use saphyr::{LoadableYamlNode, MarkedYaml, Yaml};

/// The same allocator as the `cspctl` binary, so the floor and the product are
/// compared on equal terms (parsing is allocation-bound either way).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage: parse-floor DIR [--loader marked|plain]";

#[derive(Clone, Copy)]
enum Loader {
    Marked,
    Plain,
}

fn main() -> ExitCode {
    // As the `cspctl` binary does (see `cspctl::memory`).
    cspctl::memory::no_transparent_huge_pages();
    let mut dir = None;
    let mut loader = Loader::Marked;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--loader" => match args.next().as_deref() {
                Some("marked") => loader = Loader::Marked,
                Some("plain") => loader = Loader::Plain,
                other => {
                    eprintln!(
                        "parse-floor: --loader takes marked or plain, got {other:?}\n{USAGE}"
                    );
                    return ExitCode::from(2);
                }
            },
            _ if dir.is_none() && !arg.starts_with('-') => dir = Some(PathBuf::from(arg)),
            _ => {
                eprintln!("parse-floor: unexpected argument `{arg}`\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(dir) = dir else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    match run(&dir, loader) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("parse-floor: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(dir: &Path, loader: Loader) -> Result<String, String> {
    // The same file list cspctl reads.
    let (files, problems) = cspctl::manifest::files::manifest_paths(&[dir.to_path_buf()]);
    if let Some(problem) = problems.first() {
        return Err(problem.message.clone());
    }
    let (mut documents, mut bytes) = (0usize, 0usize);
    for file in &files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let loaded = match loader {
            Loader::Marked => {
                let mut parser = saphyr_parser::Parser::new_from_str(&text);
                MarkedYaml::load_from_parser(&mut parser).map(|docs| black_box(docs).len())
            }
            Loader::Plain => Yaml::load_from_str(&text).map(|docs| black_box(docs).len()),
        };
        documents += loaded.map_err(|e| format!("{}: {e}", file.display()))?;
        bytes += text.len();
    }
    let name = match loader {
        Loader::Marked => "saphyr MarkedYaml",
        Loader::Plain => "saphyr Yaml",
    };
    Ok(format!(
        "parse-floor: {} files, {documents} documents, {bytes} bytes ({name})",
        files.len()
    ))
}
