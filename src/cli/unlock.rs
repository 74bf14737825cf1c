//! `cspctl force-unlock ID`: releases the remote state's lock of an apply whose
//! runner died, as `terraform force-unlock` does. Only the holding named by its id
//! is released, so a lock taken since by a live apply is never broken by mistake.

use std::process::ExitCode;

use crate::backend::remote::{RemoteStore, force_unlock};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The lock's id, as the waiting apply's message names it.
    id: String,
    /// The remote state whose lock it is (as `apply --state-url`).
    #[arg(long, value_name = "URL", env = "CSPCTL_STATE_URL")]
    state_url: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Some(url) = args.state_url else {
        anyhow::bail!(
            "force-unlock releases a remote state's lock: give --state-url (or CSPCTL_STATE_URL). A local state's lock is the operating system's and ends with the process that held it, so there is nothing to release"
        );
    };
    let store = RemoteStore::open(&url)?;
    let released = force_unlock(&store, &args.id)?;
    note!("Released {}.", released.describe());
    Ok(ExitCode::SUCCESS)
}
