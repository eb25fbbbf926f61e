//! The workbench page in a real headless Chromium (Debian `chromium` + `chromium-driver`,
//! driven over WebDriver by `fantoccini`), against the built-in registry with the default
//! model: the page lists the models, sends a message, streams the reply and ends it with
//! the stats line; the runtime panel shows the model; a screenshot is saved.
//!
//! Without `chromedriver` on the PATH the test says so and passes, unless
//! `EDGE_INFER_BROWSER_TEST=1` (CI sets it) makes that a failure. `EDGE_INFER_SCREENSHOT`
//! names where to save the PNG besides the target directory (`docs/workbench.png` is made
//! so).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use edge_infer::Registry;
use edge_infer_server::ServerConfig;
use fantoccini::{ClientBuilder, Locator};
use rkllm_test_double::TempDir;
use serde_json::json;

use crate::common::TestServer;

/// Chromium's flags: headless, and nothing that reaches for the network (this machine's
/// closed network otherwise makes it hang).
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,860",
];

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn find(cmd: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| std::path::Path::new(d).join(cmd))
        .find(|p| p.is_file())
}

#[tokio::test]
async fn the_workbench_streams_a_reply_in_chromium() {
    let required = std::env::var("EDGE_INFER_BROWSER_TEST").is_ok_and(|v| v == "1");
    let (Some(driver), Some(chromium)) = (find("chromedriver"), find("chromium")) else {
        assert!(!required, "EDGE_INFER_BROWSER_TEST=1 but chromium or chromedriver is not on the PATH (apt install chromium chromium-driver)");
        eprintln!(
            "browser test skipped: no chromium/chromedriver (apt install chromium chromium-driver)"
        );
        return;
    };
    crate::common::default_model();
    let s = TestServer::start(Registry::builtin(), ServerConfig::default()).await;

    let port = free_port();
    let _driver = Driver(
        Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let profile = TempDir::new("server-chromium").unwrap();
    let mut args: Vec<String> = FLAGS.iter().map(|f| f.to_string()).collect();
    args.push(format!("--user-data-dir={}", profile.path().display()));
    let caps =
        json!({"browserName": "chrome", "goog:chromeOptions": {"binary": chromium, "args": args}});
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let t0 = Instant::now();
    let client = loop {
        match ClientBuilder::new(connector.clone())
            .capabilities(caps.as_object().unwrap().clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => break c,
            Err(e) if t0.elapsed() < Duration::from_secs(30) => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("no WebDriver session: {e}"),
        }
    };

    // The session is closed (which quits Chromium) even when a check fails.
    let steps = std::panic::AssertUnwindSafe(async {
        client.goto(&s.url("/")).await.unwrap();
        let long = Duration::from_secs(180);
        // The selector lists the profiles and the models.
        client
            .wait()
            .at_most(long)
            .for_element(Locator::Css("#model option[value='default']"))
            .await
            .unwrap();
        let max = client.find(Locator::Id("max-tokens")).await.unwrap();
        max.clear().await.unwrap();
        max.send_keys("24").await.unwrap();
        let temp = client.find(Locator::Id("temperature")).await.unwrap();
        temp.clear().await.unwrap();
        temp.send_keys("0").await.unwrap();
        client
            .find(Locator::Id("prompt"))
            .await
            .unwrap()
            .send_keys("Write a short note about **lighthouses**.")
            .await
            .unwrap();
        client
            .find(Locator::Id("send"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();

        // Streamed text arrives, then the stats line ends the reply.
        client
            .wait()
            .at_most(long)
            .for_element(Locator::Css(".msg.assistant .body"))
            .await
            .unwrap();
        let stats = client
            .wait()
            .at_most(long)
            .for_element(Locator::Css(".msg.assistant .stats"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        // Each chunk re-renders the reply: read it again once it is complete.
        let reply = client
            .find(Locator::Css(".msg.assistant .body"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!reply.trim().is_empty(), "no reply text; stats: {stats}");
        for part in [
            "TTFT",
            "t/s",
            "cached",
            "24 generated",
            "model gemma-3-270m",
        ] {
            assert!(
                stats.contains(part),
                "`{part}` is not in the stats line: {stats}"
            );
        }
        let user = client
            .find(Locator::Css(".msg.user"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(user.contains("lighthouses"), "{user}");
        // The runtime panel shows the served model, loaded, with its settings.
        let panel = client.find(Locator::Id("runtime-body")).await.unwrap();
        let t0 = Instant::now();
        let mut text = String::new();
        while t0.elapsed() < Duration::from_secs(30) {
            text = panel.text().await.unwrap();
            if text.contains("loaded") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for part in [
            "gemma-3-270m",
            "llama",
            "n_ctx",
            "K / V",
            "Memory",
            "loaded",
        ] {
            assert!(
                text.contains(part),
                "`{part}` is not in the runtime panel: {text}"
            );
        }

        let png = client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        assert!(
            png.len() < 300 << 10,
            "the screenshot is {} bytes",
            png.len()
        );
        std::fs::write(
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("workbench.png"),
            &png,
        )
        .unwrap();
        if let Some(p) = std::env::var_os("EDGE_INFER_SCREENSHOT") {
            std::fs::write(p, &png).unwrap();
        }
    });
    let outcome = futures_util::FutureExt::catch_unwind(steps).await;
    let _ = client.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    s.stop().await;
}
