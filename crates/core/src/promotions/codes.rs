//! A promotion's codes: one entered by hand, a batch of unique single-use codes generated at
//! once, or a list imported from CSV; each with its own limit, exported as CSV with how often
//! each was used. Codes are unique across promotions and matched without case.

use crate::db::{Sql, Val};
use crate::{Ctx, Error, Result, audit, params};
use backroom_domain::roles::Permission;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use utoipa::ToSchema;

/// Letters and digits no one confuses when reading a code aloud (no 0/O, 1/I/L).
const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

pub(crate) fn taken(code: &str) -> Error {
    Error::Conflict {
        code: "code_exists",
        message: format!("the code {code} is taken"),
        field: Some("code".into()),
    }
}

/// Adds a code to a promotion; no row when the code is taken.
pub(crate) fn insert_code(
    tx: &mut dyn Sql,
    promotion_id: i64,
    code: &str,
    usage_limit: Option<i64>,
    batch: Option<&str>,
    now: i64,
) -> Result<Option<i64>> {
    Ok(tx
        .query_one(
            "INSERT INTO promotion_codes (promotion_id, code, code_key, usage_limit, batch, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (code_key) DO NOTHING RETURNING id",
            params![promotion_id, code, code.to_uppercase(), usage_limit, batch, now],
        )?
        .map(|r| r.get::<i64>("id"))
        .transpose()?)
}

/// Each promotion's number of codes and its first code.
pub(crate) fn counts(tx: &mut dyn Sql, ids: &[i64]) -> Result<HashMap<i64, (i64, Option<String>)>> {
    let mut out = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let vals: Vec<Val> = ids.iter().map(|i| (*i).into()).collect();
    let (cond, list) = crate::db::in_list(tx.dialect(), "promotion_id", 1, &vals);
    let sql = format!(
        "SELECT c.promotion_id, g.n, c.code FROM promotion_codes c JOIN (SELECT promotion_id, CAST(COUNT(*) AS BIGINT) AS n, MIN(id) AS first_id FROM promotion_codes WHERE {cond} GROUP BY promotion_id) g ON g.first_id = c.id"
    );
    for r in tx.query(&sql, &[list])? {
        out.insert(r.get("promotion_id")?, (r.get("n")?, Some(r.get("code")?)));
    }
    Ok(out)
}

/// A batch of codes to generate.
#[derive(Deserialize, Serialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct NewCodes {
    /// How many (1 to 100,000).
    pub count: i64,
    /// Put before each code (letters, digits, `-`, `_`), such as `BF26-`.
    pub prefix: Option<String>,
    /// Random characters after the prefix (6 to 32; default 10).
    pub length: Option<i64>,
    /// Uses each code allows (default 1: single use).
    pub usage_limit_per_code: Option<i64>,
}

/// What a batch or import added.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct CodesAdded {
    pub promotion_id: i64,
    pub batch: String,
    pub added: i64,
    /// Imported codes left out, each with its row and why.
    pub refused: Vec<CodeRefused>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct CodeRefused {
    /// The file's row (the header is row 1).
    pub row: i64,
    pub code: String,
    pub reason: String,
}

fn per_code(v: Option<i64>, default: Option<i64>) -> Result<Option<i64>> {
    match v {
        Some(n) if n < 1 => Err(Error::invalid("usage_limit_per_code", "must be at least 1")),
        Some(n) => Ok(Some(n)),
        None => Ok(default),
    }
}

/// Generates `count` unique random codes for a promotion (a code that happens to be taken is
/// drawn again), in one transaction.
pub fn generate(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    promotion_id: i64,
    n: &NewCodes,
) -> Result<CodesAdded> {
    ctx.actor.require(Permission::MarketingWrite)?;
    super::row(tx, promotion_id)?;
    if !(1..=100_000).contains(&n.count) {
        return Err(Error::invalid("count", "must be 1 to 100000"));
    }
    let prefix = match n.prefix.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) if p.len() > 20 => return Err(Error::invalid("prefix", "at most 20 characters")),
        Some(p) => super::check_code("prefix", p)?,
        None => String::new(),
    };
    let length = n.length.unwrap_or(10);
    if !(6..=32).contains(&length) {
        return Err(Error::invalid("length", "must be 6 to 32"));
    }
    let limit = per_code(n.usage_limit_per_code, Some(1))?;
    let batch = format!("batch-{}", crate::util::random_hex(4));
    let mut codes: Vec<String> = Vec::with_capacity(usize::try_from(n.count).unwrap_or(0));
    let mut seen = std::collections::HashSet::new();
    let mut added = 0;
    while added < n.count {
        codes.clear();
        while (codes.len() as i64) < (n.count - added).min(5000) {
            let c = random_code(&prefix, length);
            if seen.insert(c.clone()) {
                codes.push(c);
            }
        }
        added += insert_many(tx, promotion_id, &codes, limit, &batch, ctx.now)?;
    }
    audit::record(
        tx,
        ctx,
        "promotion.codes_generated",
        "promotion",
        promotion_id,
        json!({"count": added, "batch": batch, "usage_limit_per_code": limit}),
    )?;
    Ok(CodesAdded {
        promotion_id,
        batch,
        added,
        refused: Vec::new(),
    })
}

fn random_code(prefix: &str, length: i64) -> String {
    let mut bytes = vec![0u8; usize::try_from(length).unwrap_or(10)];
    let _ = getrandom::fill(&mut bytes);
    let mut s = String::with_capacity(prefix.len() + bytes.len());
    s.push_str(prefix);
    // 256 is not a multiple of 31: a byte's remainder leans by under 1%, harmless for codes.
    s.extend(
        bytes
            .iter()
            .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char),
    );
    s
}

/// Inserts codes, leaving out those already taken; returns how many went in.
fn insert_many(
    tx: &mut dyn Sql,
    promotion_id: i64,
    codes: &[String],
    limit: Option<i64>,
    batch: &str,
    now: i64,
) -> Result<i64> {
    let mut added = 0;
    for chunk in codes.chunks(500) {
        let mut vals: Vec<Val> = Vec::with_capacity(chunk.len() * 6);
        for c in chunk {
            vals.extend([
                promotion_id.into(),
                c.as_str().into(),
                c.to_uppercase().into(),
                limit.into(),
                batch.into(),
                now.into(),
            ]);
        }
        added += tx.exec(
            &format!(
                "INSERT INTO promotion_codes (promotion_id, code, code_key, usage_limit, batch, created_at) VALUES {} ON CONFLICT (code_key) DO NOTHING",
                crate::db::values_sql(chunk.len(), 6)
            ),
            &vals,
        )?;
    }
    Ok(i64::try_from(added).unwrap_or(0))
}

/// A promotion's code, with how often it was used.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct PromotionCode {
    pub id: i64,
    pub code: String,
    pub usage_limit: Option<i64>,
    pub times_used: i64,
    pub batch: Option<String>,
}

crate::row! {
    struct CodeRow { id: i64, code: String, usage_limit: Option<i64>, times_used: i64, batch: Option<String> }
}

/// A page of a promotion's codes in the order they were added (`after` an id, at most `limit`).
pub fn list(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    promotion_id: i64,
    after: i64,
    limit: i64,
) -> Result<Vec<PromotionCode>> {
    ctx.actor.require(Permission::OrdersRead)?;
    super::row(tx, promotion_id)?;
    Ok(crate::db::query_as::<CodeRow>(
        tx,
        "SELECT id, code, usage_limit, times_used, batch FROM promotion_codes WHERE promotion_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        params![promotion_id, after, limit.clamp(1, 100_000)],
    )?
    .into_iter()
    .map(|r| PromotionCode {
        id: r.id,
        code: r.code,
        usage_limit: r.usage_limit,
        times_used: r.times_used,
        batch: r.batch,
    })
    .collect())
}

/// Every code of a promotion as CSV: `code,usage_limit,times_used,batch`.
pub fn export_csv(tx: &mut dyn Sql, ctx: &Ctx, promotion_id: i64) -> Result<String> {
    let mut out = String::from("code,usage_limit,times_used,batch\n");
    let mut after = 0;
    loop {
        let page = list(tx, ctx, promotion_id, after, 10_000)?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for c in &page {
            out.push_str(&format!(
                "{},{},{},{}\n",
                c.code,
                c.usage_limit.map(|l| l.to_string()).unwrap_or_default(),
                c.times_used,
                c.batch.as_deref().unwrap_or_default()
            ));
        }
    }
    Ok(out)
}

/// Imports codes from CSV with a `code` column (and optionally `usage_limit`); a row with a
/// malformed, repeated or taken code is left out and reported, the rest go in.
pub fn import_csv(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    promotion_id: i64,
    text: &str,
    default_limit: Option<i64>,
) -> Result<CodesAdded> {
    ctx.actor.require(Permission::MarketingWrite)?;
    super::row(tx, promotion_id)?;
    let default_limit = per_code(default_limit, None)?;
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split(',')
        .map(|h| h.trim().trim_matches('"').to_ascii_lowercase())
        .collect();
    let at = |name: &str| header.iter().position(|h| h == name);
    let code_at = at("code").ok_or_else(|| Error::invalid("file", "needs a code column"))?;
    let limit_at = at("usage_limit");
    let batch = format!("import-{}", crate::util::random_hex(4));
    let mut refused = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut added = 0;
    for (i, line) in lines.enumerate() {
        let row = i as i64 + 2;
        if line.trim().is_empty() {
            continue;
        }
        let cells: Vec<&str> = line
            .split(',')
            .map(|c| c.trim().trim_matches('"'))
            .collect();
        let code = cells.get(code_at).copied().unwrap_or_default().to_string();
        let mut refuse = |reason: &str| {
            refused.push(CodeRefused {
                row,
                code: code.clone(),
                reason: reason.into(),
            })
        };
        let Ok(c) = super::check_code("code", &code) else {
            refuse("must be 1 to 64 letters, digits, - or _");
            continue;
        };
        let limit = match limit_at
            .and_then(|j| cells.get(j))
            .filter(|v| !v.is_empty())
        {
            None => default_limit,
            Some(v) => match v.parse::<i64>() {
                Ok(n) if n >= 1 => Some(n),
                _ => {
                    refuse("usage_limit must be a whole number of at least 1");
                    continue;
                }
            },
        };
        if !seen.insert(c.to_uppercase()) {
            refuse("repeats an earlier row");
            continue;
        }
        match insert_code(tx, promotion_id, &c, limit, Some(&batch), ctx.now)? {
            Some(_) => added += 1,
            None => refuse("the code is taken"),
        }
        if refused.len() > 10_000 {
            return Err(Error::invalid("file", "more than 10,000 rows were refused"));
        }
    }
    audit::record(
        tx,
        ctx,
        "promotion.codes_imported",
        "promotion",
        promotion_id,
        json!({"added": added, "refused": refused.len(), "batch": batch}),
    )?;
    Ok(CodesAdded {
        promotion_id,
        batch,
        added,
        refused,
    })
}
