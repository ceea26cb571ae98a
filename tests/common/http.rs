//! A tiny HTTP/1.1 file server on 127.0.0.1 for `ADD <url>` tests: files
//! with or without ETag / Last-Modified, `If-None-Match`, HEAD, 404, and a
//! count of the bodies it sent.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct Resource {
    pub body: Vec<u8>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

#[derive(Default)]
struct State {
    files: HashMap<String, Resource>,
    /// Bodies sent (200 responses to GET), by path.
    bodies: HashMap<String, usize>,
}

pub struct Server {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl Server {
    /// Serves until the test process exits.
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = handle(stream, &shared);
            }
        });
        Server { port, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn put(&self, path: &str, resource: Resource) {
        self.state
            .lock()
            .unwrap()
            .files
            .insert(path.to_string(), resource);
    }

    /// How many times the body of `path` was sent.
    pub fn bodies_sent(&self, path: &str) -> usize {
        *self.state.lock().unwrap().bodies.get(path).unwrap_or(&0)
    }
}

fn handle(stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("");
    let path = target.split('?').next().unwrap_or("").to_string();
    let mut if_none_match = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("if-none-match") {
                if_none_match = Some(value.trim().to_string());
            }
        }
    }
    let mut out = stream;
    let resource = state.lock().unwrap().files.get(&path).cloned();
    let Some(res) = resource else {
        return out.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found",
        );
    };
    let mut head = String::new();
    if let Some(etag) = &res.etag {
        head.push_str(&format!("ETag: {etag}\r\n"));
    }
    if let Some(lm) = &res.last_modified {
        head.push_str(&format!("Last-Modified: {lm}\r\n"));
    }
    if res.etag.is_some() && if_none_match.as_deref() == res.etag.as_deref() {
        return out.write_all(
            format!("HTTP/1.1 304 Not Modified\r\n{head}Connection: close\r\n\r\n").as_bytes(),
        );
    }
    out.write_all(
        format!(
            "HTTP/1.1 200 OK\r\n{head}Content-Length: {}\r\nConnection: close\r\n\r\n",
            res.body.len()
        )
        .as_bytes(),
    )?;
    if method == "GET" {
        *state.lock().unwrap().bodies.entry(path).or_default() += 1;
        out.write_all(&res.body)?;
    }
    out.flush()
}
