//! HTTP/1.1 written by hand on a TCP connection: for what a well-behaved client such as
//! reqwest will not send (a bare `%FF` in a path, a head that stops halfway, a body that
//! stalls) and for reading exactly what the server answers.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What the server answered before it closed the connection.
#[derive(Debug)]
pub struct Answer {
    /// The status, `None` when the server closed without answering.
    pub status: Option<u16>,
    /// The head's lines after the status line.
    pub headers: Vec<String>,
    pub body: String,
    /// How long after the request was written the server closed the connection.
    pub closed_after: Duration,
}

impl Answer {
    /// The body as JSON; panics (with the answer) when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then_some(value.trim())
        })
    }
}

/// Writes `head` then `body` (concurrently with reading, so a server that answers before
/// reading the whole body is heard) and reads until the server closes the connection,
/// which must happen within `patience`.
pub async fn exchange(addr: SocketAddr, head: &str, body: Vec<u8>, patience: Duration) -> Answer {
    let stream = TcpStream::connect(addr).await.expect("connects");
    let (mut read, mut write) = stream.into_split();
    let head = head.as_bytes().to_vec();
    let started = Instant::now();
    // The server may close before taking it all: write errors are expected then.
    let writer = tokio::spawn(async move {
        if write.write_all(&head).await.is_ok() {
            let _ = write.write_all(&body).await;
        }
        write
    });
    let mut received = Vec::new();
    let read_all = read.read_to_end(&mut received);
    // A reset after the answer is the server closing too.
    let _ = tokio::time::timeout(patience, read_all)
        .await
        .unwrap_or_else(|_| panic!("still open after {patience:?}"));
    let closed_after = started.elapsed();
    drop(writer.await);
    parse(&received, closed_after)
}

fn parse(received: &[u8], closed_after: Duration) -> Answer {
    let text = String::from_utf8_lossy(received);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok());
    Answer {
        status,
        headers: lines.map(str::to_string).collect(),
        body: body.to_string(),
        closed_after,
    }
}
