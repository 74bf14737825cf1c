//! Standard output and standard error for the commands.
//!
//! Why not `print!`: it panics when the reader has gone, and `cspctl plan | head`
//! closes the pipe after ten lines. Here a closed stdout ends the output quietly
//! and the command still finishes with its own exit code (a drift found is still
//! exit 2 behind `| head`), as git and ripgrep behave. Any other failure to write
//! stdout (a full disk behind `> plan.txt`) is an error. Standard error is best
//! effort: there is nowhere left to report that it failed.
//!
//! [`note!`] also escapes control and bidirectional-formatting characters (all but
//! line breaks and tabs): its messages carry file names, server answers and
//! manifest values, and none of them may move the cursor, retitle the terminal or
//! reorder what a reader sees. Rendered output (plans, diagnostics) escapes what it
//! shows itself and goes through [`stdout`] or [`stderr`] as it is, colours and all.

use std::fmt;
use std::io::{self, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once stdout's reader has gone: later output is dropped, not attempted.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes to stdout; a closed pipe is not an error (see the module comment).
pub fn stdout(args: fmt::Arguments<'_>) -> io::Result<()> {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = io::stdout().lock();
    match out.write_fmt(args).and_then(|()| out.flush()) {
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        result => result,
    }
}

/// Stdout for output written in many pieces (a whole tenant's plan), buffered,
/// with the same closed-pipe rule as [`stdout`]. Flush it at the end: the flush is
/// where a full disk shows.
pub fn stdout_writer() -> io::BufWriter<Stdout> {
    io::BufWriter::with_capacity(1 << 16, Stdout)
}

/// Stdout as an [`io::Write`] that ends quietly when its reader has gone.
pub struct Stdout;

impl Stdout {
    fn tolerating_closed<T>(&self, result: io::Result<T>, written: T) -> io::Result<T> {
        match result {
            Err(error) if error.kind() == io::ErrorKind::BrokenPipe => {
                STDOUT_CLOSED.store(true, Ordering::Relaxed);
                Ok(written)
            }
            result => result,
        }
    }
}

impl io::Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if STDOUT_CLOSED.load(Ordering::Relaxed) {
            return Ok(buf.len());
        }
        // Whole pieces: a short write into a pipe closed halfway is all the same.
        let result = io::stdout().lock().write_all(buf);
        self.tolerating_closed(result.map(|()| buf.len()), buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if STDOUT_CLOSED.load(Ordering::Relaxed) {
            return Ok(());
        }
        let result = io::stdout().lock().flush();
        self.tolerating_closed(result, ())
    }
}

/// Writes to stderr as it is (rendered diagnostics, progress), best effort.
pub fn stderr(args: fmt::Arguments<'_>) {
    let mut err = io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.flush());
}

/// Writes a message line to stderr with its control characters escaped.
pub fn message(args: fmt::Arguments<'_>) {
    crate::diagnostic::warn(args);
}

/// `print!` that tolerates a closed pipe: evaluates to `io::Result<()>`.
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::output::stdout(format_args!($($arg)*)) };
}

/// `println!` that tolerates a closed pipe: evaluates to `io::Result<()>`.
macro_rules! outln {
    () => { $crate::cli::output::stdout(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::output::stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprintln!` for messages: best effort, control characters escaped.
macro_rules! note {
    ($($arg:tt)*) => { $crate::cli::output::message(format_args!($($arg)*)) };
}

/// `eprint!` for rendered text (diagnostics, prompts): best effort, as it is.
macro_rules! err {
    ($($arg:tt)*) => { $crate::cli::output::stderr(format_args!($($arg)*)) };
}
