//! `backroom import products|stock|customers|orders|tickets`: read a file (or a folder of them), validate every row,
//! apply what is good (or nothing, with `--strict`), and print what happened, with a progress
//! line on a terminal and a file of rejected rows on request.

use anyhow::{Context, Result, bail};
use backroom_core::imports::{self as import, Options, OrderOptions, StockMode, Summary};
use backroom_core::{Actor, Db};
use backroom_import::{Format, RowError, customers, orders, products, retail, stock};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

#[derive(clap::Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Args, Clone)]
struct Common {
    /// Validate and report what would change; apply nothing.
    #[arg(long)]
    dry_run: bool,
    /// Apply nothing if any row is bad.
    #[arg(long)]
    strict: bool,
    /// Write the rejected rows and their reasons to this CSV file.
    #[arg(long)]
    rejects: Option<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Subcommand)]
enum What {
    /// Products and variants from Shopify, WooCommerce, Magento or Backroom CSV.
    Products {
        file: PathBuf,
        /// `shopify`, `woocommerce`, `magento` or `backroom` (detected from the header otherwise).
        #[arg(long)]
        format: Option<String>,
        /// Set on-hand stock at this location (code) from the file's quantities.
        #[arg(long)]
        location: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Stock per SKU and location: `sku,location,quantity`.
    Stock {
        file: PathBuf,
        /// `set` (a count: the quantity is what is on hand) or `add`.
        #[arg(long, default_value = "set")]
        mode: String,
        /// The reason recorded in the ledger.
        #[arg(long, default_value = "import")]
        reason: String,
        #[command(flatten)]
        common: Common,
    },
    /// Customers by email: Backroom's customer export or Magento's customer CSV.
    Customers {
        file: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// A ticket history, one row per message: ticket_ref, ticket_created_at, channel,
    /// requester_email, subject, priority, status, solved_at, message_at, author_kind,
    /// agent_email, public, body, satisfaction. Tickets already imported are left unchanged.
    Tickets {
        file: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Historical orders: UCI Online Retail layout; a folder imports every CSV in it, in name order.
    Orders {
        paths: Vec<PathBuf>,
        /// The channel (code) the orders came through.
        #[arg(long, default_value = "online")]
        channel: String,
        /// The currency of the file's prices (the store's by default).
        #[arg(long)]
        currency: Option<String>,
        /// The time zone of the file's local times (the store's by default).
        #[arg(long)]
        timezone: Option<String>,
        /// `online_retail`, `shopify_orders` or `backroom_orders` (detected from the header).
        #[arg(long)]
        format: Option<String>,
        /// Move stock at this location (code) for the history: shipped units leave, cancelled
        /// ones come back. Left alone by default.
        #[arg(long)]
        stock_location: Option<String>,
        #[command(flatten)]
        common: Common,
    },
}

fn cli_actor() -> Actor {
    Actor {
        user_id: 0,
        name: "import (CLI)".into(),
        role: backroom_domain::roles::Role::Admin,
    }
}

fn options(c: &Common, location: Option<String>) -> Options {
    Options {
        dry_run: c.dry_run,
        strict: c.strict,
        location,
    }
}

/// A progress line on stderr when it is a terminal: rows, rows/s, percent and time left.
struct Progress {
    on: bool,
    started: Instant,
    total_bytes: u64,
    last: Instant,
}

impl Progress {
    fn new(total_bytes: u64) -> Progress {
        Progress {
            on: std::io::stderr().is_terminal(),
            started: Instant::now(),
            total_bytes,
            last: Instant::now(),
        }
    }

    fn show(&mut self, rows: u64, bytes: u64, force: bool) {
        if !self.on || (!force && self.last.elapsed().as_millis() < 200) {
            return;
        }
        self.last = Instant::now();
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let frac = if self.total_bytes > 0 {
            (bytes as f64 / self.total_bytes as f64).min(1.0)
        } else {
            0.0
        };
        let eta = if frac > 0.0 { secs / frac - secs } else { 0.0 };
        let width = 30;
        let filled = (frac * width as f64) as usize;
        eprint!(
            "\r[{}{}] {:>3.0}%  {rows} rows  {:.0} rows/s  ETA {:.0}s   ",
            "#".repeat(filled),
            " ".repeat(width - filled),
            frac * 100.0,
            rows as f64 / secs,
            eta
        );
        let _ = std::io::stderr().flush();
    }
}

pub async fn run(db: &Db, args: ImportArgs) -> Result<()> {
    let started = Instant::now();
    let (summary, common, what) = match args.what {
        What::Products {
            file,
            format,
            location,
            common,
        } => {
            let s = import_products(db, &file, format, location, &common).await?;
            (s, common, "rows")
        }
        What::Stock {
            file,
            mode,
            reason,
            common,
        } => {
            let s = import_stock(db, &file, &mode, reason, &common).await?;
            (s, common, "stock rows")
        }
        What::Customers { file, common } => {
            let s = import_customers(db, &file, &common).await?;
            (s, common, "rows")
        }
        What::Tickets { file, common } => {
            let f = std::fs::File::open(&file)
                .with_context(|| format!("opening {}", file.display()))?;
            let (records, errors, rows) =
                backroom_import::tickets::read(std::io::BufReader::new(f));
            let s = import::tickets(
                db,
                cli_actor(),
                records,
                errors,
                rows,
                &options(&common, None),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            (s, common, "rows")
        }
        What::Orders {
            paths,
            channel,
            currency,
            timezone,
            format,
            stock_location,
            common,
        } => {
            let order_options = OrderOptions {
                channel,
                currency,
                timezone,
                stock_location,
            };
            let s = import_orders(db, &paths, order_options, format, &common).await?;
            (s, common, "rows")
        }
    };
    finish(&summary, &common, what, started)
}

/// Products and variants from a catalog CSV, with the progress line.
async fn import_products(
    db: &Db,
    file: &Path,
    format: Option<String>,
    location: Option<String>,
    common: &Common,
) -> Result<Summary> {
    let format = format
        .map(|f| {
            Format::parse(&f).context("--format must be shopify, woocommerce, magento or backroom")
        })
        .transpose()?;
    let exponent = store_exponent(db).await?;
    let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let parsed = products::read(std::io::BufReader::new(f), format, exponent);
    let mut bar = Progress::new(0);
    import::products_with_progress(
        db,
        cli_actor(),
        parsed,
        &options(common, location),
        |done, total| {
            bar.total_bytes = total;
            bar.show(done, done, false);
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Stock per SKU and location, set or added, streamed with the progress line.
async fn import_stock(
    db: &Db,
    file: &Path,
    mode: &str,
    reason: String,
    common: &Common,
) -> Result<Summary> {
    let mode = match mode {
        "set" => StockMode::Set,
        "add" => StockMode::Add,
        _ => bail!("--mode must be set or add"),
    };
    let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let (mut rows, mut header_error) = match stock::StockReader::new(std::io::BufReader::new(f)) {
        Ok(r) => (Some(r), None),
        Err(e) => (None, Some(e)),
    };
    let total = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    let mut bar = Progress::new(total);
    let mut n = 0u64;
    let next = move || match rows.as_mut() {
        Some(r) => {
            let item = r.next();
            n += 1;
            bar.show(n, r.bytes_read(), false);
            item
        }
        None => header_error.take().map(Err),
    };
    import::stock_stream(db, cli_actor(), next, mode, reason, &options(common, None))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Customers by email from a customer CSV.
async fn import_customers(db: &Db, file: &Path, common: &Common) -> Result<Summary> {
    let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let (records, errors) = customers::read(std::io::BufReader::new(f));
    import::customers(db, cli_actor(), records, errors, &options(common, None))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Historical orders from files (or folders) of one layout, rejected rows in file and line order.
async fn import_orders(
    db: &Db,
    paths: &[PathBuf],
    order_options: OrderOptions,
    format: Option<String>,
    common: &Common,
) -> Result<Summary> {
    let files = expand(paths)?;
    let (oc, exponent) = import::order_context(db, &cli_actor(), &order_options)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let total_bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    let format = order_format(format.as_deref(), &files)?;
    let opts = options(common, None);
    let mut s =
        match format {
            Format::OnlineRetail => {
                stream_history(
                    db,
                    oc,
                    files,
                    &opts,
                    import::apply_invoices,
                    move |f| {
                        Ok(
                            Box::new(retail::InvoiceReader::new(f, exponent)?.map(|i| match i {
                                retail::Item::Invoice(v) => Ok(v),
                                retail::Item::Rejected(e, _) => Err(e),
                            })) as Records<retail::Invoice>,
                        )
                    },
                    |v, name| v.file = Some(name.to_string()),
                )
                .await
            }
            Format::ShopifyOrders | Format::BackroomOrders => {
                stream_history(
                    db,
                    oc,
                    files,
                    &opts,
                    import::apply_order_records,
                    move |f| {
                        Ok(Box::new(
                            orders::OrderReader::new(f, Some(format), exponent)?.map(|i| match i {
                                orders::Item::Order(v) => Ok(v),
                                orders::Item::Rejected(e) => Err(e),
                            }),
                        ) as Records<orders::OrderRecord>)
                    },
                    |v, name| v.file = Some(name.to_string()),
                )
                .await
            }
            other => bail!("{} is not an order layout", other.as_str()),
        }
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut done = Progress::new(total_bytes);
    done.show(s.rows, total_bytes, true);
    s.rejected
        .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    Ok(s)
}

/// The layout of the order files, from `--format` or the first file's header.
fn order_format(format: Option<&str>, files: &[PathBuf]) -> Result<Format> {
    Ok(match format {
        Some(f) => Format::parse(f)
            .context("--format must be online_retail, shopify_orders or backroom_orders")?,
        None => {
            let mut first = String::new();
            std::io::BufRead::read_line(
                &mut std::io::BufReader::new(std::fs::File::open(&files[0])?),
                &mut first,
            )?;
            Format::detect_line(&first)
                .context("the first file's columns match no order layout; name it with --format")?
        }
    })
}

/// Ends the progress line, writes the rejects, prints the summary and exits with its code.
fn finish(summary: &Summary, common: &Common, what: &str, started: Instant) -> Result<()> {
    if std::io::stderr().is_terminal() {
        // End the progress line.
        eprintln!();
    }
    if let Some(path) = &common.rejects {
        write_rejects(path, &summary.rejected)?;
    }
    print(summary, common, what, started.elapsed().as_secs_f64())?;
    if common.strict && !summary.rejected.is_empty() {
        bail!(
            "{} rows refused; --strict applied nothing",
            summary.rejected.len()
        );
    }
    match exit_code(summary) {
        0 => Ok(()),
        code => {
            eprintln!(
                "{} rows refused{}",
                summary.rejected.len(),
                if code == PARTIAL {
                    "; the others were applied"
                } else {
                    "; nothing was applied"
                }
            );
            std::process::exit(code)
        }
    }
}

/// The exit code of an import that applied some rows and refused others, so scripts notice.
pub const PARTIAL: i32 = 3;

/// 0 when no row was refused; 1 when rows were refused and none was taken (created, updated or
/// found unchanged); [`PARTIAL`] when some were taken and some refused. The same for every kind.
fn exit_code(s: &Summary) -> i32 {
    let taken = s.created + s.updated + s.unchanged;
    match (s.rejected.is_empty(), taken) {
        (true, _) => 0,
        (false, 0) => 1,
        (false, _) => PARTIAL,
    }
}

async fn store_exponent(db: &Db) -> Result<u32> {
    db.read(|tx| Ok(backroom_core::settings::load(tx)?.currency.exponent()))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Files named, with folders expanded to their CSV files in name order.
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x.eq_ignore_ascii_case("csv")))
                .collect();
            files.sort();
            out.extend(files);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            bail!("{} does not exist", p.display());
        }
    }
    if out.is_empty() {
        bail!("no CSV file to import");
    }
    Ok(out)
}

fn write_rejects(path: &Path, rejected: &[RowError]) -> Result<()> {
    let mut w = csv_writer(path)?;
    writeln!(w, "file,line,column,reason")?;
    for e in rejected {
        writeln!(
            w,
            "{},{},{},{}",
            quote(e.file.as_deref().unwrap_or("")),
            e.line,
            quote(e.column.as_deref().unwrap_or("")),
            quote(&e.message)
        )?;
    }
    Ok(())
}

fn csv_writer(path: &Path) -> Result<std::io::BufWriter<std::fs::File>> {
    Ok(std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    ))
}

/// A CSV field, quoted when it needs to be.
pub fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn print(s: &Summary, c: &Common, what: &str, secs: f64) -> Result<()> {
    if c.json {
        println!("{}", serde_json::to_string_pretty(s)?);
        return Ok(());
    }
    let mode = if c.dry_run {
        " (dry run: nothing was applied)"
    } else {
        ""
    };
    println!(
        "{} {what} read in {secs:.2} s ({:.0} rows/s){mode}",
        s.rows,
        s.rows as f64 / secs.max(0.001)
    );
    println!("  created:   {}", s.created);
    println!("  updated:   {}", s.updated);
    println!("  unchanged: {}", s.unchanged);
    for (k, v) in &s.counts {
        println!("  {k}: {v}");
    }
    println!("  skipped:   {}", s.skipped.len());
    println!("  rejected:  {}", s.rejected.len());
    if c.dry_run {
        for ch in s
            .changes
            .iter()
            .filter(|c| c.action != "unchanged")
            .take(50)
        {
            println!("  {} {}", ch.action, ch.key);
            for (f, a, b) in &ch.fields {
                println!("      {f}: {a} -> {b}");
            }
        }
    }
    for (label, list) in [
        ("rejected", &s.rejected),
        ("skipped", &s.skipped),
        ("note", &s.notes),
    ] {
        let mut reasons: Vec<(String, usize)> = Vec::new();
        for e in list.iter() {
            // Group by the message without its specifics, to keep the summary short.
            let key = e.message.split(':').next().unwrap_or("").to_string();
            match reasons.iter_mut().find(|(k, _)| *k == key) {
                Some(r) => r.1 += 1,
                None => reasons.push((key, 1)),
            }
        }
        for e in list.iter().take(10) {
            println!("  {label}: {e}");
        }
        if list.len() > 10 {
            println!("  ... {} more {label} rows; by reason:", list.len() - 10);
            for (k, n) in &reasons {
                println!("      {n} x {k}");
            }
        }
    }
    Ok(())
}

/// Counts the bytes read from a file, for the progress line.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: std::io::Read> std::io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

type Records<T> = Box<dyn Iterator<Item = Result<T, RowError>> + Send>;
type Opener<T> = Box<
    dyn FnMut(std::io::BufReader<Counting<std::fs::File>>) -> Result<Records<T>, RowError> + Send,
>;

/// The records of several files, one after the other, each tagged with its file's name; a file
/// that cannot be opened or has no valid header is one rejected "row".
struct FileChain<T> {
    files: std::vec::IntoIter<PathBuf>,
    count: Arc<AtomicU64>,
    open: Opener<T>,
    tag: fn(&mut T, &str),
    current: Option<(String, Records<T>)>,
}

impl<T: 'static> FileChain<T> {
    fn new(
        files: Vec<PathBuf>,
        count: Arc<AtomicU64>,
        open: impl FnMut(std::io::BufReader<Counting<std::fs::File>>) -> Result<Records<T>, RowError>
        + Send
        + 'static,
        tag: fn(&mut T, &str),
    ) -> Self {
        FileChain {
            files: files.into_iter(),
            count,
            open: Box::new(open),
            tag,
            current: None,
        }
    }

    fn next_item(&mut self) -> Option<Result<T, RowError>> {
        loop {
            if let Some((name, it)) = self.current.as_mut() {
                match it.next() {
                    Some(Ok(mut v)) => {
                        (self.tag)(&mut v, name);
                        return Some(Ok(v));
                    }
                    Some(Err(mut e)) => {
                        e.file = Some(name.clone());
                        return Some(Err(e));
                    }
                    None => self.current = None,
                }
            }
            let path = self.files.next()?;
            let name = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            let opened = std::fs::File::open(&path)
                .map_err(|e| RowError::new(0, None, e.to_string()))
                .and_then(|f| {
                    (self.open)(std::io::BufReader::with_capacity(
                        1 << 16,
                        Counting {
                            inner: f,
                            count: self.count.clone(),
                        },
                    ))
                });
            match opened {
                Ok(it) => self.current = Some((name, it)),
                Err(mut e) => {
                    e.file = Some(name);
                    return Some(Err(e));
                }
            }
        }
    }

    /// The chain as the importer's `next`, calling `seen` on every item.
    fn into_next(
        mut self,
        mut seen: impl FnMut(&Result<T, RowError>),
    ) -> impl FnMut() -> Option<Result<T, RowError>> {
        move || {
            let item = self.next_item()?;
            seen(&item);
            Some(item)
        }
    }
}

/// Streams order-history files of one layout into the importer, with the progress line.
async fn stream_history<T: import::Streamed>(
    db: &Db,
    oc: import::OrderContext,
    files: Vec<PathBuf>,
    opts: &import::Options,
    apply: fn(
        &mut dyn backroom_core::Sql,
        &backroom_core::Ctx,
        &import::OrderContext,
        &[T],
    ) -> backroom_core::Result<Summary>,
    open: impl FnMut(std::io::BufReader<Counting<std::fs::File>>) -> Result<Records<T>, RowError>
    + Send
    + 'static,
    tag: fn(&mut T, &str),
) -> backroom_core::Result<Summary> {
    let total_bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    let read = Arc::new(AtomicU64::new(0));
    let mut progress = Progress::new(total_bytes);
    let chain = FileChain::new(files, read.clone(), open, tag);
    let mut rows = 0u64;
    let next = chain.into_next(move |r: &Result<T, RowError>| {
        rows += r.as_ref().map_or(1, |v| v.rows());
        progress.show(rows, read.load(Ordering::Relaxed), false);
    });
    import::history(db, cli_actor(), oc, next, apply, opts, |_| {}).await
}
