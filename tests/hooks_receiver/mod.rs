//! A real HTTP receiver on loopback for the hook tests: a std TcpListener
//! that records every request (headers, body, whether its signature is
//! valid), answers from a script or with a fixed status, and can go down
//! (its port refuses connections) and come back on the same port.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

#[path = "../../src/hooks/signature.rs"]
pub mod signature;

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The secret the test switches sign with.
pub const SECRET: &str = "whsec_test_0123456789abcdef";

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub at: Instant,
    /// `verify` of its Switchboard-Signature against [`SECRET`].
    pub signature: Result<(), signature::VerifyError>,
}

impl Delivery {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// A scripted answer: wait, then this status and body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub delay: Duration,
    pub status: u16,
    pub body: String,
}

struct Shared {
    got: Mutex<Vec<Delivery>>,
    /// Answered in order; when empty, `status` with `{}`.
    script: Mutex<VecDeque<Answer>>,
    status: Mutex<u16>,
}

/// See the module docs.
pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    running: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl Receiver {
    /// A receiver answering 200 on a free loopback port.
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut r = Receiver {
            addr,
            shared: Arc::new(Shared {
                got: Mutex::new(Vec::new()),
                script: Mutex::new(VecDeque::new()),
                status: Mutex::new(200),
            }),
            running: None,
        };
        r.serve(listener);
        r
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn serve(&mut self, listener: TcpListener) {
        let stop = Arc::new(AtomicBool::new(false));
        let (stop2, shared) = (stop.clone(), self.shared.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = shared.clone();
                std::thread::spawn(move || handle(stream, &shared));
            }
        });
        self.running = Some((stop, thread));
    }

    /// The port refuses connections until [`Receiver::up`].
    pub fn down(&mut self) {
        if let Some((stop, thread)) = self.running.take() {
            stop.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect(self.addr);
            let _ = thread.join();
        }
    }

    /// Listening again, on the same port.
    pub fn up(&mut self) {
        if self.running.is_some() {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(self.addr) {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("cannot listen on {} again: {e}", self.addr),
            }
        };
        self.serve(listener);
    }

    /// Answers with `status` (and `{}`) from now on.
    pub fn answer_status(&self, status: u16) {
        *self.shared.status.lock().unwrap() = status;
    }

    /// Answers the next requests from this script, in order.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.shared.script.lock().unwrap().extend(answers);
    }

    /// Everything received so far.
    pub fn got(&self) -> Vec<Delivery> {
        self.shared.got.lock().unwrap().clone()
    }

    /// Waits until `pred` holds for what was received.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&[Delivery]) -> bool) -> Vec<Delivery> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.got();
            if pred(&got) {
                return got;
            }
            if Instant::now() > deadline {
                let summary: Vec<String> = got
                    .iter()
                    .map(|d| {
                        let j = d.json();
                        format!("{} {} {}", j["type"], j["call_id"], j["id"])
                    })
                    .collect();
                panic!(
                    "the receiver did not get what was expected in time; it got:\n{}",
                    summary.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.down();
    }
}

fn handle(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
        if let Some(p) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let path = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = raw[head_end + 4..].to_vec();
    while body.len() < length {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => body.extend_from_slice(&buf[..n]),
        }
    }
    let now = chrono::Utc::now().timestamp();
    let signature = match headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(signature::HEADER)) {
        Some((_, v)) => signature::verify(SECRET.as_bytes(), v, &body, now, 300),
        None => Err(signature::VerifyError::Malformed),
    };
    shared.got.lock().unwrap().push(Delivery {
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
        signature,
    });
    let answer = shared.script.lock().unwrap().pop_front().unwrap_or_else(|| Answer {
        delay: Duration::ZERO,
        status: *shared.status.lock().unwrap(),
        body: "{}".into(),
    });
    std::thread::sleep(answer.delay);
    let _ = write!(
        stream,
        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        answer.status,
        answer.body.len(),
        answer.body
    );
}
