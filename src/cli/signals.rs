//! SIGINT (Ctrl-C) and SIGTERM (how CI cancels a job), handled the same way in
//! every command: the process ends with exit code 130.
//!
//! [`install`] starts a listener thread before a command runs, so that a signal in
//! the first moments (loading manifests, reading the tenant, planning) is handled
//! too, not left to the default action (exit 143 on SIGTERM). Until a command says
//! it can stop cleanly, a signal ends the process at once: nothing cspctl writes is
//! left half done by that (files are replaced by rename, journals tolerate a torn
//! last line, and the state lock is the operating system's). While a command holds
//! a [`Subscription`] (apply while it executes, the simulator while it serves),
//! signals go to it instead: apply stops starting actions on the first and
//! abandons those in flight on the second, and the simulator shuts down; both
//! then exit 130 themselves.

use std::sync::Mutex;

use tokio::sync::mpsc;

use super::EXIT_INTERRUPTED;

/// Where signals go while a command handles them itself.
static SUBSCRIBER: Mutex<Option<mpsc::UnboundedSender<()>>> = Mutex::new(None);

/// The subscriber slot; a panic elsewhere while it was held leaves it usable.
fn subscriber() -> std::sync::MutexGuard<'static, Option<mpsc::UnboundedSender<()>>> {
    SUBSCRIBER.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts listening for SIGINT and SIGTERM; returns once both are caught.
pub fn install() -> std::io::Result<()> {
    let (ready, installed) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("cspctl-signals".to_owned())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    let _ = ready.send(Err(error));
                    return;
                }
            };
            runtime.block_on(async move {
                let mut signals = match Signals::new() {
                    Ok(signals) => {
                        let _ = ready.send(Ok(()));
                        signals
                    }
                    Err(error) => {
                        let _ = ready.send(Err(error));
                        return;
                    }
                };
                loop {
                    let name = signals.next().await;
                    deliver(name);
                }
            });
        })?;
    installed
        .recv()
        .unwrap_or_else(|_| Err(std::io::Error::other("the signal thread stopped")))
}

/// Sends a signal to the subscriber, or ends the process if there is none.
fn deliver(name: &str) {
    if subscriber().as_ref().is_some_and(|s| s.send(()).is_ok()) {
        return;
    }
    super::output::message(format_args!("Interrupted ({name})."));
    std::process::exit(i32::from(EXIT_INTERRUPTED));
}

/// Routes every later SIGINT and SIGTERM to the receiver, one `()` each, until
/// the [`Subscription`] is dropped.
pub fn subscribe() -> (Subscription, mpsc::UnboundedReceiver<()>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    *subscriber() = Some(sender);
    (Subscription(()), receiver)
}

/// While held, signals go to the receiver [`subscribe`] returned.
pub struct Subscription(());

impl Drop for Subscription {
    fn drop(&mut self) {
        *subscriber() = None;
    }
}

#[cfg(unix)]
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

#[cfg(not(unix))]
struct Signals(tokio::signal::windows::CtrlC);

#[cfg(not(unix))]
impl Signals {
    fn new() -> std::io::Result<Signals> {
        Ok(Signals(tokio::signal::windows::ctrl_c()?))
    }

    async fn next(&mut self) -> &'static str {
        self.0.recv().await;
        "Ctrl-C"
    }
}
