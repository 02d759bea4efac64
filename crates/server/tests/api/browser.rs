//! The console in a real browser: Debian's Chromium driven over the W3C WebDriver protocol by
//! `chromedriver` (a few HTTP calls, so no extra crate). Screenshots of the main pages are saved
//! under `target/console-screenshots/` as test artifacts.
//!
//! When no browser is installed the test says so and passes without running, unless
//! `BACKROOM_REQUIRE_BROWSER` is set (CI sets it, after installing Chromium), where it fails.

use super::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub(super) struct Browser {
    http: reqwest::Client,
    url: String,
    driver: Child,
    shots: PathBuf,
    _profile: tempdir::Dir,
}

/// A throwaway directory removed on drop (Chromium's profile).
mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn find_program(env: &str, candidates: &[&str]) -> Option<String> {
    if let Ok(p) = std::env::var(env) {
        return Some(p);
    }
    candidates
        .iter()
        .find(|c| std::path::Path::new(c).exists())
        .map(|c| c.to_string())
}

impl Browser {
    /// Starts chromedriver and a headless Chromium, or says why the browser tests cannot run.
    pub(super) async fn start() -> Option<Browser> {
        let chromium = find_program(
            "BACKROOM_CHROMIUM",
            &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
        );
        let driver = find_program("BACKROOM_CHROMEDRIVER", &["/usr/bin/chromedriver"]);
        let (Some(chromium), Some(driver)) = (chromium, driver) else {
            assert!(
                std::env::var("BACKROOM_REQUIRE_BROWSER").is_err(),
                "BACKROOM_REQUIRE_BROWSER is set but Chromium or chromedriver is not installed"
            );
            eprintln!(
                "SKIPPED: the browser tests need Chromium and chromedriver (apt-get install chromium chromium-driver)"
            );
            return None;
        };
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = http.get(format!("{url}/status")).send().await
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = std::env::temp_dir().join(format!("backroom-chromium-{}", tag()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,1400",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }
        }}});
        let r: Value = http
            .post(format!("{url}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {r}"))
            .to_string();
        let shots = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../target/console-screenshots"
        ));
        std::fs::create_dir_all(&shots).unwrap();
        Some(Browser {
            http,
            url: format!("{url}/session/{session}"),
            driver: child,
            shots,
            _profile: tempdir::Dir(profile),
        })
    }

    async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let mut r = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.url));
        if let Some(b) = body {
            r = r.json(&b);
        }
        let v: Value = r.send().await.unwrap().json().await.unwrap();
        if let Some(e) = v["value"].get("error") {
            panic!("WebDriver {method} {path}: {e}: {}", v["value"]["message"]);
        }
        v["value"].clone()
    }

    pub(super) async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({"url": url}))).await;
    }

    /// The elements matching `css` now.
    async fn elements(&self, css: &str) -> Vec<String> {
        let r: Value = self
            .http
            .post(format!("{}/elements", self.url))
            .json(&json!({"using": "css selector", "value": css}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["value"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first element matching `css`, waiting up to 10 s for it to appear.
    pub(super) async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(e) = self.elements(css).await.into_iter().next() {
                return e;
            }
            assert!(Instant::now() < deadline, "no element matches {css}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(super) async fn fill(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.cmd("POST", &format!("/element/{e}/clear"), Some(json!({})))
            .await;
        self.cmd(
            "POST",
            &format!("/element/{e}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// Clicks a link or a submit button and waits for the next page to load.
    pub(super) async fn click(&self, css: &str) {
        let old = self.page_root().await;
        let e = self.find(css).await;
        self.cmd("POST", &format!("/element/{e}/click"), Some(json!({})))
            .await;
        self.wait_new_page(&old, &format!("clicking {css}")).await;
    }

    /// The page's root element: [`Browser::wait_new_page`] waits for it to go stale.
    pub(super) async fn page_root(&self) -> String {
        self.find("html").await
    }

    /// Waits (up to 10 s) until the page whose root is `old` has been replaced and the new one
    /// has loaded; `what` (the action expected to load it) names the failure.
    pub(super) async fn wait_new_page(&self, old: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r: Value = self
                .http
                .get(format!("{}/element/{old}/name", self.url))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if r["value"].get("error").is_some() {
                break;
            }
            assert!(Instant::now() < deadline, "{what} loaded no new page");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        while self.script("return document.readyState;").await != "complete" {
            assert!(
                Instant::now() < deadline,
                "the page after {what} did not finish loading"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// How many elements match `css` now.
    pub(super) async fn count(&self, css: &str) -> usize {
        self.elements(css).await.len()
    }

    /// Ticks a box (a click that loads no page).
    pub(super) async fn tick(&self, css: &str) {
        let e = self.find(css).await;
        self.cmd("POST", &format!("/element/{e}/click"), Some(json!({})))
            .await;
    }

    pub(super) async fn text(&self, css: &str) -> String {
        let e = self.find(css).await;
        self.cmd("GET", &format!("/element/{e}/text"), None)
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    /// An attribute of the first element matching `css` (empty when it has none).
    pub(super) async fn attr(&self, css: &str, name: &str) -> String {
        let e = self.find(css).await;
        self.cmd("GET", &format!("/element/{e}/attribute/{name}"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub(super) async fn current_url(&self) -> String {
        self.cmd("GET", "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Waits until the page's notice appears and returns (ok, text).
    pub(super) async fn notice(&self) -> (bool, String) {
        let e = self.find("p.notice").await;
        let class = self
            .cmd("GET", &format!("/element/{e}/attribute/class"), None)
            .await;
        let text = self.cmd("GET", &format!("/element/{e}/text"), None).await;
        (
            class.as_str().unwrap_or_default().contains("ok"),
            text.as_str().unwrap().to_string(),
        )
    }

    /// Presses the keys of `text` in turn, on whatever has the focus (`\u{E007}` is Enter).
    pub(super) async fn keys(&self, text: &str) {
        let actions: Vec<Value> = text
            .chars()
            .flat_map(|c| {
                [
                    json!({"type": "keyDown", "value": c.to_string()}),
                    json!({"type": "keyUp", "value": c.to_string()}),
                ]
            })
            .collect();
        self.cmd(
            "POST",
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        )
        .await;
    }

    /// A Chrome DevTools Protocol command, through chromedriver.
    pub(super) async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.cmd(
            "POST",
            "/goog/cdp/execute",
            Some(json!({"cmd": cmd, "params": params})),
        )
        .await
    }

    /// Shows pages `width` CSS pixels wide (a phone below 600, with touch), in the dark or light
    /// theme the page's `prefers-color-scheme` sees.
    pub(super) async fn emulate(&self, width: u32, dark: bool) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600}),
        )
        .await;
        let scheme = if dark { "dark" } else { "light" };
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        )
        .await;
    }

    /// Runs `body` as a function in the page and returns what it returns.
    pub(super) async fn script(&self, body: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": body, "args": []})),
        )
        .await
    }

    /// Loads axe-core (from `tests/browser/node_modules`, installed by `npm ci`) into every page
    /// opened from now on; `false` when it is not installed.
    pub(super) async fn load_axe(&self) -> bool {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/browser/node_modules/axe-core/axe.min.js"
        );
        let Ok(source) = std::fs::read_to_string(path) else {
            return false;
        };
        self.cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": source}),
        )
        .await;
        true
    }

    /// The accessibility audit of the page (WCAG 2 A and AA rules and axe's best practices):
    /// its violations as (rule, impact, help, the first elements).
    pub(super) async fn axe(&self) -> Vec<(String, String, String, String)> {
        let v = self
            .cmd(
                "POST",
                "/execute/async",
                Some(
                    json!({"args": [], "script": "const done = arguments[arguments.length - 1];\
                    axe.run(document, {resultTypes: ['violations']})\
                      .then(r => done(r.violations.map(v => [v.id, v.impact || '', v.help,\
                        v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ')])))\
                      .catch(e => done([['axe-failed', 'critical', String(e), '']]));"}),
                ),
            )
            .await;
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| {
                let f = |i: usize| x[i].as_str().unwrap_or_default().to_string();
                (f(0), f(1), f(2), f(3))
            })
            .collect()
    }

    pub(super) async fn screenshot(&self, name: &str) {
        use base64::Engine;
        let png = self.cmd("GET", "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        let path = self.shots.join(format!("{name}.png"));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, bytes).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends the session (closing Chromium) without waiting on the async runtime.
        let url = self.url.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    let _ = reqwest::Client::new().delete(url).send().await;
                });
            }
        })
        .join();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
