//! `cspctl local ...`: acts on the local state as the *other* party would, so manual
//! steps can be demonstrated and tested without Partner Center.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::backend::BackendChoice;
use super::{DEFAULT_LOCK_TIMEOUT_SECONDS, Settings};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Simulate a customer's admin accepting a reseller relationship request.
    AcceptRelationship {
        /// The customer: its domain (e.g. contoso.onmicrosoft.com) or tenant id.
        #[arg(long)]
        customer: String,
        /// The reseller: its tenant id or MPN ID.
        #[arg(long)]
        reseller: String,
        /// The local state file.
        #[arg(long, value_name = "FILE", default_value = crate::backend::local::DEFAULT_STATE_PATH, conflicts_with = "state_url")]
        state: PathBuf,
        /// The local state kept in remote state instead (as `apply --state-url`).
        #[arg(long, value_name = "URL", env = "CSPCTL_STATE_URL")]
        state_url: Option<String>,
    },
}

pub fn run(command: Command, settings: &Settings) -> anyhow::Result<ExitCode> {
    match command {
        Command::AcceptRelationship {
            customer,
            reseller,
            state,
            state_url,
        } => {
            let mut opened = BackendChoice::local(state, state_url)?
                .open(settings, Duration::from_secs(DEFAULT_LOCK_TIMEOUT_SECONDS))?;
            opened
                .local_mut()
                .expect("the local backend was chosen")
                .accept_relationship(&customer, &reseller)?;
            opened.finish()?;
            note!("Customer {customer} accepted the relationship request of reseller {reseller}.");
            Ok(ExitCode::SUCCESS)
        }
    }
}
