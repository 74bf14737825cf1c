//! `cspctl show PLANFILE`: a saved plan as text, JSON or a Markdown comment, as
//! `terraform show` prints one. It reads nothing live: what it prints is what
//! `apply PLANFILE` would carry out, against the backend the plan names.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::plan::BackendSettings;
use crate::render::{PlanFormat, RenderOptions, render_plan};

use super::Settings;

/// How `show` prints the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// As `plan` prints it, under a line naming its backend.
    Text,
    /// The saved JSON (`schemas/plan.schema.json`).
    Json,
    /// The pull-request comment `plan --format markdown` prints.
    Markdown,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A plan file saved by `cspctl plan --out`.
    plan: PathBuf,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Show personal data (contact names, emails, phone numbers) in the markdown
    /// format; masked by default, as it ends up in pull requests.
    #[arg(long)]
    show_sensitive: bool,
}

pub fn run(args: Args, settings: &Settings) -> anyhow::Result<ExitCode> {
    // The same reader as apply's: a damaged or edited file is refused here too.
    let plan = super::apply::read_plan_file(&args.plan)?;
    let options = RenderOptions {
        color: settings.color_stdout,
        show_sensitive: args.show_sensitive,
        full_plan: Some(args.plan.display().to_string()),
    };
    match args.format {
        Format::Text => {
            outln!(
                "Plan {} against {}",
                crate::printable::escape_controls(&args.plan.display().to_string()),
                crate::printable::escape_controls(&backend_line(
                    &plan.backend,
                    plan.backend_settings.as_ref()
                ))
            )?;
            outln!()?;
            out!("{}", render_plan(&plan, PlanFormat::Text, &options))?;
        }
        Format::Json => out!("{}", render_plan(&plan, PlanFormat::Json, &options))?,
        Format::Markdown => {
            let shown = super::github::with_repository_paths(&plan);
            out!("{}", render_plan(&shown, PlanFormat::Markdown, &options))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `local:.cspctl/state.json`, with what `apply` will open when the plan recorded it.
pub fn backend_line(backend: &str, settings: Option<&BackendSettings>) -> String {
    let Some(settings) = settings else {
        return format!(
            "{backend} (made before plans recorded their backend: apply needs its flags)"
        );
    };
    let mut parts = vec![format!("--backend {}", settings.kind)];
    if let Some(state) = &settings.state {
        parts.push(format!("--state {state}"));
    }
    if let Some(url) = &settings.state_url {
        parts.push(format!("--state-url {url}"));
    }
    if let Some(endpoint) = &settings.endpoint {
        parts.push(format!("--endpoint {endpoint}"));
    }
    if let Some(authority) = &settings.authority {
        parts.push(format!("--authority {authority}"));
    }
    if settings.sandbox {
        parts.push("--sandbox".to_owned());
    }
    format!("{backend} ({})", parts.join(" "))
}
