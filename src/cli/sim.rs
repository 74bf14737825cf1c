//! `cspctl sim ...`: `serve` runs the Partner Center simulator until Ctrl-C or
//! SIGTERM (flags become a [`SimConfig`]; everything else is in [`crate::sim`]); the
//! other commands play the other party against a running simulator through its
//! `/_sim` endpoints, as `cspctl local ...` does for the local state.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;

use super::Settings;
use crate::sim::faults::{Variant, Variants};
use crate::sim::{self, Faults, Seed, SimConfig};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Serve the Partner Center simulator.
    Serve(Box<ServeArgs>),
    /// A reseller accepts the provider's partnership invitation (production mode's way
    /// to add an indirect reseller).
    AddReseller {
        #[command(flatten)]
        target: Target,
        /// The reseller's tenant id.
        #[arg(long)]
        tenant_id: String,
        /// The reseller's MPN ID.
        #[arg(long)]
        mpn_id: String,
        /// The reseller's name.
        #[arg(long)]
        name: String,
        /// ISO country code.
        #[arg(long)]
        location: Option<String>,
    },
    /// A customer's global admin accepts a reseller relationship request (an existing
    /// tenant thereby becomes a customer).
    AcceptRelationship {
        #[command(flatten)]
        target: Target,
        /// The customer: its domain or tenant id.
        #[arg(long)]
        customer: String,
        /// The reseller's tenant id.
        #[arg(long)]
        reseller: String,
    },
    /// Moves the simulated clock forward (token expiry, provisioning, cancellation
    /// windows are measured on it).
    AdvanceClock {
        #[command(flatten)]
        target: Target,
        /// How far.
        #[arg(long)]
        seconds: u64,
    },
}

/// Which running simulator to talk to.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// The simulator's base URL, as printed by `cspctl sim serve`.
    #[arg(long, value_name = "URL", env = "CSPCTL_PC_ENDPOINT")]
    endpoint: String,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port). Prints `listening on
    /// http://ADDR` once bound.
    #[arg(long, env = "CSPCTL_SIM_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// State file (JSON, idempotency cache included): loaded at start if present,
    /// written after each change.
    #[arg(long, env = "CSPCTL_SIM_STATE")]
    state: Option<PathBuf>,
    /// Seed file (JSON) preloading resellers, tenants, customers and subscriptions;
    /// used only when the state file does not exist yet.
    #[arg(long, env = "CSPCTL_SIM_SEED")]
    seed: Option<PathBuf>,
    /// Integration-sandbox behaviour (sandboxIndirectReseller allowed, relationship
    /// requests not supported).
    #[arg(long, env = "CSPCTL_SIM_SANDBOX")]
    sandbox: bool,
    /// Lift the integration sandbox's quota of 5 indirect resellers, to rehearse
    /// manifests with more (Partner Center itself keeps the quota).
    #[arg(long, env = "CSPCTL_SIM_NO_SANDBOX_QUOTAS")]
    no_sandbox_quotas: bool,
    /// The provider's tenant id.
    #[arg(
        long,
        env = "CSPCTL_SIM_PARTNER_TENANT_ID",
        default_value = sim::DEFAULT_PARTNER_TENANT_ID
    )]
    partner_tenant_id: String,
    /// The provider's MPN id.
    #[arg(long, env = "CSPCTL_SIM_PARTNER_MPN_ID", default_value = sim::DEFAULT_PARTNER_MPN_ID)]
    partner_mpn_id: String,
    /// The provider's name.
    #[arg(
        long,
        env = "CSPCTL_SIM_PARTNER_NAME",
        default_value = sim::DEFAULT_PARTNER_NAME
    )]
    partner_name: String,
    /// The application (client) id accepted by the token endpoint.
    #[arg(long, env = "CSPCTL_SIM_CLIENT_ID", default_value = sim::DEFAULT_CLIENT_ID)]
    client_id: String,
    /// The client secret accepted by the token endpoint.
    #[arg(
        long,
        env = "CSPCTL_SIM_CLIENT_SECRET",
        default_value = sim::DEFAULT_CLIENT_SECRET,
        hide_env_values = true
    )]
    client_secret: String,
    /// The initial refresh token accepted by the token endpoint.
    #[arg(
        long,
        env = "CSPCTL_SIM_REFRESH_TOKEN",
        default_value = sim::DEFAULT_REFRESH_TOKEN,
        hide_env_values = true
    )]
    refresh_token: String,
    /// Seconds from order creation to completion (simulated clock).
    #[arg(long, env = "CSPCTL_SIM_PROVISIONING_DELAY", default_value_t = sim::DEFAULT_PROVISIONING_DELAY_SECONDS)]
    provisioning_delay: u64,
    /// Seconds before a new order appears in the order list (simulated clock).
    #[arg(long, env = "CSPCTL_SIM_ORDER_LIST_LAG", default_value_t = sim::DEFAULT_ORDER_LIST_LAG_SECONDS)]
    order_list_lag: u64,
    /// Added latency in ms: `N` or `MIN-MAX`.
    #[arg(long, env = "CSPCTL_SIM_LATENCY_MS", value_parser = parse_latency)]
    latency_ms: Option<(u64, u64)>,
    /// Requests per minute per partner tenant before 429.
    #[arg(long, env = "CSPCTL_SIM_PARTNER_RPM")]
    partner_rpm: Option<u32>,
    /// Requests per minute per (partner, customer) before 429.
    #[arg(long, env = "CSPCTL_SIM_CUSTOMER_RPM")]
    customer_rpm: Option<u32>,
    /// Fraction (0..1) of API requests answered 503.
    #[arg(long, env = "CSPCTL_SIM_SERVER_ERROR_RATE", default_value_t = 0.0)]
    server_error_rate: f64,
    /// Fraction (0..1) of committed changes whose connection then closes unanswered.
    #[arg(long, env = "CSPCTL_SIM_DROP_RATE", default_value_t = 0.0)]
    drop_rate: f64,
    /// Seconds after creation during which GET /v1/customers/{id} answers 404.
    #[arg(long, env = "CSPCTL_SIM_READ_AFTER_CREATE_LAG", default_value_t = 0)]
    read_after_create_lag: u64,
    /// Fraction (0..1) of API requests answered 429 (`Retry-After: 1`) regardless
    /// of the per-minute limits.
    #[arg(long, env = "CSPCTL_SIM_THROTTLE_RATE", default_value_t = 0.0)]
    throttle_rate: f64,
    /// Leave subscriptions still provisioning out of the subscription list (GET
    /// by id still finds them).
    #[arg(long, env = "CSPCTL_SIM_PENDING_SUBSCRIPTIONS_UNLISTED")]
    pending_subscriptions_unlisted: bool,
    /// Answer some requests in a documented response shape: `NAME` or `NAME=RATE`
    /// (RATE in 0..=1, default 1), repeatable or comma-separated. Names: bom,
    /// pascal-case, documented-subscription, pending-checkout, split-checkout,
    /// accepted-patch (docs/simulator.md).
    #[arg(
        long = "variant",
        value_name = "NAME[=RATE]",
        env = "CSPCTL_SIM_VARIANT",
        value_delimiter = ',',
        value_parser = parse_variant
    )]
    variants: Vec<(Variant, f64)>,
    /// Every documented response-shape variant at rate 1 (a `--variant` given too
    /// sets its own rate).
    #[arg(long, env = "CSPCTL_SIM_DOCUMENTED")]
    documented: bool,
    /// Seed of the fault and variant decisions.
    #[arg(long, env = "CSPCTL_SIM_FAULT_SEED", default_value_t = 0)]
    fault_seed: u64,
    /// Simulated start time (RFC 3339 UTC); default: now (honours CSPCTL_NOW).
    #[arg(long, env = "CSPCTL_SIM_START_TIME")]
    start_time: Option<String>,
    /// Do not add real elapsed time to the simulated clock (it moves only through
    /// POST /_sim/clock/advance).
    #[arg(long, env = "CSPCTL_SIM_FROZEN_CLOCK")]
    frozen_clock: bool,
    /// Seed of the id generator.
    #[arg(long, env = "CSPCTL_SIM_ID_SEED")]
    id_seed: Option<u64>,
}

/// `NAME` or `NAME=RATE` of `--variant`.
fn parse_variant(text: &str) -> Result<(Variant, f64), String> {
    let (name, rate) = match text.split_once('=') {
        Some((name, rate)) => {
            let rate = rate
                .trim()
                .parse::<f64>()
                .map_err(|e| format!("rate `{rate}`: {e}"))?;
            (name, rate)
        }
        None => (text, 1.0),
    };
    let variant = Variant::parse(name).ok_or_else(|| {
        let names: Vec<&str> = Variant::ALL.iter().map(|v| v.name()).collect();
        format!(
            "unknown variant `{}` (one of {})",
            name.trim(),
            names.join(", ")
        )
    })?;
    if !(0.0..=1.0).contains(&rate) {
        return Err(format!("rate {rate} is not between 0 and 1"));
    }
    Ok((variant, rate))
}

fn parse_latency(text: &str) -> Result<(u64, u64), String> {
    let parse = |t: &str| t.trim().parse::<u64>().map_err(|e| format!("`{t}`: {e}"));
    match text.split_once('-') {
        Some((a, b)) => {
            let (min, max) = (parse(a)?, parse(b)?);
            if min > max {
                return Err(format!("{min} is more than {max}"));
            }
            Ok((min, max))
        }
        None => parse(text).map(|n| (n, n)),
    }
}

pub fn run(command: Command, settings: &Settings) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => serve(*args, settings),
        Command::AddReseller {
            target,
            tenant_id,
            mpn_id,
            name,
            location,
        } => admin(
            &target,
            "/_sim/resellers",
            serde_json::json!({"tenantId": tenant_id, "mpnId": mpn_id, "name": name, "location": location}),
        ),
        Command::AcceptRelationship {
            target,
            customer,
            reseller,
        } => admin(
            &target,
            &format!("/_sim/customers/{customer}/accept-relationship"),
            serde_json::json!({"resellerTenantId": reseller}),
        ),
        Command::AdvanceClock { target, seconds } => admin(
            &target,
            "/_sim/clock/advance",
            serde_json::json!({"seconds": seconds}),
        ),
    }
}

/// POSTs to a simulator admin endpoint and prints its answer; a refusal is an error
/// carrying the simulator's description.
fn admin(target: &Target, path: &str, body: serde_json::Value) -> anyhow::Result<ExitCode> {
    let base = target.endpoint.trim_end_matches('/');
    let url = format!("{base}{path}");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let (status, text) = runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(&url)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("POST {url}: is `cspctl sim serve` running there?"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        anyhow::Ok((status, text))
    })?;
    if !status.is_success() {
        let description = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| {
                v.get("description")
                    .and_then(|d| d.as_str())
                    .map(str::to_owned)
            })
            .unwrap_or(text);
        anyhow::bail!("POST {url}: HTTP {}: {description}", status.as_u16());
    }
    outln!("{text}")?;
    Ok(ExitCode::SUCCESS)
}

fn config(args: ServeArgs, settings: &Settings) -> anyhow::Result<(SimConfig, SocketAddr)> {
    let seed = match &args.seed {
        Some(path) => {
            let text = std::fs::read(path)
                .with_context(|| format!("reading seed file {}", path.display()))?;
            let seed: Seed = serde_json::from_slice(&text)
                .with_context(|| format!("{} is not a valid seed file", path.display()))?;
            Some(seed)
        }
        None => None,
    };
    let (latency_min_ms, latency_max_ms) = args.latency_ms.unwrap_or((0, 0));
    let mut variants = if args.documented {
        Variants::every(1.0)
    } else {
        Variants::default()
    };
    for (variant, rate) in &args.variants {
        variants.set(*variant, *rate);
    }
    let defaults = SimConfig::default();
    let config = SimConfig {
        partner_tenant_id: args.partner_tenant_id,
        partner_mpn_id: args.partner_mpn_id,
        partner_name: args.partner_name,
        client_id: args.client_id,
        client_secret: args.client_secret,
        refresh_token: args.refresh_token,
        provisioning_delay: Duration::from_secs(args.provisioning_delay),
        order_list_lag: Duration::from_secs(args.order_list_lag),
        faults: Faults {
            latency_min_ms,
            latency_max_ms,
            partner_requests_per_minute: args.partner_rpm,
            customer_requests_per_minute: args.customer_rpm,
            server_error_rate: args.server_error_rate,
            drop_after_commit_rate: args.drop_rate,
            read_after_create_lag_seconds: args.read_after_create_lag,
            pending_subscriptions_unlisted: args.pending_subscriptions_unlisted,
            throttle_rate: args.throttle_rate,
            variants,
            seed: args.fault_seed,
        },
        start_time: args.start_time.unwrap_or_else(|| settings.now.clone()),
        frozen_clock: args.frozen_clock,
        sandbox: args.sandbox,
        sandbox_reseller_limit: (!args.no_sandbox_quotas)
            .then_some(defaults.sandbox_reseller_limit)
            .flatten(),
        state_path: args.state,
        seed,
        id_seed: args.id_seed.unwrap_or(defaults.id_seed),
    };
    // Checked here so a bad value fails before `listening on` is printed.
    if let Some(path) = config.state_path.as_ref().filter(|p| p.exists()) {
        let text = std::fs::read(path)
            .with_context(|| format!("reading state file {}", path.display()))?;
        serde_json::from_slice::<crate::sim::State>(&text)
            .with_context(|| format!("{} is not a simulator state file", path.display()))?;
    }
    anyhow::ensure!(
        crate::sim::clock::parse_rfc3339(&config.start_time).is_some(),
        "--start-time must be an RFC 3339 UTC time such as 2026-01-31T12:00:00Z, got `{}`",
        config.start_time
    );
    config
        .faults
        .check()
        .map_err(anyhow::Error::msg)
        .context("invalid fault options")?;
    Ok((config, args.listen))
}

fn serve(args: ServeArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let (config, listen) = config(args, settings)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on http://{addr}").context("writing to stdout")?;
        stdout.flush().context("writing to stdout")?;
        drop(stdout);
        let (_subscription, mut signals) = super::signals::subscribe();
        let stopped = async move {
            signals.recv().await;
        };
        crate::sim::serve(config, listener, stopped).await
    })?;
    Ok(ExitCode::from(super::EXIT_INTERRUPTED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_parse_with_optional_rates() {
        assert_eq!(parse_variant("bom"), Ok((Variant::Bom, 1.0)));
        assert_eq!(
            parse_variant("split-checkout=0.25"),
            Ok((Variant::SplitCheckout, 0.25))
        );
        assert!(parse_variant("pascal-case=2").is_err());
        assert!(parse_variant("pascal-case=NaN").is_err());
        assert!(parse_variant("nothing").is_err());
    }
}
