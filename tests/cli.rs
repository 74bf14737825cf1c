//! CLI cases as data (trycmd): each `tests/cmd/*.md` file is a sequence of commands
//! with their exit codes and output, run in the `*.in/` folder next to it (in a
//! sandbox copy when a `*.out/` folder holds the files the commands must produce).
//! `TRYCMD=overwrite cargo test --test cli` rewrites the expected output; review it.

#[test]
fn cli_cases() {
    trycmd::TestCases::new()
        .env("NO_COLOR", "1")
        .env("CSPCTL_NOW", "2026-03-01T10:00:00Z")
        .case("tests/cmd/*.md");
}
