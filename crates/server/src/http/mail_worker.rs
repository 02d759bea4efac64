//! The mail worker `serve` runs beside the HTTP server when an SMTP server is configured
//! (`BACKROOM_SMTP_URL`): it claims due support replies from the outbox with a lease, hands each
//! to the SMTP server with its threading headers, and marks it sent, or due again after a pause
//! that doubles with each attempt (a permanent refusal, a 5xx, gives it up at once). Mail claimed
//! by a server that stopped is due again when its lease ends, so a reply is sent across crashes
//! and restarts; see `backroom_core::support::outbox`.

use backroom_core::Db;
use backroom_core::support::outbox::{self, OutMail};
use backroom_core::util::now_micros;
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// Where and how replies are sent.
#[derive(Clone, Debug)]
pub struct MailConfig {
    /// The SMTP server, as `smtp://user:password@host:587?tls=required` (STARTTLS),
    /// `smtps://...:465` (TLS) or `smtp://host:25` (plain, for a local relay); none: replies
    /// wait in the outbox.
    pub smtp_url: Option<String>,
    /// The sender replies come from: `Shop Support <help@shop.example>`.
    pub from: String,
    /// Where customers reach this server: the satisfaction survey links start with it.
    pub public_url: String,
    /// How long an idle worker waits before looking again.
    pub poll: Duration,
    /// How long a claimed mail is the claimer's before another may send it.
    pub lease: Duration,
    /// The pause after a first failed attempt (doubled after each further one).
    pub backoff_base: Duration,
    /// How long one SMTP exchange may take.
    pub timeout: Duration,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            smtp_url: None,
            from: "Support <support@localhost>".into(),
            public_url: "http://127.0.0.1:8080".into(),
            poll: Duration::from_secs(1),
            lease: Duration::from_secs(120),
            backoff_base: Duration::from_secs(30),
            timeout: Duration::from_secs(30),
        }
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// The email of an outbox entry; a reply that solved its ticket ends with the survey's link.
fn message(from: &Mailbox, public_url: &str, m: &OutMail) -> Result<Message, String> {
    let to: Mailbox = m
        .to_address
        .parse()
        .map_err(|e| format!("the requester's address: {e}"))?;
    let mut b = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(m.subject.clone())
        .message_id(Some(format!("<{}>", m.message_id)));
    if let Some(r) = &m.in_reply_to {
        b = b.in_reply_to(format!("<{r}>"));
    }
    if !m.refs.is_empty() {
        b = b.references(m.refs.clone());
    }
    let body = match &m.csat_token {
        Some(t) => format!(
            "{}\n\n--\nHow did we do? Tell us in one click:\n{}/csat/{t}\n",
            m.body,
            public_url.trim_end_matches('/')
        ),
        None => m.body.clone(),
    };
    b.header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| e.to_string())
}

/// Runs until the task is aborted; returns at once without an SMTP server.
pub async fn run(db: Db, cfg: MailConfig) {
    let Some(url) = cfg.smtp_url.clone() else {
        return;
    };
    let db = db.background();
    let transport = match AsyncSmtpTransport::<Tokio1Executor>::from_url(&url) {
        Ok(b) => b.timeout(Some(cfg.timeout)).build(),
        Err(e) => {
            tracing::error!(error = %e, "the SMTP URL cannot be used; support replies are not sent");
            return;
        }
    };
    let from: Mailbox = match cfg.from.parse() {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "the support sender address cannot be used; support replies are not sent");
            return;
        }
    };
    let lease = micros(cfg.lease);
    loop {
        let now = now_micros();
        let claimed = match db.write(move |tx| outbox::claim(tx, now, 16, lease)).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "claiming support mail failed");
                Vec::new()
            }
        };
        if claimed.is_empty() {
            tokio::time::sleep(cfg.poll).await;
            continue;
        }
        for m in claimed {
            let outcome = match message(&from, &cfg.public_url, &m) {
                Ok(email) => transport.send(email).await.map(|_| ()).map_err(|e| {
                    let permanent = e.is_permanent();
                    (e.to_string(), permanent)
                }),
                Err(e) => Err((e, true)),
            };
            let (id, attempts) = (m.id, m.attempts);
            let now = now_micros();
            let wait = micros(cfg.backoff_base).saturating_mul(1 << attempts.clamp(0, 16));
            let saved = match outcome {
                Ok(()) => db.write(move |tx| outbox::sent(tx, id, now)).await,
                Err((error, permanent)) => {
                    tracing::warn!(mail = id, error = %error, "sending a support reply failed");
                    let retry = (!permanent).then_some(now.saturating_add(wait));
                    db.write(move |tx| outbox::not_sent(tx, id, &error, attempts, retry))
                        .await
                }
            };
            if let Err(e) = saved {
                tracing::warn!(mail = id, error = %e, "recording a support mail's outcome failed");
            }
        }
    }
}
