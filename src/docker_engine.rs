//! A minimal client of the Docker engine API for `kiln build --load`:
//! `POST /images/load` with the docker-archive streamed as the chunked
//! request body, over the engine's unix socket (`DOCKER_HOST=unix://...`,
//! default `/var/run/docker.sock`) or TCP (`tcp://host:port`, plain).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;

use anyhow::{anyhow, bail, Context as _, Result};

/// Where the engine listens: `DOCKER_HOST`, else the default socket.
pub fn host() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string())
}

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

fn connect(host: &str) -> Result<Box<dyn Stream>> {
    if let Some(path) = host.strip_prefix("unix://") {
        let s = UnixStream::connect(path)
            .with_context(|| format!("connecting to the Docker engine at {host}"))?;
        return Ok(Box::new(s));
    }
    if let Some(addr) = host.strip_prefix("tcp://") {
        let s = TcpStream::connect(addr.trim_end_matches('/'))
            .with_context(|| format!("connecting to the Docker engine at {host}"))?;
        return Ok(Box::new(s));
    }
    bail!("DOCKER_HOST={host}: only unix:// and tcp:// engines are supported")
}

/// HTTP/1.1 chunked transfer encoding over a writer.
struct Chunked<W: Write>(W);

impl<W: Write> Write for Chunked<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        write!(self.0, "{:x}\r\n", buf.len())?;
        self.0.write_all(buf)?;
        self.0.write_all(b"\r\n")?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Loads the docker-archive `write_archive` produces into the engine at
/// `host`; returns the engine's messages (`Loaded image: ...`).
pub fn load(
    host: &str,
    write_archive: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<Vec<String>> {
    let stream = connect(host)?;
    let mut out = io::BufWriter::with_capacity(1 << 20, stream);
    out.write_all(
        b"POST /images/load?quiet=1 HTTP/1.1\r\nHost: docker\r\n\
          Content-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n",
    )?;
    {
        let mut body = io::BufWriter::with_capacity(1 << 20, Chunked(&mut out));
        write_archive(&mut body)?;
        body.flush()?;
    }
    out.write_all(b"0\r\n\r\n")?;
    out.flush()?;
    let stream = out.into_inner().map_err(|e| e.into_error())?;
    let (status, body) = read_response(stream)?;
    let messages = parse_messages(&body)?;
    if !(200..300).contains(&status) {
        bail!(
            "the Docker engine refused the image (HTTP {status}): {}",
            body.trim()
        );
    }
    Ok(messages)
}

/// The status code and body of an HTTP/1.1 response.
fn read_response(stream: Box<dyn Stream>) -> Result<(u16, String)> {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("the Docker engine answered {:?}", line.trim()))?;
    let (mut chunked, mut length) = (false, None);
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').unwrap_or((&line, ""));
        match k.trim().to_ascii_lowercase().as_str() {
            "transfer-encoding" => chunked = v.trim().eq_ignore_ascii_case("chunked"),
            "content-length" => length = v.trim().parse::<u64>().ok(),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| anyhow!("bad chunk from the Docker engine: {line:?}"))?;
            if size == 0 {
                break;
            }
            let mut chunk = vec![0; size + 2];
            r.read_exact(&mut chunk)?;
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(n) = length {
        r.take(n).read_to_end(&mut body)?;
    } else {
        r.read_to_end(&mut body)?;
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// The `stream` texts of the engine's JSON messages; an `error` message
/// fails.
fn parse_messages(body: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for line in body.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
            bail!("the Docker engine failed to load the image: {e}");
        }
        if let Some(s) = v.get("stream").and_then(|s| s.as_str()) {
            out.extend(s.lines().map(str::to_string).filter(|l| !l.is_empty()));
        }
        if let Some(m) = v.get("message").and_then(|s| s.as_str()) {
            out.push(m.to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_errors() {
        let body = "{\"stream\":\"Loaded image: a:1\\n\"}\n";
        assert_eq!(parse_messages(body).unwrap(), ["Loaded image: a:1"]);
        let err =
            parse_messages("{\"errorDetail\":{\"message\":\"x\"},\"error\":\"x\"}").unwrap_err();
        assert!(err.to_string().ends_with("load the image: x"));
    }

    #[test]
    fn chunked_encoding() {
        let mut buf = Vec::new();
        Chunked(&mut buf).write_all(b"hello").unwrap();
        assert_eq!(buf, b"5\r\nhello\r\n");
    }
}
