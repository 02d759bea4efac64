//! Promotions through the front door: two real `backroom serve` processes on one database, the
//! API (create, preview, codes generated, exported and imported, placement with codes, switch
//! off) and the `backroom promotions` commands a user runs.

use super::*;

fn cli(args: &[&str], url: &str) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_backroom"))
        .args(args)
        .env("DATABASE_URL", url)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotions_through_two_servers_and_the_cli() {
    for (name, url) in database_urls().await {
        let (token, loc) = small_store_with_admin(&url).await;
        let env = [("BACKROOM_ANALYTICS_REFRESH_MS", "0")];
        let (mut one, base_one) = spawn_server(&url, &env).await;
        let (mut two, base_two) = spawn_server(&url, &env).await;
        let http = reqwest::Client::new();
        let call = |base: &str, method: &'static str, path: &str, body: Option<Value>| {
            let (http, token, base, path) = (
                http.clone(),
                token.clone(),
                base.to_string(),
                path.to_string(),
            );
            async move { request(&http, &base, method, &path, Some(&token), body).await }
        };
        let ok = |(s, v): (StatusCode, Value)| {
            assert!(s.is_success(), "{name}: {s} {v}");
            v
        };
        ok(call(&base_one, "POST", "/api/v1/products", Some(json!({"title": "Boot", "product_type": "Shoes", "status": "active", "variants": [{"sku": "BOOT", "price": 8000}, {"sku": "LACE", "price": 500}]}))).await);
        for sku in ["BOOT", "LACE"] {
            ok(call(
                &base_one,
                "POST",
                "/api/v1/inventory/receive",
                Some(json!({"sku": sku, "location_id": loc, "quantity": 100})),
            )
            .await);
        }
        // The live preview: what a sample cart would get before the promotion exists.
        let draft = json!({"name": "Boots 25", "kind": "percentage", "value": "25", "applies_to": "lines",
                           "automatic": true, "conditions": {"product_types": ["Shoes"]}});
        let preview = ok(call(&base_one, "POST", "/api/v1/promotions/preview",
            Some(json!({"promotion": draft, "lines": [{"sku": "BOOT", "quantity": 1}, {"sku": "LACE", "quantity": 2}]}))).await);
        assert_eq!(preview["discount"]["amount"], 2250, "{name}: {preview}");
        assert_eq!(preview["lines"][0]["discount"]["amount"], 2000, "{name}");
        let (s, bad) = call(&base_one, "POST", "/api/v1/promotions/preview",
            Some(json!({"promotion": {"name": "x", "kind": "percentage", "value": "250"}, "lines": [{"sku": "BOOT", "quantity": 1}]}))).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {bad}");
        assert_eq!(bad["error"]["field"], "promotion.value", "{name}: {bad}");
        // Created on one server, applied by the other.
        let auto = ok(call(&base_one, "POST", "/api/v1/promotions", Some(draft)).await);
        let placed = ok(call(
            &base_two,
            "POST",
            "/api/v1/orders",
            Some(order_body(&[("BOOT", 1), ("LACE", 2)], "a@example.com")),
        )
        .await);
        assert_eq!(placed["discounts"]["amount"], 2250, "{name}: {placed}");
        assert_eq!(
            placed["discount_applications"][0]["promotion_id"],
            auto["id"]
        );
        // Switched off on the second server, no longer applied by the first.
        let off = ok(call(
            &base_two,
            "PATCH",
            &format!("/api/v1/promotions/{}", auto["id"]),
            Some(json!({"active": false})),
        )
        .await);
        assert_eq!(off["active"], false);
        let plain = ok(call(
            &base_one,
            "POST",
            "/api/v1/orders",
            Some(order_body(&[("BOOT", 1)], "b@example.com")),
        )
        .await);
        assert_eq!(plain["discounts"]["amount"], 0, "{name}: {plain}");

        // A promotion with a batch of single-use codes, exported as CSV.
        let coded = ok(call(
            &base_one,
            "POST",
            "/api/v1/promotions",
            Some(json!({"name": "Ten off", "kind": "fixed_amount", "value": "1000"})),
        )
        .await);
        let id = coded["id"].as_i64().unwrap();
        let batch = ok(call(
            &base_one,
            "POST",
            &format!("/api/v1/promotions/{id}/codes"),
            Some(json!({"count": 20, "prefix": "TEN-"})),
        )
        .await);
        assert_eq!(batch["added"], 20, "{name}");
        let csv = http
            .get(format!("{base_two}/api/v1/promotions/{id}/codes/export"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let first = csv
            .lines()
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .to_string();
        assert_eq!(csv.lines().count(), 21, "{name}: {csv}");
        let mut body = order_body(&[("LACE", 4)], "c@example.com");
        body["discount_codes"] = json!([first]);
        let o = ok(call(&base_two, "POST", "/api/v1/orders", Some(body.clone())).await);
        assert_eq!(o["discounts"]["amount"], 1000, "{name}: {o}");
        assert_eq!(o["discount_applications"][0]["code"], first.as_str());
        let (s, e) = call(&base_one, "POST", "/api/v1/orders", Some(body.clone())).await;
        assert_eq!(s, StatusCode::CONFLICT, "{name}: {e}");
        assert_eq!(e["error"]["code"], "code_used_up", "{name}: {e}");
        assert_eq!(e["error"]["field"], "discount_codes[0]", "{name}: {e}");
        // Placed without it when the client asks, saying why.
        body["skip_invalid_codes"] = json!(true);
        let o = ok(call(&base_one, "POST", "/api/v1/orders", Some(body)).await);
        assert_eq!(o["discounts"]["amount"], 0, "{name}");
        assert_eq!(
            o["discounts_not_applied"][0]["reason_code"], "used_up",
            "{name}: {o}"
        );

        // The CLI: import codes from a file, list, export.
        let dir = std::env::temp_dir().join(format!("backroom-promo-{}", tag()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("codes.csv");
        std::fs::write(&file, "code\nSHOP-A\nSHOP-B\nnot valid\n").unwrap();
        let (good, out, err) = cli(
            &[
                "promotions",
                "codes",
                "import",
                &id.to_string(),
                file.to_str().unwrap(),
            ],
            &url,
        );
        assert!(good, "{name}: {err}");
        assert!(out.contains("2 codes added, 1 refused"), "{name}: {out}");
        let (good, out, err) = cli(&["promotions", "list", "--format", "json"], &url);
        assert!(good, "{name}: {err}");
        let list: Value = serde_json::from_str(&out).unwrap();
        let mine = list
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .unwrap();
        assert_eq!(
            (mine["codes"].as_i64(), mine["times_used"].as_i64()),
            (Some(22), Some(1)),
            "{name}: {mine}"
        );
        let (good, out, _) = cli(&["promotions", "codes", "export", &id.to_string()], &url);
        assert!(good && out.contains("SHOP-B,,0,import-"), "{name}: {out}");
        let (good, _, err) = cli(
            &[
                "promotions",
                "create",
                "--name",
                "x",
                "--kind",
                "percentage",
                "--value",
                "0",
            ],
            &url,
        );
        assert!(!good && err.contains("value"), "{name}: {err}");
        let (good, out, err) = cli(&["promotions", "deactivate", &id.to_string()], &url);
        assert!(good && out.contains("is off"), "{name}: {out} {err}");
        // The deactivation made by the CLI is seen by both servers at once.
        let mut body = order_body(&[("LACE", 1)], "d@example.com");
        body["discount_codes"] = json!(["SHOP-A"]);
        let (s, e) = call(&base_two, "POST", "/api/v1/orders", Some(body)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {e}");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("not valid now"),
            "{name}: {e}"
        );
        // The report through the API and the CLI: 22.50 and 10.00 off two orders.
        let day = |d: i64| {
            backroom_domain::analytics::format_day(
                (backroom_core::util::now_micros() / 86_400_000_000 + d) as i32,
            )
        };
        let (today, tomorrow) = (day(0), day(1));
        let r = ok(call(
            &base_one,
            "GET",
            &format!("/api/v1/analytics/promotions?from={today}&to={tomorrow}"),
            None,
        )
        .await);
        assert_eq!(
            (r["discounts"].as_i64(), r["orders_with_discount"].as_i64()),
            (Some(3250), Some(2)),
            "{name}: {r}"
        );
        assert_eq!(r["codes"][0]["code"], first.as_str(), "{name}: {r}");
        let (good, out, err) = cli(
            &[
                "report",
                "promotions",
                "--from",
                &today,
                "--to",
                &tomorrow,
                "--format",
                "csv",
            ],
            &url,
        );
        assert!(good, "{name}: {err}");
        assert!(
            out.contains(&format!("{},Ten off,{first},1,1000,0,", id)),
            "{name}: {out}"
        );
        one.kill().unwrap();
        two.kill().unwrap();
        let _ = one.wait();
        let _ = two.wait();
    }
}

/// Budgets and targets through a real server and the CLI: a target set by PUT counts the
/// orders placed through the API; a campaign budget stops its promotion when the discount cap is
/// reached; `backroom report targets` and `backroom budgets set` print the same figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_and_targets_through_the_api_and_the_cli() {
    for (name, url) in database_urls().await {
        let (token, loc) = small_store_with_admin(&url).await;
        let (mut server, base) = spawn_server(&url, &[]).await;
        let http = reqwest::Client::new();
        let call = |method: &'static str, path: &str, body: Option<Value>| {
            let (http, token, base, path) =
                (http.clone(), token.clone(), base.clone(), path.to_string());
            async move {
                let (s, v) = request(&http, &base, method, &path, Some(&token), body).await;
                assert!(s.is_success(), "{method} {path}: {s} {v}");
                v
            }
        };
        call("POST", "/api/v1/products", Some(json!({"title": "Mug", "status": "active", "variants": [{"sku": "MUG", "price": 2000}]}))).await;
        call(
            "POST",
            "/api/v1/inventory/receive",
            Some(json!({"sku": "MUG", "location_id": loc, "quantity": 100})),
        )
        .await;
        let month = backroom_domain::analytics::format_day(
            (backroom_core::util::now_micros() / 86_400_000_000) as i32,
        )[..7]
            .to_string();
        let today = format!(
            "{month}{}",
            &backroom_domain::analytics::format_day(
                (backroom_core::util::now_micros() / 86_400_000_000) as i32
            )[7..]
        );
        // A campaign whose promotion gives 5.00, with 8.00 of discounts to spend.
        call("POST", "/api/v1/promotions", Some(json!({"name": "Mug deal", "kind": "fixed_amount", "value": "500", "automatic": true, "campaign": "mugs"}))).await;
        let b = call("POST", "/api/v1/campaign-budgets", Some(json!({"campaign": "MUGS", "starts_on": today, "ends_on": today, "discount_cap": 800}))).await;
        let mut discounts = Vec::new();
        for i in 0..3 {
            let o = call(
                "POST",
                "/api/v1/orders",
                Some(order_body(&[("MUG", 1)], &format!("m{i}@example.com"))),
            )
            .await;
            discounts.push(o["discounts"]["amount"].as_i64().unwrap());
        }
        assert_eq!(discounts, vec![500, 0, 0], "{name}: 5.00 fits in 8.00 once");
        let got = call(
            "GET",
            &format!("/api/v1/campaign-budgets/{}", b["id"]),
            None,
        )
        .await;
        assert_eq!(
            (got["discount_spent"].as_i64(), got["uses"].as_i64()),
            (Some(500), Some(1)),
            "{name}: {got}"
        );
        // A target: 60.00 - 5.00 of net sales so far.
        let t = call(
            "PUT",
            "/api/v1/targets",
            Some(json!([{"month": month, "revenue": 100000, "orders": 30}])),
        )
        .await;
        assert_eq!(t["targets"][0]["revenue_to_date"], 5500, "{name}: {t}");
        assert_eq!(t["targets"][0]["orders_to_date"], 3, "{name}");
        let (s, e) = request(
            &http,
            &base,
            "PUT",
            "/api/v1/budgets",
            Some(&token),
            Some(json!([{"month": "2026-13", "category": "support", "amount": 5}])),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {e}");
        assert_eq!(e["error"]["field"], "[0].month", "{name}: {e}");
        let (good, out, err) = cli(&["report", "targets", "--month", &month], &url);
        assert!(
            good && out.contains("$55.00") && out.contains("$1,000.00"),
            "{name}: {out} {err}"
        );
        let (good, out, err) = cli(
            &[
                "budgets",
                "set",
                "--month",
                &month,
                "--category",
                "discounts",
                "--amount",
                "1000",
            ],
            &url,
        );
        assert!(
            good && out.contains("discounts") && out.contains("$5.00") && out.contains("$10.00"),
            "{name}: {out} {err}"
        );
        let (good, _, err) = cli(
            &[
                "budgets",
                "set",
                "--month",
                &month,
                "--category",
                "refunds",
                "--amount",
                "1",
                "--actual",
                "3",
            ],
            &url,
        );
        assert!(!good && err.contains("measures refunds"), "{name}: {err}");
        server.kill().unwrap();
        let _ = server.wait();
    }
}
