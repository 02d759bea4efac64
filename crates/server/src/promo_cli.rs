//! `backroom promotions ...`: list, create, switch off or on, and manage codes (generate a
//! batch, export, import) from the command line, with the API's rules and audit.

use crate::cli::failed;
use anyhow::{Result, anyhow};
use backroom_core::promotions::{self, NewPromotion, Promotion, PromotionPatch, codes};
use backroom_core::{Ctx, Db};
use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum PromotionsCommand {
    /// Promotions, newest first, with their codes and uses.
    List {
        /// table (default) or json.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Create a promotion. Conditions, tiers and buy X get Y terms are JSON, as the API takes
    /// them: `--conditions '{"product_types":["Shoes"],"min_subtotal":5000}'`.
    Create(Box<CreateArgs>),
    /// Switch a promotion off: it stops applying to the next order.
    Deactivate { id: i64 },
    /// Switch a promotion back on.
    Activate { id: i64 },
    /// A promotion's codes.
    Codes {
        #[command(subcommand)]
        command: CodesCommand,
    },
}

/// `backroom promotions create`'s flags.
#[derive(clap::Args)]
pub struct CreateArgs {
    #[arg(long)]
    name: String,
    /// percentage, fixed_amount, free_shipping or buy_x_get_y.
    #[arg(long)]
    kind: String,
    /// A percentage ("10") or minor units ("500").
    #[arg(long)]
    value: Option<String>,
    /// order (default) or lines.
    #[arg(long)]
    applies_to: Option<String>,
    #[arg(long)]
    code: Option<String>,
    /// Applied to every order that qualifies, without a code.
    #[arg(long)]
    automatic: bool,
    /// Stacks with other promotions that combine.
    #[arg(long)]
    combines: bool,
    #[arg(long)]
    conditions: Option<String>,
    #[arg(long)]
    tiers: Option<String>,
    #[arg(long)]
    buy_x_get_y: Option<String>,
    #[arg(long)]
    campaign: Option<String>,
    #[arg(long)]
    usage_limit: Option<i64>,
    #[arg(long)]
    usage_limit_per_customer: Option<i64>,
    /// RFC 3339, or a date or local time in the store's zone.
    #[arg(long)]
    starts_at: Option<String>,
    #[arg(long)]
    ends_at: Option<String>,
}

#[derive(clap::Subcommand)]
pub enum CodesCommand {
    /// Generate unique random codes (single use unless --usage-limit-per-code says otherwise).
    Generate {
        promotion_id: i64,
        #[arg(long)]
        count: i64,
        #[arg(long)]
        prefix: Option<String>,
        #[arg(long)]
        length: Option<i64>,
        #[arg(long)]
        usage_limit_per_code: Option<i64>,
    },
    /// Every code as CSV: code,usage_limit,times_used,batch.
    Export {
        promotion_id: i64,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Import codes from a CSV file with a `code` column (and optionally `usage_limit`).
    Import {
        promotion_id: i64,
        file: PathBuf,
        /// Uses each code allows when its row gives none.
        #[arg(long)]
        usage_limit_per_code: Option<i64>,
    },
}

fn ctx() -> Ctx {
    crate::cli::ctx("promotions (CLI)")
}

fn json<T: serde::de::DeserializeOwned>(field: &str, v: Option<String>) -> Result<Option<T>> {
    v.map(|s| serde_json::from_str(&s).map_err(|e| anyhow!("--{field}: {e}")))
        .transpose()
}

pub async fn run(db: &Db, command: PromotionsCommand) -> Result<()> {
    match command {
        PromotionsCommand::List { format } => {
            let list = db
                .read(|tx| promotions::list(tx, &ctx()))
                .await
                .map_err(failed)?;
            if format == "json" {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                print_table(&list);
            }
        }
        PromotionsCommand::Create(args) => {
            let CreateArgs {
                name,
                kind,
                value,
                applies_to,
                code,
                automatic,
                combines,
                conditions,
                tiers,
                buy_x_get_y,
                campaign,
                usage_limit,
                usage_limit_per_customer,
                starts_at,
                ends_at,
            } = *args;
            let p = NewPromotion {
                name,
                kind,
                value,
                applies_to,
                code,
                automatic: Some(automatic),
                combines: Some(combines),
                conditions: json("conditions", conditions)?,
                tiers: json("tiers", tiers)?,
                buy_x_get_y: json("buy-x-get-y", buy_x_get_y)?,
                campaign,
                usage_limit,
                usage_limit_per_customer,
                starts_at,
                ends_at,
            };
            let made = db
                .write(move |tx| promotions::create(tx, &ctx(), &p))
                .await
                .map_err(failed)?;
            println!("created promotion {} ({})", made.id, made.name);
        }
        PromotionsCommand::Deactivate { id } | PromotionsCommand::Activate { id } => {
            let active = matches!(command, PromotionsCommand::Activate { .. });
            let p = db
                .write(move |tx| {
                    promotions::update(
                        tx,
                        &ctx(),
                        id,
                        &PromotionPatch {
                            active: Some(active),
                            ..Default::default()
                        },
                    )
                })
                .await
                .map_err(failed)?;
            println!(
                "promotion {} ({}) is {}",
                p.id,
                p.name,
                if p.active { "active" } else { "off" }
            );
        }
        PromotionsCommand::Codes { command } => run_codes(db, command).await?,
    }
    Ok(())
}

async fn run_codes(db: &Db, command: CodesCommand) -> Result<()> {
    match command {
        CodesCommand::Generate {
            promotion_id,
            count,
            prefix,
            length,
            usage_limit_per_code,
        } => {
            let n = codes::NewCodes {
                count,
                prefix,
                length,
                usage_limit_per_code,
            };
            let added = db
                .write(move |tx| codes::generate(tx, &ctx(), promotion_id, &n))
                .await
                .map_err(failed)?;
            println!(
                "{} codes added to promotion {} (batch {}); export them with `backroom promotions codes export {}`",
                added.added, promotion_id, added.batch, promotion_id
            );
        }
        CodesCommand::Export {
            promotion_id,
            output,
        } => {
            let csv = db
                .read(move |tx| codes::export_csv(tx, &ctx(), promotion_id))
                .await
                .map_err(failed)?;
            match output {
                Some(path) => std::fs::write(&path, csv)
                    .map_err(|e| anyhow!("writing {}: {e}", path.display()))?,
                None => print!("{csv}"),
            }
        }
        CodesCommand::Import {
            promotion_id,
            file,
            usage_limit_per_code,
        } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| anyhow!("reading {}: {e}", file.display()))?;
            let added = db
                .write(move |tx| {
                    codes::import_csv(tx, &ctx(), promotion_id, &text, usage_limit_per_code)
                })
                .await
                .map_err(failed)?;
            println!(
                "{} codes added, {} refused",
                added.added,
                added.refused.len()
            );
            for r in added.refused.iter().take(50) {
                println!("  row {}: {} ({})", r.row, r.code, r.reason);
            }
        }
    }
    Ok(())
}

fn print_table(list: &[Promotion]) {
    println!(
        "{:>5}  {:<28} {:<14} {:>8}  {:<12} {:>6} {:>8}  status",
        "id", "name", "kind", "value", "trigger", "codes", "used"
    );
    for p in list {
        let trigger = if p.automatic {
            "automatic".to_string()
        } else {
            p.code.clone().unwrap_or_else(|| "codes".into())
        };
        println!(
            "{:>5}  {:<28} {:<14} {:>8}  {:<12} {:>6} {:>8}  {}",
            p.id,
            p.name.chars().take(28).collect::<String>(),
            p.kind,
            p.value.as_deref().unwrap_or("-"),
            trigger.chars().take(12).collect::<String>(),
            p.codes,
            p.times_used,
            if p.active { "active" } else { "off" }
        );
    }
}
