//! An SMTP sink for tests (feature `mail`): a small SMTP server (RFC 5321's commands a client
//! sends for one plain-text session: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) on a loopback
//! port, keeping every message it accepts so the test can read it. It is the protocol peer of the
//! service's mailer, not a copy of our code. It can answer the next DATA commands with a
//! temporary failure (451), for retry tests.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// A message the sink accepted.
#[derive(Clone, Debug)]
pub struct Mail {
    /// MAIL FROM.
    pub from: String,
    /// RCPT TO, each.
    pub to: Vec<String>,
    /// The message as sent (headers and body, dot-unstuffed), CRLF line ends.
    pub data: String,
}

impl Mail {
    /// The message with quoted-printable soft breaks and `=XX` escapes undone (good enough to find
    /// a link in a body whatever transfer encoding the sender chose, base64 excepted).
    #[must_use]
    pub fn text(&self) -> String {
        let joined = self.data.replace("=\r\n", "");
        let bytes = joined.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'='
                && let Some(hex) = joined.get(i + 1..i + 3)
                && let Ok(byte) = u8::from_str_radix(hex, 16)
            {
                out.push(byte);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[derive(Debug, Default)]
struct Shared {
    mails: Mutex<Vec<Mail>>,
    arrived: Notify,
    fail_next: AtomicUsize,
}

/// A running sink (stops when dropped).
#[derive(Debug)]
pub struct SmtpSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpSink {
    /// Starts a sink on an ephemeral loopback port.
    ///
    /// # Panics
    ///
    /// When no port can be bound.
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind SMTP sink");
        let addr = listener.local_addr().expect("SMTP sink address");
        let shared = Arc::new(Shared::default());
        let serving = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, serving.clone()));
            }
        });
        SmtpSink { addr, shared, task }
    }

    /// `smtp://127.0.0.1:port` (plain SMTP, as `--smtp-url` takes it).
    #[must_use]
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Answers the next `n` DATA commands with 451 (try again later).
    pub fn fail_next(&self, n: usize) {
        self.shared.fail_next.store(n, Ordering::SeqCst);
    }

    /// Every message accepted so far.
    ///
    /// # Panics
    ///
    /// On a poisoned lock.
    #[must_use]
    pub fn mails(&self) -> Vec<Mail> {
        self.shared.mails.lock().expect("mails").clone()
    }

    /// Waits (at most `timeout`) for a message to `to`; `None` when none came.
    pub async fn wait_for(&self, to: &str, timeout: Duration) -> Option<Mail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.shared.arrived.notified();
            if let Some(mail) = self
                .mails()
                .into_iter()
                .find(|mail| mail.to.iter().any(|rcpt| rcpt.eq_ignore_ascii_case(to)))
            {
                return Some(mail);
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return None;
            }
        }
    }
}

fn address(arg: &str) -> String {
    let start = arg.find('<').map_or(0, |i| i + 1);
    let end = arg.rfind('>').unwrap_or(arg.len());
    arg.get(start..end).unwrap_or("").trim().to_owned()
}

fn crlf(text: &str) -> Vec<u8> {
    format!("{text}\r\n").into_bytes()
}

async fn session(stream: TcpStream, shared: Arc<Shared>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let _ = write.write_all(&crlf("220 dojo-test-sink ESMTP")).await;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let command = line.trim_end().to_owned();
        let verb = command.split(' ').next().unwrap_or("").to_ascii_uppercase();
        let answer = match verb.as_str() {
            "EHLO" => "250-dojo-test-sink\r\n250-8BITMIME\r\n250 SMTPUTF8".to_owned(),
            "HELO" | "NOOP" => "250 OK".to_owned(),
            "RSET" => {
                from.clear();
                to.clear();
                "250 OK".to_owned()
            }
            "MAIL" => {
                from = address(&command);
                "250 OK".to_owned()
            }
            "RCPT" => {
                to.push(address(&command));
                "250 OK".to_owned()
            }
            "DATA" => {
                if shared
                    .fail_next
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    "451 4.3.0 try again later".to_owned()
                } else {
                    let _ = write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await;
                    let mut data = String::new();
                    loop {
                        line.clear();
                        match lines.read_line(&mut line).await {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                        if line == ".\r\n" || line == ".\n" {
                            break;
                        }
                        let unstuffed = line.strip_prefix('.').unwrap_or(&line);
                        data.push_str(unstuffed);
                    }
                    shared.mails.lock().expect("mails").push(Mail {
                        from: std::mem::take(&mut from),
                        to: std::mem::take(&mut to),
                        data,
                    });
                    shared.arrived.notify_waiters();
                    "250 OK queued".to_owned()
                }
            }
            "QUIT" => {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            }
            _ => "502 command not implemented".to_owned(),
        };
        if write.write_all(&crlf(&answer)).await.is_err() {
            return;
        }
    }
}
