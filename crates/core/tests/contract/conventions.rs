//! Conventions checked by reading the source.

/// Every Rust source file under `dir`, with its text.
fn sources(dir: &std::path::Path) -> Vec<(std::path::PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                out.push((p, text));
            }
        }
    }
    out
}

/// Convention: the library crates read no environment; the server's one configuration
/// (`crates/server/src/config.rs`) does, once at start-up. The import crate's `shared_data`
/// (where tests and benchmarks find the real data set) is the one, named, exception.
#[test]
fn library_crates_read_no_environment() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut found = Vec::new();
    for krate in ["core", "domain", "import"] {
        for (path, text) in sources(&root.join(krate).join("src")) {
            for (n, line) in text.lines().enumerate() {
                let allowed = krate == "import"
                    && (line.contains("BACKROOM_DATA_DIR")
                        || line.contains("BACKROOM_REQUIRE_DATA"));
                if (line.contains("env::var") || line.contains("env::vars")) && !allowed {
                    found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "environment read outside the configuration:\n{}",
        found.join("\n")
    );
}

/// The tables each business area owns. Every table belongs to exactly one area; a new table
/// needs an owner here before anything can use it.
const AREA_TABLES: &[(&str, &[&str])] = &[
    ("auth", &["users", "api_tokens", "saved_views"]),
    ("settings", &["settings", "shipping_rates"]),
    (
        "catalog",
        &[
            "products",
            "variants",
            "locations",
            "channels",
            "channel_locations",
            "channel_buffers",
        ],
    ),
    (
        "inventory",
        &[
            "inventory_levels",
            "inventory_ledger",
            "reservations",
            "transfers",
            "transfer_lines",
        ],
    ),
    ("customers", &["customers"]),
    (
        "orders",
        &[
            "orders",
            "order_lines",
            "order_events",
            "payments",
            "refunds",
            "idempotency_keys",
            "counters",
        ],
    ),
    ("fulfillment", &["fulfillments", "fulfillment_lines"]),
    ("returns", &["returns", "return_lines"]),
    ("imports", &["import_jobs"]),
    ("jobs", &["jobs", "job_files"]),
    (
        "webhooks",
        &[
            "webhook_subscriptions",
            "webhook_events",
            "webhook_deliveries",
        ],
    ),
    (
        "analytics",
        &[
            "events",
            "ad_spend",
            "email_campaigns",
            "email_events",
            "analytics_state",
            "an_customers",
            "an_day_sets",
            "an_dirty_orders",
            "an_order_days",
            "an_order_facts",
            "an_purchases",
            "an_session_days",
            "an_sessions",
            "an_visitors",
            "an_email_days",
            "an_dirty_campaigns",
        ],
    ),
    (
        "support",
        &[
            "support_teams",
            "support_tickets",
            "support_ticket_orders",
            "support_messages",
            "support_outbox",
            "support_calendars",
            "support_sla_policies",
            "support_status_changes",
            "support_team_members",
            "support_triage_rules",
            "support_macros",
            "support_csat",
            "support_sla_outcomes",
        ],
    ),
    (
        "promotions",
        &[
            "promotions",
            "promotion_redemptions",
            "promotion_codes",
            "promotion_generation",
        ],
    ),
    (
        "budgets",
        &["campaign_budgets", "operating_budgets", "revenue_targets"],
    ),
    ("platform", &["audit_log", "schema_migrations"]),
];

/// Areas that read every area's tables by design: analytics is the read model (reports, the
/// work queue and the exports join across areas and never write another area's tables).
const READ_MODELS: &[&str] = &["analytics"];

/// Where one area still reads another's table directly, each with why. The list only shrinks:
/// an entry that is no longer needed fails the test too, so it is taken off when the code moves
/// behind the owner's functions. Empty: what an area needs of another's data comes through that
/// area's functions, or, inside one statement, through the expressions and subqueries the owner
/// publishes in its `sql` module (`catalog::sql::sku_of`, `orders::sql::placed_at_of`, ...).
const FOREIGN_READS: &[(&str, &str, &str)] = &[];

/// Where one area still writes another's table directly (the worse debt), each with why; this
/// list only shrinks as well. Empty: every area writes only its own tables.
const FOREIGN_WRITES: &[(&str, &str, &str)] = &[];

/// The tables a source text bulk-loads by name (`copy_rows("table", ...)`): writes the SQL
/// scan cannot see, since the statement is built by the storage layer.
fn copied_tables(text: &str) -> Vec<String> {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.match_indices("copy_rows(")
        .filter_map(|(at, m)| {
            let rest = text[at + m.len()..].trim_start();
            let rest = rest.strip_prefix('"')?;
            Some(rest[..rest.find('"')?].to_string())
        })
        .collect()
}

/// The tables a piece of SQL text names after FROM, JOIN, INTO, UPDATE or DELETE FROM, each with
/// whether it is written.
fn named_tables(sql: &str) -> Vec<(String, bool)> {
    let words: Vec<&str> = sql
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let Some(next) = words.get(i + 1) else { break };
        let kw = w.to_ascii_uppercase();
        let write = match kw.as_str() {
            "INTO" | "UPDATE" => true,
            "FROM" => i > 0 && words[i - 1].eq_ignore_ascii_case("DELETE"),
            "JOIN" => false,
            _ => continue,
        };
        out.push((next.to_string(), write));
    }
    out
}

/// The string literals of Rust source text (test modules cut off).
fn string_literals(text: &str) -> Vec<String> {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    let mut chars = text.chars().peekable();
    let mut prev = ' ';
    while let Some(c) = chars.next() {
        match (&mut cur, c) {
            (None, '"') if prev != '\'' => cur = Some(String::new()),
            (None, '/') if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            (Some(s), '\\') => {
                if let Some(n) = chars.next() {
                    s.push(if n == 'n' { '\n' } else { n });
                }
            }
            (Some(s), '"') => {
                out.push(std::mem::take(s));
                cur = None;
            }
            (Some(s), c) => s.push(c),
            _ => {}
        }
        prev = c;
    }
    out
}

/// Convention: each business area's SQL names only its own tables; another area's data is
/// reached through that area's functions. The read model (analytics) reads across, never
/// writes across. What is still crossed is listed above with its reason, and the lists only
/// shrink. The platform modules (storage, audit, fixtures) are outside the areas.
#[test]
fn each_area_names_only_its_own_tables() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let owner = |t: &str| {
        AREA_TABLES
            .iter()
            .find(|(_, ts)| ts.contains(&t))
            .map(|(a, _)| *a)
    };
    let sql_words = [
        "SELECT", "WITH", "INSERT", "UPDATE", "DELETE", "CREATE", "ALTER",
    ];
    let mut found = Vec::new();
    let mut used_reads = std::collections::BTreeSet::new();
    let mut used_writes = std::collections::BTreeSet::new();
    let mut areas_seen = std::collections::BTreeSet::new();
    for (path, text) in sources(&src) {
        let rel = path.strip_prefix(&src).unwrap();
        let Some(area) = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .filter(|_| rel.components().count() > 1)
        else {
            continue; // lib.rs, api.rs, audit.rs, util.rs, ...: the platform
        };
        if area == "db" {
            continue;
        }
        areas_seen.insert(area.to_string());
        assert!(
            AREA_TABLES.iter().any(|(a, _)| *a == area),
            "{}: the area {area} has no entry in AREA_TABLES",
            rel.display()
        );
        let copies = copied_tables(&text)
            .into_iter()
            .map(|t| format!("INSERT INTO {t} (x)"));
        for lit in string_literals(&text).into_iter().chain(copies) {
            let upper = lit.trim_start().to_ascii_uppercase();
            if !sql_words.iter().any(|w| upper.starts_with(w)) && !upper.contains(" FROM ") {
                continue;
            }
            for (table, write) in named_tables(&lit) {
                let Some(o) = owner(&table) else {
                    // A FROM in prose or a CTE's own name: only real tables are checked.
                    continue;
                };
                if o == area {
                    continue;
                }
                if write {
                    if FOREIGN_WRITES
                        .iter()
                        .any(|(a, t, _)| *a == area && *t == table)
                    {
                        used_writes.insert((area.to_string(), table.clone()));
                    } else {
                        found.push(format!(
                            "{}: the {area} area writes {table}, which {o} owns",
                            rel.display()
                        ));
                    }
                } else if READ_MODELS.contains(&area) {
                } else if FOREIGN_READS
                    .iter()
                    .any(|(a, t, _)| *a == area && *t == table)
                {
                    used_reads.insert((area.to_string(), table.clone()));
                } else {
                    found.push(format!(
                        "{}: the {area} area reads {table}, which {o} owns",
                        rel.display()
                    ));
                }
            }
        }
    }
    for (a, t, _) in FOREIGN_READS {
        if !used_reads.contains(&(a.to_string(), t.to_string())) {
            found.push(format!(
                "FOREIGN_READS lists {a} reading {t}, which it no longer does: take it off"
            ));
        }
    }
    for (a, t, _) in FOREIGN_WRITES {
        if !used_writes.contains(&(a.to_string(), t.to_string())) {
            found.push(format!(
                "FOREIGN_WRITES lists {a} writing {t}, which it no longer does: take it off"
            ));
        }
    }
    assert!(areas_seen.len() >= 10, "the scan found only {areas_seen:?}");
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// The scanner itself: it sees tables after each keyword and tells writes from reads.
#[test]
fn the_table_scanner_sees_reads_and_writes() {
    assert_eq!(
        named_tables(
            "SELECT a FROM orders o JOIN customers c ON 1 WHERE x IN (SELECT 1 FROM refunds)"
        ),
        vec![
            ("orders".into(), false),
            ("customers".into(), false),
            ("refunds".into(), false)
        ]
    );
    assert_eq!(
        named_tables("UPDATE orders SET x = 1; DELETE FROM reservations; INSERT INTO payments (a)"),
        vec![
            ("orders".into(), true),
            ("reservations".into(), true),
            ("payments".into(), true)
        ]
    );
    assert_eq!(
        copied_tables(
            "tx.copy_rows(\n    \"order_lines\", &c, &r)?; tx.copy_rows(table, &c, &r)?;"
        ),
        vec!["order_lines".to_string()]
    );
    assert_eq!(
        string_literals("let a = \"SELECT 1 \\\n FROM x\"; // \"not this\"\nlet c = '\"';"),
        vec!["SELECT 1 \n FROM x".to_string()]
    );
}

/// The functions of Rust source text (test modules cut off) as (name, first line, lines), found
/// by matching braces outside strings, characters and comments.
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    let b = text.as_bytes();
    // Byte offsets of braces that are code, with their line numbers.
    let mut code = vec![true; b.len()];
    let mut i = 0;
    while i < b.len() {
        let start = i;
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            b'r' if matches!(b.get(i + 1), Some(b'#') | Some(b'"'))
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
            {
                let mut j = i + 1;
                while b.get(j) == Some(&b'#') {
                    j += 1;
                }
                let hashes = j - i - 1;
                if b.get(j) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let close: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', hashes))
                    .collect();
                j += 1;
                while j < b.len() && !b[j..].starts_with(&close) {
                    j += 1;
                }
                i = (j + close.len()).min(b.len());
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'\'' => {
                // A character literal ('x', '\n', '{'), or a lifetime ('a).
                if b.get(i + 1) == Some(&b'\\') {
                    i += 2;
                    while i < b.len() && b[i] != b'\'' {
                        i += 1;
                    }
                    i += 1;
                } else if b.get(i + 2) == Some(&b'\'') {
                    i += 3;
                } else {
                    i += 1;
                    continue;
                }
            }
            _ => {
                i += 1;
                continue;
            }
        }
        for c in code.iter_mut().take(i.min(b.len())).skip(start) {
            *c = false;
        }
    }
    let line_of = |at: usize| text[..at].matches('\n').count() + 1;
    let mut out = Vec::new();
    let mut search = 0;
    while let Some(off) = text[search..].find("fn ") {
        let at = search + off;
        search = at + 3;
        let before_ok = at == 0 || !(b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_');
        if !before_ok || !code[at] {
            continue;
        }
        let name: String = text[at + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            continue;
        }
        // The body: the first code `{` after the parameter list (whose patterns may hold
        // braces: `Posted { staff, form }: Posted`) and before any code `;`, to its matching `}`.
        let mut j = at;
        let mut parens = 0usize;
        while j < b.len() {
            if code[j] && b[j] == b'(' {
                parens += 1;
            } else if code[j] && b[j] == b')' {
                parens = parens.saturating_sub(1);
                if parens == 0 {
                    break;
                }
            } else if code[j] && (b[j] == b';' || b[j] == b'{') && parens == 0 {
                break;
            }
            j += 1;
        }
        let mut open = None;
        while j < b.len() {
            if code[j] && b[j] == b';' {
                break;
            }
            if code[j] && b[j] == b'{' {
                open = Some(j);
                break;
            }
            j += 1;
        }
        let Some(open) = open else { continue };
        let mut depth = 0;
        let mut end = open;
        for (k, c) in b.iter().enumerate().skip(open) {
            if !code[k] {
                continue;
            }
            match c {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = k;
                        break;
                    }
                }
                _ => {}
            }
        }
        let first = line_of(at);
        out.push((name, first, line_of(end) - first + 1));
    }
    out
}

/// Functions still over 150 lines, as (file under `crates/`, name), to be broken up; the list
/// only shrinks: one that is short now fails the test until it is taken off.
const LONG_FUNCTIONS: &[(&str, &str)] = &[];

/// Convention: no function in the crates' code (tests aside) is longer than 150 lines, from its
/// `fn` to its closing brace, but those [`LONG_FUNCTIONS`] still names.
#[test]
fn no_function_is_longer_than_150_lines() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut long = Vec::new();
    let mut listed = std::collections::BTreeSet::new();
    for krate in ["core", "domain", "import", "server"] {
        for (path, text) in sources(&root.join(krate).join("src")) {
            let rel = path
                .strip_prefix(&root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            for (name, line, n) in functions(&text) {
                if n <= 150 {
                    continue;
                }
                if LONG_FUNCTIONS.contains(&(rel.as_str(), name.as_str())) {
                    listed.insert((rel.clone(), name));
                } else {
                    long.push(format!("{rel}:{line}: {name} has {n} lines"));
                }
            }
        }
    }
    for (file, name) in LONG_FUNCTIONS {
        if !listed.contains(&(file.to_string(), name.to_string())) {
            long.push(format!(
                "LONG_FUNCTIONS lists {file} {name}, which is short now: take it off"
            ));
        }
    }
    long.sort();
    assert!(
        long.is_empty(),
        "functions over 150 lines:\n{}",
        long.join("\n")
    );
}

/// The function finder itself: braces in strings, characters and comments do not count, and a
/// declaration without a body is no function.
#[test]
fn the_function_finder_counts_lines() {
    let text = "fn a() {\n    let s = \"}\";\n    let c = '{';\n    // }\n}\ntrait T { fn b(&self); }\nfn c<'x>(v: &'x str) -> &'x str {\n    v\n}\n";
    assert_eq!(
        functions(text),
        vec![("a".to_string(), 1, 5), ("c".to_string(), 7, 3)]
    );
    // A pattern with braces among the parameters is not the body.
    let text = "async fn d(Posted { staff, form }: Posted) -> R {\n    1\n}\n";
    assert_eq!(functions(text), vec![("d".to_string(), 1, 3)]);
}
