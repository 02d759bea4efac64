//! The support desk through the front door: a real `backroom serve` process with its mail
//! worker, a local SMTP server this test starts, inbound email posted with an ingest key, and
//! replies sent, threaded, retried and sent once across a restart.

use super::*;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// A minimal SMTP server: it keeps each message it accepts (the DATA text) and turns away the
/// first `refuse` transactions with a 451 (try again later).
struct Smtp {
    port: u16,
    mails: Arc<std::sync::Mutex<Vec<String>>>,
    refuse: Arc<AtomicUsize>,
}

impl Smtp {
    async fn start() -> Smtp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mails: Arc<std::sync::Mutex<Vec<String>>> = Default::default();
        let refuse = Arc::new(AtomicUsize::new(0));
        let (m2, r2) = (mails.clone(), refuse.clone());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (mails, refuse) = (m2.clone(), r2.clone());
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut lines = BufReader::new(read).lines();
                    let _ = write.write_all(b"220 test ESMTP\r\n").await;
                    while let Ok(Some(line)) = lines.next_line().await {
                        let verb = line.split_whitespace().next().unwrap_or("").to_uppercase();
                        let answer: &[u8] = match verb.as_str() {
                            "EHLO" | "HELO" => b"250 test\r\n",
                            "MAIL" => {
                                if refuse
                                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                                        n.checked_sub(1)
                                    })
                                    .is_ok()
                                {
                                    b"451 try again later\r\n"
                                } else {
                                    b"250 OK\r\n"
                                }
                            }
                            "DATA" => {
                                let _ = write.write_all(b"354 go ahead\r\n").await;
                                let mut data = String::new();
                                while let Ok(Some(l)) = lines.next_line().await {
                                    if l == "." {
                                        break;
                                    }
                                    data.push_str(&l);
                                    data.push('\n');
                                }
                                mails.lock().unwrap().push(data);
                                b"250 queued\r\n"
                            }
                            "QUIT" => {
                                let _ = write.write_all(b"221 bye\r\n").await;
                                break;
                            }
                            _ => b"250 OK\r\n",
                        };
                        if write.write_all(answer).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Smtp {
            port,
            mails,
            refuse,
        }
    }

    fn mails(&self) -> Vec<String> {
        self.mails.lock().unwrap().clone()
    }
}

/// A server process, stopped when dropped (a failed assertion leaves no server behind).
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A header's value in a message's text (headers folded onto one line).
fn header(mail: &str, name: &str) -> Option<String> {
    let mut out: Option<String> = None;
    for line in mail.lines() {
        if line.is_empty() {
            break;
        }
        match &mut out {
            Some(v) if line.starts_with([' ', '\t']) => v.push_str(line),
            Some(_) => break,
            None => {
                if let Some((k, v)) = line.split_once(':')
                    && k.eq_ignore_ascii_case(name)
                {
                    out = Some(v.trim().to_string());
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn support_replies_are_mailed_threaded_and_sent_once_across_a_restart() {
    for (name, url) in database_urls().await {
        let db = Db::open(&url).await.unwrap();
        let admin = TestApp::user(&db, "admin").await;
        let agent = TestApp::user(&db, "support").await;
        let smtp = Smtp::start().await;
        let smtp_url = format!("smtp://127.0.0.1:{}", smtp.port);
        let env = [
            ("BACKROOM_SMTP_URL", smtp_url.as_str()),
            ("BACKROOM_SMTP_FROM", "Shop Support <help@shop.example>"),
            ("BACKROOM_SMTP_RETRY_MS", "50"),
            ("BACKROOM_PUBLIC_URL", "https://shop.example"),
            ("BACKROOM_ANALYTICS_REFRESH_MS", "0"),
        ];
        let (server, base) = spawn_server(&url, &env).await;
        let mut server = Running(server);
        let http = reqwest::Client::new();
        let (s, key) = request(
            &http,
            &base,
            "POST",
            "/api/v1/tokens",
            Some(&admin),
            Some(json!({"name": "inbox", "ingest": true})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{name}: {key}");
        let key = key["token"].as_str().unwrap().to_string();

        // The desk's set-up through the API: a balanced team with the agent in it, a triage
        // rule for refunds, a policy for urgent tickets. A refund request posted by the
        // provider comes out urgent, with the team, given to the agent, and due.
        let admin_call = |method: &'static str, path: &str, body: Value| {
            let (http, base, admin, path) =
                (http.clone(), base.clone(), admin.clone(), path.to_string());
            async move {
                let (s, v) = request(&http, &base, method, &path, Some(&admin), Some(body)).await;
                assert!(s.is_success(), "{method} {path}: {s} {v}");
                v
            }
        };
        let (_, me) = request(&http, &base, "GET", "/api/v1/me", Some(&agent), None).await;
        let agent_id = me["id"].as_i64().unwrap();
        let team = admin_call(
            "POST",
            "/api/v1/support/teams",
            json!({"name": "Care", "assignment": "balanced"}),
        )
        .await["id"]
            .as_i64()
            .unwrap();
        admin_call(
            "PUT",
            &format!("/api/v1/support/teams/{team}/members/{agent_id}"),
            json!({}),
        )
        .await;
        admin_call(
            "POST",
            "/api/v1/support/triage-rules",
            json!({"name": "Refunds", "when": {"text_contains": ["refund"]}, "then": {"priority": "urgent", "team_id": team, "tags": ["refund"]}}),
        )
        .await;
        admin_call(
            "POST",
            "/api/v1/support/sla-policies",
            json!({"name": "Urgent", "priority": "urgent", "first_reply_minutes": 30}),
        )
        .await;
        let (s, r) = request(
            &http,
            &base,
            "POST",
            "/api/v1/support/inbound-email",
            Some(&key),
            Some(json!({"from": "cy@example.com", "subject": "Refund please", "text": "I want my money back", "message_id": "<r1@mail.example>"})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{name}: {r}");
        let (_, v) = request(
            &http,
            &base,
            "GET",
            &format!("/api/v1/support/tickets/{}", r["ticket_id"]),
            Some(&agent),
            None,
        )
        .await;
        let urgent = v["ticket"]["id"].as_i64().unwrap();
        assert_eq!(v["ticket"]["priority"], "urgent", "{name}: {v}");
        assert_eq!(v["ticket"]["team_id"], team);
        assert_eq!(v["ticket"]["assignee_id"], agent_id, "{name}: given out");
        assert_eq!(v["ticket"]["tags"], json!(["refund"]));
        assert!(
            v["ticket"]["sla"]["first_reply_due_at"].is_string(),
            "{name}: {v}"
        );
        let (_, load) = request(
            &http,
            &base,
            "GET",
            "/api/v1/support/workload",
            Some(&agent),
            None,
        )
        .await;
        let mine = load
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["user_id"] == agent_id)
            .unwrap();
        assert_eq!(mine["urgent"], 1, "{name}: {load}");

        // A customer's email opens a ticket; the provider's retry stores nothing twice.
        let first = json!({"from": "Ann Bell <ann@example.com>", "to": "help@shop.example", "subject": "Parcel missing", "text": "Where is it?", "message_id": "<c1@mail.example>"});
        let (s, r) = request(
            &http,
            &base,
            "POST",
            "/api/v1/support/inbound-email",
            Some(&key),
            Some(first.clone()),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{name}: {r}");
        let ticket = r["ticket_id"].as_i64().unwrap();
        let (s, again) = request(
            &http,
            &base,
            "POST",
            "/api/v1/support/inbound-email",
            Some(&key),
            Some(first),
        )
        .await;
        assert_eq!(
            (s, again["duplicate"].as_bool()),
            (StatusCode::OK, Some(true)),
            "{name}"
        );
        // The key writes and reads nothing else; a bad message is refused with its field.
        let (s, _) = request(
            &http,
            &base,
            "GET",
            "/api/v1/support/tickets",
            Some(&key),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{name}");
        let (s, e) = request(
            &http,
            &base,
            "POST",
            "/api/v1/support/inbound-email",
            Some(&key),
            Some(json!({"from": "nobody", "message_id": "<x@y>"})),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {e}");
        assert_eq!(e["error"]["field"], "from", "{name}: {e}");

        // The agent replies: the running server mails it, threaded on the customer's message.
        let path = format!("/api/v1/support/tickets/{ticket}/messages");
        let (s, v) = request(
            &http,
            &base,
            "POST",
            &path,
            Some(&agent),
            Some(json!({"body": "It left our warehouse today."})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{name}: {v}");
        assert_eq!(v["ticket"]["status"], "pending");
        wait_for("the reply by SMTP", || smtp.mails().len() == 1).await;
        let mail = smtp.mails()[0].clone();
        assert_eq!(
            header(&mail, "In-Reply-To").as_deref(),
            Some("<c1@mail.example>"),
            "{name}: {mail}"
        );
        assert_eq!(
            header(&mail, "References").as_deref(),
            Some("<c1@mail.example>")
        );
        assert_eq!(
            header(&mail, "Subject"),
            Some(format!("Re: Parcel missing [T-{ticket}]"))
        );
        assert!(
            header(&mail, "From").unwrap().contains("help@shop.example"),
            "{mail}"
        );
        assert!(
            header(&mail, "To").unwrap().contains("ann@example.com"),
            "{mail}"
        );
        assert!(mail.contains("It left our warehouse today."), "{mail}");
        let message_id = header(&mail, "Message-ID").unwrap();
        let view_path = format!("/api/v1/support/tickets/{ticket}");
        let mut delivery = Value::Null;
        for _ in 0..200 {
            let (_, v) = request(&http, &base, "GET", &view_path, Some(&agent), None).await;
            delivery = v["messages"][1]["delivery"].clone();
            if delivery == "sent" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(delivery, "sent", "{name}");

        // The customer answers the mail: it threads back onto the ticket and reopens it.
        let answer = json!({"from": "ann@example.com", "subject": "Re: Parcel missing", "text": "Thanks!", "message_id": "<c2@mail.example>", "in_reply_to": message_id});
        let (s, r) = request(
            &http,
            &base,
            "POST",
            "/api/v1/support/inbound-email",
            Some(&key),
            Some(answer),
        )
        .await;
        assert_eq!(
            (s, r["ticket_id"].as_i64()),
            (StatusCode::OK, Some(ticket)),
            "{name}: {r}"
        );
        let (_, v) = request(&http, &base, "GET", &view_path, Some(&agent), None).await;
        assert_eq!(v["ticket"]["status"], "open", "{name}");

        // The SMTP server turns the next reply away twice: it is tried again and sent once.
        smtp.refuse.store(2, Ordering::SeqCst);
        let (s, _) = request(
            &http,
            &base,
            "POST",
            &path,
            Some(&agent),
            Some(json!({"body": "Second reply", "status": "solved"})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
        wait_for("the retried reply", || smtp.mails().len() == 2).await;
        assert_eq!(
            smtp.refuse.load(Ordering::SeqCst),
            0,
            "{name}: refused twice first"
        );
        // The reply that solved the ticket links to a survey: no sign-in, the link is the key.
        let solved = smtp.mails()[1].clone();
        let at = solved
            .find("https://shop.example/csat/")
            .expect("a survey link")
            + 26;
        let token: String = solved[at..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect();
        assert_eq!(token.len(), 48, "{name}: {solved}");
        let survey = format!("{base}/csat/{token}");
        let page = http.get(&survey).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert!(page.text().await.unwrap().contains("How did we do?"));
        let r = http
            .post(&survey)
            .form(&[("rating", "good"), ("comment", "Fast and kind")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{name}");
        let (_, v) = request(&http, &base, "GET", &view_path, Some(&agent), None).await;
        assert_eq!(v["satisfaction"]["rating"], "good", "{name}: {v}");
        assert_eq!(v["satisfaction"]["comment"], "Fast and kind");
        let r = http
            .post(format!("{base}/csat/{}", "0".repeat(48)))
            .form(&[("rating", "bad")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{name}: a made-up link");
        let r = http
            .post(&survey)
            .form(&[("rating", "meh")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name}");

        // The SMTP server is down while a reply waits and the server stops; once a server
        // runs again and the SMTP server takes mail, the reply is sent, once.
        smtp.refuse.store(usize::MAX, Ordering::SeqCst);
        let (s, _) = request(
            &http,
            &base,
            "POST",
            &path,
            Some(&agent),
            Some(json!({"body": "Third reply"})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        drop(server);
        assert_eq!(smtp.mails().len(), 2, "{name}");
        smtp.refuse.store(0, Ordering::SeqCst);
        let (child, base) = spawn_server(&url, &env).await;
        server = Running(child);
        wait_for("the reply after the restart", || smtp.mails().len() == 3).await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let mails = smtp.mails();
        assert_eq!(mails.len(), 3, "{name}: sent once");
        assert!(mails[2].contains("Third reply"));
        let (_, v) = request(&http, &base, "GET", &view_path, Some(&agent), None).await;
        assert_eq!(v["messages"].as_array().unwrap().len(), 5, "{name}: {v}");

        // The support report over the days around now (any store zone): every ticket made
        // here, the one rating, the urgent ticket's first reply within its 30 minutes.
        let (s, _) = request(
            &http,
            &base,
            "POST",
            &format!("/api/v1/support/tickets/{urgent}/messages"),
            Some(&agent),
            Some(json!({"body": "Your refund is on its way"})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
        let today = backroom_core::util::now_micros().div_euclid(86_400_000_000) as i32;
        let (from, to) = (
            backroom_domain::analytics::format_day(today - 2),
            backroom_domain::analytics::format_day(today + 2),
        );
        let (_, all) = request(
            &http,
            &base,
            "GET",
            "/api/v1/support/tickets?limit=200",
            Some(&agent),
            None,
        )
        .await;
        let made = all["items"].as_array().unwrap().len() as i64;
        let path = format!("/api/v1/support/report?from={from}&to={to}&breakdown=agent&by=day");
        let (s, r) = request(&http, &base, "GET", &path, Some(&agent), None).await;
        assert_eq!(s, StatusCode::OK, "{name}: {r}");
        let k = &r["totals"];
        assert_eq!(k["created"], made, "{name}: {r}");
        assert_eq!(
            (k["csat_good"].as_i64(), k["csat_bad"].as_i64()),
            (Some(1), Some(0)),
            "{name}: {k}"
        );
        assert_eq!(k["csat"], 1.0);
        assert!(k["sla_met"].as_i64().unwrap() >= 1, "{name}: {k}");
        assert!(
            k["first_response"]["tickets"].as_i64().unwrap() >= 1,
            "{name}: {k}"
        );
        assert_eq!(r["series"].as_array().unwrap().len(), 4, "{name}");
        let agent_name = me["name"].as_str().unwrap();
        assert!(
            r["breakdown"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["group"] == agent_name && g["bucket"].is_null()),
            "{name}: {r}"
        );
        let (s, e) = request(
            &http,
            &base,
            "GET",
            "/api/v1/support/report?from=2026-01-01&to=2026-02-01&breakdown=mood",
            Some(&agent),
            None,
        )
        .await;
        assert_eq!(
            (s, e["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("breakdown")),
            "{name}: {e}"
        );
        // The same figures from the CLI, as CSV.
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_backroom"))
            .args([
                "--database-url",
                &url,
                "report",
                "support",
                "--from",
                &from,
                "--to",
                &to,
                "--format",
                "csv",
            ])
            .env("BACKROOM_LOG", "error")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        assert!(
            lines
                .next()
                .unwrap_or("")
                .starts_with("bucket,group,created,solved,backlog,"),
            "{name}: {text}"
        );
        assert!(
            lines
                .next()
                .unwrap_or("")
                .starts_with(&format!("{from},,{made},")),
            "{name}: {text}"
        );
        drop(server);
    }
}

/// A ticket history through the front door: the API's import job run by a serve process's
/// worker, the same file again from the CLI (nothing changes), and the CLI's export.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticket_histories_import_through_the_api_and_the_cli() {
    for (name, url) in database_urls().await {
        let db = Db::open(&url).await.unwrap();
        let lead = TestApp::user(&db, "support_lead").await;
        let agent = TestApp::user(&db, "support").await;
        drop(db);
        let (server, base) = spawn_server(&url, &[]).await;
        let _server = Running(server);
        let http = reqwest::Client::new();
        let file = "ticket_ref,ticket_created_at,channel,requester_email,subject,priority,status,solved_at,message_at,author_kind,agent_email,public,body,satisfaction\n\
Z-1,2026-11-02T09:00:00Z,email,ann@example.com,Late,high,solved,2026-11-02T15:00:00Z,2026-11-02T09:00:00Z,customer,,true,Where is it?,good\n\
Z-1,2026-11-02T09:00:00Z,email,ann@example.com,Late,high,solved,2026-11-02T15:00:00Z,2026-11-02T11:00:00Z,agent,cy@shop.example,true,On its way,good\n\
Z-2,2026-11-03T09:00:00Z,chat,bob@example.com,Size,low,open,,2026-11-03T09:00:00Z,customer,,true,M or L?,\n\
Z-3,2026-11-03T09:00:00Z,chat,bob@example.com,Size,low,open,,2026-11-03T09:00:00Z,robot,,true,beep,\n";
        let post = |token: &str| {
            http.post(format!("{base}/api/v1/imports?kind=tickets"))
                .bearer_auth(token)
                .header("content-type", "text/csv")
                .body(file)
                .send()
        };
        let resp = post(&agent).await.unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::FORBIDDEN,
            "{name}: a lead's work"
        );
        let resp = post(&lead).await.unwrap();
        assert_eq!(resp.status(), StatusCode::ACCEPTED, "{name}");
        let job: Value = resp.json().await.unwrap();
        let path = format!("/api/v1/imports/{}", job["id"]);
        let mut done = Value::Null;
        for _ in 0..200 {
            let (_, j) = request(&http, &base, "GET", &path, Some(&lead), None).await;
            if !matches!(j["status"].as_str(), Some("running" | "queued")) {
                done = j;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(done["status"], "done", "{name}: {done}");
        assert_eq!(done["summary"]["created"], 2, "{name}: {done}");
        assert_eq!(done["summary"]["rejected"][0]["line"], 5, "{name}: {done}");
        let (_, list) = request(
            &http,
            &base,
            "GET",
            "/api/v1/support/tickets?status=solved",
            Some(&agent),
            None,
        )
        .await;
        assert_eq!(list["items"].as_array().unwrap().len(), 1, "{name}: {list}");

        let dir = std::env::temp_dir().join(format!("backroom-tickets-{}", tag()));
        std::fs::create_dir_all(&dir).unwrap();
        let csv = dir.join("tickets.csv");
        std::fs::write(&csv, file).unwrap();
        let cli = |args: &[&str]| {
            std::process::Command::new(env!("CARGO_BIN_EXE_backroom"))
                .args(["--database-url", &url])
                .args(args)
                .env("BACKROOM_LOG", "error")
                .output()
                .unwrap()
        };
        let out = cli(&["import", "tickets", csv.to_str().unwrap(), "--json"]);
        let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            (summary["created"].as_i64(), summary["unchanged"].as_i64()),
            (Some(0), Some(2)),
            "{name}: {summary}"
        );
        assert_eq!(out.status.code(), Some(3), "{name}: one row refused");
        let out = cli(&["export", "tickets"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.starts_with("ticket_ref,ticket_created_at,"),
            "{name}: {text}"
        );
        assert_eq!(
            text.lines().count(),
            4,
            "{name}: a header and three messages: {text}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
