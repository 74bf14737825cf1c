//! The `cspctl` binary: parse, run, map the result to an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    match cspctl::cli::run() {
        Ok(code) => code,
        Err(error) => {
            // A closed pipe (`cspctl plan | head`) is not an error.
            if error.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}
