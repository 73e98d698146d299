//! A real browser for the inbox's tests: Debian's Chromium, headless, driven over WebDriver
//! by its ChromeDriver (both installed by `scripts/install-tools.sh`; nothing is downloaded
//! at run time). Each [`Browser`] has its own ChromeDriver on a free loopback port and its
//! own empty profile, and stops both when dropped.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::poll::{Patience, eventually};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Finding what a page shows after a poll (alerts come every 3 s) or a redirect.
pub const PAGE_PATIENCE: Patience = Patience {
    within: Duration::from_secs(20),
    every: Duration::from_millis(100),
};

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: TempDir,
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium with a window of `width`×`height`
    /// (a phone is 390×844). Notifications are allowed, as if the user had said yes.
    pub async fn start(width: u32, height: u32) -> Browser {
        for tool in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(tool).exists(),
                "{tool} is missing: run scripts/install-tools.sh (Debian's chromium and \
                 chromium-driver packages)"
            );
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".into()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("profile dir");
        let capabilities = capabilities(profile.path(), width, height);
        let url = format!("http://127.0.0.1:{port}");
        let client = eventually(PAGE_PATIENCE, async || {
            ClientBuilder::rustls()
                .map_err(|e| format!("no WebDriver client: {e}"))?
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
                .map_err(|e| format!("Chromium did not start under ChromeDriver: {e}"))
        })
        .await;
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("page loads");
    }

    /// The first element matching `css`, once the page shows one.
    pub async fn find(&self, css: &str) -> Element {
        eventually(PAGE_PATIENCE, async || {
            self.client
                .find(Locator::Css(css))
                .await
                .map_err(|e| format!("the page shows no {css}: {e}"))
        })
        .await
    }

    /// The text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("element text")
    }

    /// Waits until the text of `css` satisfies `check`; that text.
    pub async fn text_until(&self, css: &str, check: impl Fn(&str) -> bool) -> String {
        eventually(PAGE_PATIENCE, async || {
            let element = self.client.find(Locator::Css(css)).await;
            let element = element.map_err(|e| format!("the page shows no {css}: {e}"))?;
            let text = element.text().await.map_err(|e| format!("{css}: {e}"))?;
            if check(&text) {
                Ok(text)
            } else {
                Err(format!("{css} still says {text:?}"))
            }
        })
        .await
    }

    /// Types `text` into the field matching `css`.
    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("field cleared");
        field.send_keys(text).await.expect("text typed");
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("clicked");
    }

    pub async fn current_url(&self) -> String {
        self.client.current_url().await.expect("url").to_string()
    }

    /// Runs `script` in the page; its return value.
    pub async fn run(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .expect("script runs")
    }

    /// A PNG of the window, written to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let png = self.client.screenshot().await.expect("screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, png).expect("screenshot written");
    }

    pub async fn stop(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}

/// Headless, and without the background traffic a closed network refuses (updates, sync,
/// field trials).
fn capabilities(profile: &Path, width: u32, height: u32) -> serde_json::Map<String, Value> {
    let args = [
        "--headless=new".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--hide-scrollbars".into(),
        format!("--window-size={width},{height}"),
        format!("--user-data-dir={}", profile.display()),
    ];
    let options = json!({
        "binary": CHROMIUM,
        "args": args,
        "prefs": {"profile.default_content_setting_values.notifications": 1},
    });
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".into(), json!("chrome"));
    capabilities.insert("goog:chromeOptions".into(), options);
    capabilities
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
