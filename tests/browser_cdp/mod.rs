//! Headless Chromium (Debian's `chromium`) driven over the DevTools protocol
//! on a pipe (fd 3 in, fd 4 out, here two FIFOs in its temp dir: JSON
//! messages ended by a NUL byte), for the wallboard and browser agent tests;
//! with a microphone, a fake one plays a WAV file and the permission prompt
//! is accepted. The viewport is 1920x1080. The browser only talks to
//! 127.0.0.1: host names resolve to nothing and its background services are
//! off. Its profile is a new empty directory, removed with it.
#![allow(dead_code)]

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{poll_until, require_tool};

pub(crate) fn chromium() -> PathBuf {
    require_tool("chromium", "-y chromium")
}

/// A browser with one page open at a URL.
pub(crate) struct Browser {
    child: Option<Child>,
    to_browser: File,
    from_browser: mpsc::Receiver<Value>,
    next_id: u64,
    session: String,
    dir: tempfile::TempDir,
}

impl Browser {
    /// Opens `url`, with `microphone` (a WAV file) as the fake audio device
    /// if given.
    pub(crate) fn open(url: &str, microphone: Option<&Path>) -> Browser {
        Browser::open_with(url, microphone, &[])
    }

    /// [`Browser::open`] with more command-line switches.
    pub(crate) fn open_with(url: &str, microphone: Option<&Path>, switches: &[&str]) -> Browser {
        let chromium = chromium();
        let dir = tempfile::Builder::new().prefix("test-chromium-").tempdir().unwrap();
        let fifo_in = dir.path().join("cdp-in");
        let fifo_out = dir.path().join("cdp-out");
        let made = Command::new("mkfifo").arg(&fifo_in).arg(&fifo_out).status().unwrap();
        assert!(made.success(), "mkfifo failed");
        let log = File::create(dir.path().join("chromium.log")).unwrap();
        let child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<"$CDP_IN" 4>"$CDP_OUT""#)
            .arg(&chromium)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--disable-dev-shm-usage",
                "--remote-debugging-pipe",
                "--window-size=1920,1080",
                "--hide-scrollbars",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-default-apps",
                "--disable-sync",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-domain-reliability",
                "--disable-client-side-phishing-detection",
                "--no-pings",
                "--mute-audio",
                "--autoplay-policy=no-user-gesture-required",
                // Nothing but the IP literal of the page is reachable by name.
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            ])
            .args(microphone.into_iter().flat_map(|wav| {
                [
                    "--use-fake-ui-for-media-stream".to_owned(),
                    "--use-fake-device-for-media-stream".to_owned(),
                    format!("--use-file-for-fake-audio-capture={}", wav.display()),
                ]
            }))
            .args(switches)
            .arg(format!("--user-data-dir={}", dir.path().join("profile").display()))
            .arg(url)
            .env("CDP_IN", &fifo_in)
            .env("CDP_OUT", &fifo_out)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn chromium");
        // Opening a FIFO waits for the other end: do it aside, with a deadline.
        let (opened_tx, opened) = mpsc::channel();
        std::thread::spawn(move || {
            let to = std::fs::OpenOptions::new().write(true).open(&fifo_in);
            let from = to.is_ok().then(|| File::open(&fifo_out));
            let _ = opened_tx.send((to, from));
        });
        let mut browser_child = Some(child);
        let (to_browser, from) = match opened.recv_timeout(Duration::from_secs(15)) {
            Ok((Ok(to), Some(Ok(from)))) => (to, from),
            other => {
                if let Some(mut c) = browser_child.take() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                panic!(
                    "no DevTools pipe from chromium ({other:?}):\n{}",
                    std::fs::read_to_string(dir.path().join("chromium.log")).unwrap_or_default()
                );
            }
        };
        let (tx, from_browser) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(from);
            loop {
                let mut message = Vec::new();
                match reader.read_until(0, &mut message) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                if message.last() == Some(&0) {
                    message.pop();
                }
                let Ok(value) = serde_json::from_slice::<Value>(&message) else {
                    continue;
                };
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        let mut browser = Browser {
            child: browser_child,
            to_browser,
            from_browser,
            next_id: 0,
            session: String::new(),
            dir,
        };
        let page = poll_until(Duration::from_secs(10), || {
            let targets = browser.call("Target.getTargets", json!({}));
            targets["targetInfos"]
                .as_array()?
                .iter()
                .find(|t| t["type"] == "page")
                .and_then(|t| t["targetId"].as_str().map(str::to_owned))
        })
        .unwrap_or_else(|| panic!("chromium opened no page\n{}", browser.log()));
        let attached = browser.call("Target.attachToTarget", json!({ "targetId": page, "flatten": true }));
        browser.session = attached["sessionId"].as_str().unwrap().to_owned();
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": false }),
        );
        browser
    }

    /// Its temporary directory (profile, log), removed with it.
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("chromium.log")).unwrap_or_default()
    }

    /// Sends a command (to the page once attached) and waits for its answer.
    pub(crate) fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        if let Err(e) = self.to_browser.write_all(&bytes) {
            panic!("{method}: writing to chromium: {e}\n{}", self.log());
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.from_browser.recv_timeout(left) {
                Ok(answer) if answer["id"] == id => {
                    if let Some(error) = answer.get("error") {
                        panic!("{method}: {error}");
                    }
                    return answer["result"].clone();
                }
                Ok(_event) => {}
                Err(_) => panic!("{method}: no answer from chromium\n{}", self.log()),
            }
        }
    }

    /// Evaluates a JavaScript expression in the page (promises awaited);
    /// its value as JSON.
    pub(crate) fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression}: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Waits until `expression` is truthy in the page.
    pub(crate) fn wait_for(&mut self, expression: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let v = self.eval(&format!("!!({expression})"));
            if v == json!(true) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        // Ask politely, then insist.
        let mut bytes = serde_json::to_vec(&json!({ "id": 0, "method": "Browser.close" })).unwrap();
        bytes.push(0);
        let _ = self.to_browser.write_all(&bytes);
        let closed = poll_until(Duration::from_secs(3), || child.try_wait().ok().flatten());
        if closed.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("===== chromium log =====\n{}", self.log());
        }
    }
}

/// A mono 48 kHz WAV of a 440 Hz tone, `seconds` long, for the fake microphone.
pub(crate) fn tone_wav(path: &Path, seconds: u32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..48_000 * seconds {
        let t = f64::from(i) / 48_000.0;
        w.write_sample((9000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
}

/// Logs in on the agent page (/agent) once it has loaded.
pub(crate) fn agent_log_in(browser: &mut Browser, ext: &str, password: &str) {
    assert!(
        browser.wait_for(
            "window.agentPage && window.JsSIP && document.getElementById('login-form')",
            Duration::from_secs(10)
        ),
        "the page loaded\n{}",
        browser.log()
    );
    browser.eval(&format!(
        "document.getElementById('ext').value = {ext:?}; \
         document.getElementById('password').value = {password:?}; \
         document.getElementById('login-form').requestSubmit(); true"
    ));
}

/// The agent page's own log (what JsSIP and the page did).
pub(crate) fn agent_page_log(browser: &mut Browser) -> String {
    browser
        .eval("window.agentPage.log.join('\\n')")
        .as_str()
        .unwrap_or_default()
        .to_owned()
}
