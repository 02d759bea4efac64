//! The one configuration: every environment variable and flag Backroom reads, validated once at
//! start-up into [`Config`]. Nothing else reads the environment (the library crates never do);
//! `backroom config` prints the effective values and where each came from, secrets redacted.

use anyhow::{Result, bail};
use backroom::http::job_worker::JobConfig;
use backroom::http::mail_worker::MailConfig;
use backroom::http::webhook_worker::WorkerConfig;
use backroom_core::db::DbOptions;
use std::time::Duration;

/// Where a value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Flag,
    Environment,
    Default,
}

impl Source {
    fn label(self) -> &'static str {
        match self {
            Source::Flag => "flag",
            Source::Environment => "environment",
            Source::Default => "default",
        }
    }
}

/// One setting as `backroom config` shows it.
#[derive(Clone, Debug)]
pub struct Shown {
    pub name: &'static str,
    pub value: String,
    pub source: Source,
    pub meaning: &'static str,
}

/// The validated configuration of this process.
#[derive(Clone, Debug)]
pub struct Config {
    pub log: String,
    pub db: DbOptions,
    pub worker: WorkerConfig,
    pub jobs: JobConfig,
    pub mail: MailConfig,
    shown: Vec<Shown>,
}

/// Reads one variable: its value if set (trimmed; empty counts as unset).
fn var(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    env(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Milliseconds from `name`, refused (naming the variable) unless a whole number.
fn millis(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Result<Option<u64>> {
    match var(env, name) {
        None => Ok(None),
        Some(v) => match v.parse::<u64>() {
            Ok(ms) => Ok(Some(ms)),
            Err(_) => bail!("{name}={v} is not a whole number of milliseconds"),
        },
    }
}

fn source_of(set: bool) -> Source {
    if set {
        Source::Environment
    } else {
        Source::Default
    }
}

impl Config {
    /// Builds the configuration from the database URL clap resolved (and where it came from)
    /// and the environment `env` reads. Every value is checked here: a typo fails start-up with
    /// the variable named instead of leaving a default silently in force.
    pub fn load(
        database_url: (String, Source),
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config> {
        let mut shown = Vec::new();
        let (url, url_source) = database_url;
        shown.push(Shown {
            name: "DATABASE_URL / --database-url",
            value: redact(&url),
            source: url_source,
            meaning: "the database",
        });
        let bind = var(env, "BACKROOM_BIND");
        shown.push(Shown {
            name: "BACKROOM_BIND / --bind",
            value: bind.clone().unwrap_or_else(|| "127.0.0.1:8080".into()),
            source: source_of(bind.is_some()),
            meaning: "where `serve` and `demo` listen (a --bind flag wins)",
        });
        let log = var(env, "BACKROOM_LOG");
        shown.push(Shown {
            name: "BACKROOM_LOG",
            value: log.clone().unwrap_or_else(|| "warn,backroom=info".into()),
            source: source_of(log.is_some()),
            meaning: "the log filter",
        });
        let pool = match var(env, "BACKROOM_PG_POOL") {
            None => None,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=1000).contains(&n) => Some(n),
                _ => bail!("BACKROOM_PG_POOL={v} is not a number of connections from 1 to 1000"),
            },
        };
        let mut db = DbOptions::default();
        if let Some(n) = pool {
            db.pg_pool = n;
        }
        shown.push(Shown {
            name: "BACKROOM_PG_POOL",
            value: db.pg_pool.to_string(),
            source: source_of(pool.is_some()),
            meaning: "PostgreSQL connections kept for requests",
        });
        let timeout = millis(env, "BACKROOM_PG_QUERY_TIMEOUT_MS")?;
        if let Some(ms) = timeout {
            db.pg_query_timeout = (ms > 0).then(|| Duration::from_millis(ms));
        }
        shown.push(Shown {
            name: "BACKROOM_PG_QUERY_TIMEOUT_MS",
            value: db
                .pg_query_timeout
                .map_or("0 (no limit)".into(), |d| d.as_millis().to_string()),
            source: source_of(timeout.is_some()),
            meaning: "how long a PostgreSQL statement may wait before it is cancelled",
        });
        let hook_timeout = millis(env, "BACKROOM_WEBHOOK_TIMEOUT_MS")?;
        let retry = millis(env, "BACKROOM_WEBHOOK_RETRY_MS")?;
        let refresh = millis(env, "BACKROOM_ANALYTICS_REFRESH_MS")?;
        if hook_timeout == Some(0) {
            bail!("BACKROOM_WEBHOOK_TIMEOUT_MS=0: a webhook receiver needs some time to answer");
        }
        let worker = WorkerConfig::new(
            Duration::from_millis(hook_timeout.unwrap_or(10_000)),
            Duration::from_millis(retry.unwrap_or(10_000)),
            match refresh {
                Some(0) => None,
                Some(ms) => Some(Duration::from_millis(ms)),
                None => Some(Duration::from_secs(2)),
            },
        );
        shown.push(Shown {
            name: "BACKROOM_WEBHOOK_TIMEOUT_MS",
            value: worker.timeout.as_millis().to_string(),
            source: source_of(hook_timeout.is_some()),
            meaning: "how long a webhook receiver has to answer",
        });
        shown.push(Shown {
            name: "BACKROOM_WEBHOOK_RETRY_MS",
            value: worker.backoff_base.as_millis().to_string(),
            source: source_of(retry.is_some()),
            meaning: "a failed delivery's first retry waits this long, each later one twice",
        });
        shown.push(Shown {
            name: "BACKROOM_ANALYTICS_REFRESH_MS",
            value: match refresh {
                Some(0) => "0 (never)".into(),
                Some(ms) => ms.to_string(),
                None => "2000".into(),
            },
            source: source_of(refresh.is_some()),
            meaning: "how often the server derives sessions and rollups",
        });
        let job_lease = millis(env, "BACKROOM_JOB_LEASE_MS")?;
        let job_retry = millis(env, "BACKROOM_JOB_RETRY_MS")?;
        let slots = match var(env, "BACKROOM_JOB_WORKERS") {
            None => None,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=64).contains(&n) => Some(n),
                _ => bail!("BACKROOM_JOB_WORKERS={v} is not a number of jobs from 1 to 64"),
            },
        };
        if job_lease.is_some_and(|ms| ms < 1_000) {
            bail!(
                "BACKROOM_JOB_LEASE_MS must be at least 1000: a lease is renewed four times over"
            );
        }
        let jobs = JobConfig::new(
            Duration::from_millis(job_lease.unwrap_or(60_000)),
            slots.unwrap_or(2),
            Duration::from_millis(job_retry.unwrap_or(10_000)),
        );
        shown.push(Shown {
            name: "BACKROOM_JOB_LEASE_MS",
            value: jobs.lease.as_millis().to_string(),
            source: source_of(job_lease.is_some()),
            meaning: "how long a job is its server's unless renewed; a stopped server's jobs run again after it",
        });
        shown.push(Shown {
            name: "BACKROOM_JOB_WORKERS",
            value: jobs.slots.to_string(),
            source: source_of(slots.is_some()),
            meaning: "how many background jobs (imports) this server runs at once",
        });
        shown.push(Shown {
            name: "BACKROOM_JOB_RETRY_MS",
            value: jobs.backoff_base.as_millis().to_string(),
            source: source_of(job_retry.is_some()),
            meaning: "a failed job's first retry waits this long, each later one twice",
        });
        let mail = mail_config(env, &mut shown)?;
        let password = var(env, "BACKROOM_PASSWORD");
        shown.push(Shown {
            name: "BACKROOM_PASSWORD",
            value: if password.is_some() {
                "*** (set)".into()
            } else {
                "unset".into()
            },
            source: source_of(password.is_some()),
            meaning: "the password `user create` gives (a --password flag wins)",
        });
        Ok(Config {
            log: log.unwrap_or_else(|| "warn,backroom=info".into()),
            db,
            worker,
            jobs,
            mail,
            shown,
        })
    }

    /// `backroom config`'s table: name, value, source and meaning, one line each.
    pub fn table(&self) -> String {
        let w = self.shown.iter().map(|s| s.name.len()).max().unwrap_or(0);
        let v = self.shown.iter().map(|s| s.value.len()).max().unwrap_or(0);
        self.shown
            .iter()
            .map(|s| {
                format!(
                    "{:w$}  {:v$}  {:11}  {}\n",
                    s.name,
                    s.value,
                    s.source.label(),
                    s.meaning
                )
            })
            .collect()
    }
}

/// The URL without its password, for messages and `backroom config`.
/// The SMTP server support replies go through, and who they come from: checked here, so a typo
/// fails start-up instead of leaving replies unsent.
fn mail_config(env: &dyn Fn(&str) -> Option<String>, shown: &mut Vec<Shown>) -> Result<MailConfig> {
    let mut mail = MailConfig::default();
    let url = var(env, "BACKROOM_SMTP_URL");
    if let Some(u) = &url {
        if !(u.starts_with("smtp://") || u.starts_with("smtps://")) {
            bail!(
                "BACKROOM_SMTP_URL={} must start with smtp:// or smtps://",
                redact(u)
            );
        }
        if let Err(e) = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(u) {
            bail!("BACKROOM_SMTP_URL={} cannot be used: {e}", redact(u));
        }
    }
    let from = var(env, "BACKROOM_SMTP_FROM");
    if let Some(f) = &from {
        if let Err(e) = f.parse::<lettre::message::Mailbox>() {
            bail!(
                "BACKROOM_SMTP_FROM={f} is not an address such as 'Shop Support <help@shop.example>': {e}"
            );
        }
        mail.from = f.clone();
    }
    let public = var(env, "BACKROOM_PUBLIC_URL");
    if let Some(u) = &public {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            bail!("BACKROOM_PUBLIC_URL={u} must start with http:// or https://");
        }
        mail.public_url = u.trim_end_matches('/').to_string();
    }
    shown.push(Shown {
        name: "BACKROOM_PUBLIC_URL",
        value: mail.public_url.clone(),
        source: source_of(public.is_some()),
        meaning: "where customers reach this server (satisfaction survey links)",
    });
    let retry = millis(env, "BACKROOM_SMTP_RETRY_MS")?;
    if let Some(ms) = retry {
        mail.backoff_base = Duration::from_millis(ms.max(1));
    }
    shown.push(Shown {
        name: "BACKROOM_SMTP_URL",
        value: url
            .as_deref()
            .map_or("unset (replies wait in the outbox)".into(), redact),
        source: source_of(url.is_some()),
        meaning: "the SMTP server support replies are sent through",
    });
    shown.push(Shown {
        name: "BACKROOM_SMTP_FROM",
        value: mail.from.clone(),
        source: source_of(from.is_some()),
        meaning: "the sender of support replies",
    });
    shown.push(Shown {
        name: "BACKROOM_SMTP_RETRY_MS",
        value: mail.backoff_base.as_millis().to_string(),
        source: source_of(retry.is_some()),
        meaning: "a reply the SMTP server turned away is tried again after this long, then twice as long each time",
    });
    mail.smtp_url = url;
    Ok(mail)
}

pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    fn load(pairs: &[(&str, &str)]) -> Result<Config> {
        Config::load(
            ("postgres://app:s3cret@db/shop".into(), Source::Environment),
            &env_of(pairs),
        )
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        let c = load(&[]).unwrap();
        assert_eq!(c.db.pg_pool, 8);
        assert_eq!(c.db.pg_query_timeout, Some(Duration::from_secs(60)));
        assert_eq!(c.worker.timeout, Duration::from_secs(10));
        assert_eq!(c.worker.lease, Duration::from_secs(60));
        assert_eq!(c.jobs.lease, Duration::from_secs(60));
        assert_eq!(
            (c.jobs.slots, c.jobs.backoff_base),
            (2, Duration::from_secs(10))
        );
        assert_eq!(c.log, "warn,backroom=info");
        assert!(c.shown.iter().skip(1).all(|s| s.source == Source::Default));
    }

    #[test]
    fn values_from_the_environment_are_used_and_shown_with_their_source() {
        let c = load(&[
            ("BACKROOM_PG_POOL", "4"),
            ("BACKROOM_PG_QUERY_TIMEOUT_MS", "0"),
            ("BACKROOM_WEBHOOK_TIMEOUT_MS", "500"),
            ("BACKROOM_WEBHOOK_RETRY_MS", "50"),
            ("BACKROOM_ANALYTICS_REFRESH_MS", "0"),
            ("BACKROOM_JOB_LEASE_MS", "4000"),
            ("BACKROOM_JOB_WORKERS", "3"),
            ("BACKROOM_JOB_RETRY_MS", "100"),
        ])
        .unwrap();
        assert_eq!(c.jobs.lease, Duration::from_secs(4));
        assert_eq!(c.jobs.slots, 3);
        assert_eq!(c.jobs.backoff_base, Duration::from_millis(100));
        assert_eq!(c.db.pg_pool, 4);
        assert_eq!(c.db.pg_query_timeout, None);
        assert_eq!(c.worker.timeout, Duration::from_millis(500));
        assert_eq!(c.worker.lease, Duration::from_millis(3000));
        assert_eq!(c.worker.backoff_base, Duration::from_millis(50));
        let pool = c
            .shown
            .iter()
            .find(|s| s.name == "BACKROOM_PG_POOL")
            .unwrap();
        assert_eq!(
            (pool.value.as_str(), pool.source),
            ("4", Source::Environment)
        );
    }

    #[test]
    fn a_bad_value_fails_naming_the_variable() {
        for (k, v) in [
            ("BACKROOM_PG_POOL", "eight"),
            ("BACKROOM_PG_POOL", "0"),
            ("BACKROOM_PG_QUERY_TIMEOUT_MS", "1m"),
            ("BACKROOM_WEBHOOK_RETRY_MS", "-5"),
            ("BACKROOM_WEBHOOK_TIMEOUT_MS", "0"),
            ("BACKROOM_ANALYTICS_REFRESH_MS", "soon"),
            ("BACKROOM_JOB_LEASE_MS", "10"),
            ("BACKROOM_JOB_WORKERS", "0"),
            ("BACKROOM_JOB_RETRY_MS", "x"),
        ] {
            let e = load(&[(k, v)]).unwrap_err().to_string();
            assert!(e.contains(k), "{k}={v}: {e}");
        }
    }

    #[test]
    fn secrets_are_redacted() {
        let c = load(&[("BACKROOM_PASSWORD", "hunter2-hunter2")]).unwrap();
        let t = c.table();
        assert!(!t.contains("s3cret") && !t.contains("hunter2"), "{t}");
        assert!(t.contains("postgres://app:***@db/shop"), "{t}");
    }
}
