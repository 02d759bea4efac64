//! `backroom`: the one binary. Serves the HTTP API, runs the demo store, migrates, checks the
//! inventory invariants, manages users and tokens, and benchmarks.

mod bench;
mod bench_analytics;
mod bench_console;
mod bench_support;
mod cli;
mod config;
mod demo;
mod import_cli;
mod plan_cli;
mod promo_cli;
mod report_cli;

use anyhow::{Context, Result, bail};
use backroom::http::{App, serve};
use backroom_core::api::NewUser;
use backroom_core::{Ctx, Db, auth, inventory::check};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::sync::OnceLock;

#[derive(Parser)]
#[command(
    name = "backroom",
    version,
    about = "Backroom: the back office of an online business"
)]
struct Cli {
    /// `sqlite://path/to/file.db` (created if missing) or `postgres://user:pass@host/db`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://backroom.db",
        global = true
    )]
    database_url: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve {
        #[arg(long, env = "BACKROOM_BIND", default_value = "127.0.0.1:8080")]
        bind: String,
    },
    /// Create (once) and serve a demo store with products, stock, customers and 90 days of orders.
    Demo {
        #[arg(long, env = "BACKROOM_BIND", default_value = "127.0.0.1:8080")]
        bind: String,
        /// The demo database (ignores DATABASE_URL unless given explicitly here).
        #[arg(long, default_value = "sqlite://backroom-demo.db")]
        demo_database_url: String,
        /// Seed only; do not serve.
        #[arg(long)]
        seed_only: bool,
    },
    /// Apply pending schema migrations and exit.
    Migrate,
    /// Print the effective configuration: every setting, its value (secrets hidden) and where
    /// it came from (flag, environment or default).
    Config,
    /// Verify the inventory invariants; exit 1 if any is violated.
    Check {
        #[arg(long)]
        json: bool,
    },
    /// Staff accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Store settings: currency, time zone, taxes, shipping rates.
    Settings {
        #[command(subcommand)]
        command: SettingsCommand,
    },
    /// API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Load benchmarks.
    Bench(bench::BenchArgs),
    /// Import products, stock or order history from CSV files.
    Import(import_cli::ImportArgs),
    /// KPIs and analytics reports: kpis, funnel, cohorts, clv, reconciliation.
    Report {
        #[command(subcommand)]
        command: report_cli::ReportCommand,
    },
    /// Promotions and discount codes: list, create, switch off or on, generate, export and
    /// import codes.
    Promotions {
        #[command(subcommand)]
        command: promo_cli::PromotionsCommand,
    },
    /// Operating budgets per month and category, and campaign budgets.
    Budgets {
        #[command(subcommand)]
        command: plan_cli::BudgetsCommand,
    },
    /// Revenue and order targets per month.
    Targets {
        #[command(subcommand)]
        command: plan_cli::TargetsCommand,
    },
    /// Storefront analytics upkeep: refresh, rebuild, import-spend.
    Analytics {
        #[command(subcommand)]
        command: report_cli::AnalyticsCommand,
    },
    /// Export products, stock, orders, customers, the ledger or tickets as CSV or JSON lines.
    Export {
        /// `products`, `stock`, `orders`, `customers`, `ledger` or `tickets`.
        what: String,
        /// `csv` (default) or `jsonl`.
        #[arg(long, default_value = "csv")]
        format: String,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
        /// Orders placed / ledger rows written at or after this time or date.
        #[arg(long)]
        from: Option<String>,
        /// ... and before this one.
        #[arg(long)]
        to: Option<String>,
        /// Orders of this channel (code).
        #[arg(long)]
        channel: Option<String>,
        /// Stock and ledger rows of this location (code).
        #[arg(long)]
        location: Option<String>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user. The password comes from BACKROOM_PASSWORD or --password.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// admin, operations, inventory, fulfillment, support, marketing, analyst or storefront.
        #[arg(long)]
        role: String,
        #[arg(long, env = "BACKROOM_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// List users.
    List,
}

#[derive(Subcommand)]
enum SettingsCommand {
    /// Print the settings.
    Show {
        /// As JSON (the API's shape).
        #[arg(long)]
        json: bool,
    },
    /// Change settings, all or nothing: `backroom settings set currency=EUR timezone=Europe/Rome
    /// default_tax_rate=0.22 'tax_rates=[{"country":"FR","rate":"0.2"}]'`. Lists are JSON.
    Set {
        /// `KEY=VALUE` pairs.
        #[arg(required = true)]
        pairs: Vec<String>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create an API token for a user; the secret is printed once.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "cli")]
        name: String,
    },
}

/// This process's configuration, read and validated once at start-up.
static CONFIG: OnceLock<config::Config> = OnceLock::new();

#[allow(
    clippy::expect_used,
    reason = "main loads it before anything runs; a missing one is a defect to stop on"
)]
fn cfg() -> &'static config::Config {
    CONFIG
        .get()
        .expect("the configuration is loaded at start-up")
}

fn main() -> Result<()> {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let source = match matches.value_source("database_url") {
        Some(clap::parser::ValueSource::CommandLine) => config::Source::Flag,
        Some(clap::parser::ValueSource::EnvVariable) => config::Source::Environment,
        _ => config::Source::Default,
    };
    let loaded = config::Config::load((cli.database_url.clone(), source), &|k| {
        std::env::var(k).ok()
    })?;
    let filter = tracing_subscriber::EnvFilter::try_new(&loaded.log)
        .with_context(|| format!("BACKROOM_LOG={} is not a log filter", loaded.log))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let _ = CONFIG.set(loaded);
    if let Command::Bench(args) = cli.command {
        return bench::run(&cli.database_url, args);
    }
    quiet_on_broken_pipe();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match rt.block_on(run(cli)) {
        Err(e) if is_broken_pipe(&e) => Ok(()),
        other => other,
    }
}

/// A reader that stops early (`backroom report ... | head`) ends the command quietly, with
/// success, as it does for `git log | head`: the standard output's broken pipe is not an error of
/// ours. `println!` reports it by panicking, so the panic hook ends the process for that one case.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let p = info.payload();
        let msg = p
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| p.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

async fn open(url: &str) -> Result<Db> {
    Db::open_with(url, &cfg().db)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("opening {}", redact(url)))
}

use config::redact;

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

async fn serve_on(db: Db, bind: &str) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding {bind}"))?;
    let addr = listener.local_addr()?;
    println!("Backroom is listening on http://{addr} (API reference: http://{addr}/api/docs)");
    let mut app = App::new(db);
    app.webhooks = cfg().worker.clone();
    app.jobs = cfg().jobs.clone();
    app.mail = cfg().mail.clone();
    serve(listener, app, shutdown_signal()).await?;
    Ok(())
}

async fn run(cli: Cli) -> Result<()> {
    let url = cli.database_url;
    match cli.command {
        Command::Serve { bind } => {
            let db = open(&url).await?;
            serve_on(db, &bind).await
        }
        Command::Demo {
            bind,
            demo_database_url,
            seed_only,
        } => run_demo(&bind, &demo_database_url, seed_only).await,
        Command::Config => {
            print!("{}", cfg().table());
            Ok(())
        }
        Command::Migrate => {
            open(&url).await?;
            println!("Schema is at version {}", backroom_core::migrate::latest());
            Ok(())
        }
        Command::Check { json } => run_check(&url, json).await,
        Command::User { command } => run_user(&url, command).await,
        Command::Settings { command } => run_settings(&url, command).await,
        Command::Token { command } => run_token(&url, command).await,
        Command::Export {
            what,
            format,
            output,
            from,
            to,
            channel,
            location,
        } => {
            let filters = backroom_core::analytics::export::Filters {
                from,
                to,
                channel,
                location,
            };
            run_export(&url, &what, &format, output, filters).await
        }
        Command::Import(args) => run_import(&url, args).await,
        Command::Report { command } => run_report(&url, command).await,
        Command::Promotions { command } => promo_cli::run(&open(&url).await?, command).await,
        Command::Budgets { command } => plan_cli::budgets(&open(&url).await?, command).await,
        Command::Targets { command } => plan_cli::targets(&open(&url).await?, command).await,
        Command::Analytics { command } => run_analytics(&url, command).await,
        Command::Bench(_) => bail!("unreachable"),
    }
}

/// `backroom demo`: seeds the demo store once, prints its logins, and serves it.
async fn run_demo(bind: &str, demo_database_url: &str, seed_only: bool) -> Result<()> {
    let db = open(demo_database_url).await?;
    let login = demo::ensure(&db).await?;
    println!("Demo store ready on {}", redact(demo_database_url));
    println!("  admin login: {} / {}", login.email, login.password);
    println!("  API token:   {}", login.token);
    if seed_only {
        return Ok(());
    }
    println!(
        "  try: curl -H 'Authorization: Bearer {}' http://{bind}/api/v1/orders?limit=2",
        login.token
    );
    serve_on(db, bind).await
}

/// `backroom check`: prints the inventory invariants' violations; exits 1 if there is any.
async fn run_check(url: &str, json: bool) -> Result<()> {
    let db = open(url).await?;
    let report = db
        .read(check::run)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for v in &report.violations {
            println!(
                "VIOLATION {} sku={} location={}: {} (recorded {}, expected {})",
                v.rule, v.sku, v.location_id, v.message, v.recorded, v.expected
            );
        }
        println!(
            "{} inventory levels checked, {} violations",
            report.levels_checked,
            report.violations.len()
        );
    }
    if !report.ok {
        std::process::exit(1);
    }
    Ok(())
}

/// `backroom user create|list`: staff accounts.
async fn run_user(url: &str, command: UserCommand) -> Result<()> {
    let db = open(url).await?;
    match command {
        UserCommand::Create {
            email,
            name,
            role,
            password,
        } => {
            let new = NewUser {
                email,
                name,
                role,
                password,
            };
            let prepared =
                std::sync::Arc::new(auth::prepare_user(&new).map_err(|e| anyhow::anyhow!("{e}"))?);
            let user = db
                .write(move |tx| auth::create_user(tx, &Ctx::system_now(), &prepared))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "Created user {} <{}> with role {} (id {})",
                user.name, user.email, user.role, user.id
            );
        }
        UserCommand::List => {
            let users = db
                .read(|tx| auth::list_users(tx, &Ctx::system_now()))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            for u in users {
                println!(
                    "{:>5}  {:<12} {:<8} {} <{}>",
                    u.id,
                    u.role,
                    if u.active { "active" } else { "inactive" },
                    u.name,
                    u.email
                );
            }
        }
    }
    Ok(())
}

/// `backroom settings show|set`: prints the store settings, after changing them for `set`.
async fn run_settings(url: &str, command: SettingsCommand) -> Result<()> {
    let db = open(url).await?;
    let s = match command {
        SettingsCommand::Show { json } => {
            let s = db
                .read(backroom_core::settings::current)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
                return Ok(());
            }
            s
        }
        SettingsCommand::Set { pairs } => {
            let pairs = pairs
                .iter()
                .map(|p| {
                    p.split_once('=')
                        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                        .ok_or_else(|| anyhow::anyhow!("{p:?} is not KEY=VALUE"))
                })
                .collect::<Result<Vec<_>>>()?;
            db.write(move |tx| {
                backroom_core::settings::set_as(tx, &cli::ctx("settings (CLI)"), &pairs)
            })
            .await
            .map_err(cli::failed)?
        }
    };
    print_settings(&s);
    Ok(())
}

/// `backroom token create`: issues an API token and prints its secret once.
async fn run_token(url: &str, command: TokenCommand) -> Result<()> {
    let db = open(url).await?;
    let TokenCommand::Create { email, name } = command;
    let t = db
        .write(move |tx| auth::issue_api_token(tx, &Ctx::system_now(), &email, &name))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{}", t.token);
    eprintln!(
        "Token {} for {} <{}> created; it will not be shown again.",
        t.details.prefix, t.user.name, t.user.email
    );
    Ok(())
}

/// `backroom export`: writes a whole table as CSV or JSON lines to a file or standard output.
async fn run_export(
    url: &str,
    what: &str,
    format: &str,
    output: Option<std::path::PathBuf>,
    filters: backroom_core::analytics::export::Filters,
) -> Result<()> {
    use backroom_core::analytics::export;
    let kind = export::Kind::parse(what)
        .context("what must be products, stock, orders, customers, ledger or tickets")?;
    let format = match format {
        "csv" => export::Format::Csv,
        "jsonl" => export::Format::JsonLines,
        _ => bail!("--format must be csv or jsonl"),
    };
    let db = open(url).await?;
    let mut out: Box<dyn std::io::Write + Send> = match &output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let n = export::write_all(&db, kind, filters, format, 1000, &mut *out)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    drop(out);
    if output.is_some() {
        eprintln!("{n} rows written");
    }
    Ok(())
}

/// `backroom import`: imports products, stock, customers or order history from CSV files.
async fn run_import(url: &str, args: import_cli::ImportArgs) -> Result<()> {
    let db = open(url).await?;
    import_cli::run(&db, args).await
}

/// `backroom report`: prints a KPI or analytics report.
async fn run_report(url: &str, command: report_cli::ReportCommand) -> Result<()> {
    let db = open(url).await?;
    report_cli::report(&db, command).await
}

/// `backroom analytics`: storefront analytics upkeep.
async fn run_analytics(url: &str, command: report_cli::AnalyticsCommand) -> Result<()> {
    let db = open(url).await?;
    report_cli::analytics(&db, command).await
}

fn print_settings(s: &backroom_core::settings::StoreSettings) {
    println!("store_name               {}", s.store_name);
    println!("currency                 {}", s.currency);
    println!("timezone                 {}", s.timezone);
    println!("attribution_window_days  {}", s.attribution_window_days);
    println!("prices_include_tax       {}", s.prices_include_tax);
    println!("default_tax_rate         {}", s.default_tax_rate);
    println!("shipping_taxed           {}", s.shipping_taxed);
    println!("tax_rates                {}", s.tax_rates.len());
    for t in &s.tax_rates {
        println!(
            "  {}{:<10} {}",
            t.country,
            t.region
                .as_deref()
                .map(|r| format!("/{r}"))
                .unwrap_or_default(),
            t.rate
        );
    }
    println!("shipping_rates           {}", s.shipping_rates.len());
    for r in &s.shipping_rates {
        println!(
            "  {:<12} {:<28} {:>10}  {}{}",
            r.method,
            r.name,
            r.price,
            if r.countries.is_empty() {
                "everywhere".to_string()
            } else {
                r.countries.join(",")
            },
            r.free_above
                .map(|f| format!(", free from {f}"))
                .unwrap_or_default()
        );
    }
}
