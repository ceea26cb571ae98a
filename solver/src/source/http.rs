//! `ADD https://...`: one file downloaded into a snapshot, as BuildKit's
//! http source does it.
//!
//! - The file is named by the caller (the URL path's base name, as the
//!   Dockerfile frontend decides), written with mode 0600 and owned by
//!   root (`--chmod`/`--chown` apply when it is copied), its mtime taken
//!   from `Last-Modified` (the Unix epoch without one). It is never
//!   extracted here.
//! - With a checksum (`ADD --checksum=sha256:...`) the cache key is the
//!   checksum: a cached build does not touch the network. The download is
//!   verified while it streams, and a mismatch fails the step.
//! - Without one, every build asks the server again. With the ETag of the
//!   last download it sends `HEAD` then `GET` with `If-None-Match`, and an
//!   unchanged ETag reuses the stored file; otherwise the file is
//!   downloaded. Either way the cache key is the content digest (and
//!   `Last-Modified`), so the steps after the ADD are rebuilt only when
//!   the content changed.
//!
//! The body is streamed to disk and hashed on the way; never held in
//! memory. Custom CAs: `SSL_CERT_FILE` (read with the native roots).

use std::fs::{File, FileTimes, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use reqwest::blocking::{Client, Response};
use reqwest::header::{HeaderMap, ETAG, IF_NONE_MATCH, LAST_MODIFIED};
use reqwest::StatusCode;
use sha2::{Digest as _, Sha256, Sha384, Sha512};

use super::{name_for, snapshot_exists, state_dir, write_atomic, NewSnapshot};
use crate::store::{SnapshotId, Store};

/// One URL to download (`ADD <url> <dest>`).
#[derive(Debug, Clone)]
pub struct HttpSource {
    pub url: String,
    /// Name of the single file the snapshot holds.
    pub filename: String,
    /// `sha256:<hex>` (or sha384/sha512) the content must have.
    pub checksum: Option<String>,
    /// What this build learned while computing cache keys.
    resolved: OnceLock<Fetched>,
}

/// The content the URL had in this build.
#[derive(Debug, Clone)]
struct Fetched {
    digest: String,
    last_modified: Option<String>,
    snapshot: SnapshotId,
}

/// What is remembered about a URL between builds
/// (`$KILN_ROOT/sources/http/<hash>.json`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Record {
    etag: Option<String>,
    digest: String,
    last_modified: Option<String>,
    snapshot: SnapshotId,
}

impl HttpSource {
    pub fn new(url: String, filename: String, checksum: Option<String>) -> HttpSource {
        HttpSource {
            url,
            filename,
            checksum,
            resolved: OnceLock::new(),
        }
    }

    /// What the cache key depends on: the checksum when one is given (no
    /// network), else the current content digest and `Last-Modified`
    /// (downloading the file if it changed).
    pub fn resolve(&self, store: &Store) -> Result<String, String> {
        if let Some(sum) = &self.checksum {
            Algorithm::of(sum)?;
            return Ok(sum.clone());
        }
        let fetched = match self.resolved.get() {
            Some(f) => f,
            None => {
                let f = self.fetch_current(store)?;
                self.resolved.get_or_init(|| f)
            }
        };
        Ok(format!(
            "{}\0{}",
            fetched.digest,
            fetched.last_modified.as_deref().unwrap_or("")
        ))
    }

    /// The snapshot holding the file, downloading it unless this build (or
    /// an earlier one, for a checksum) already has it.
    pub fn snapshot(&self, store: &Store) -> Result<SnapshotId, String> {
        if let Some(f) = self.resolved.get() {
            if snapshot_exists(store, f.snapshot) {
                return Ok(f.snapshot);
            }
        }
        if let Some(sum) = &self.checksum {
            if let Some(r) = self.load(store).filter(|r| &r.digest == sum) {
                return Ok(r.snapshot);
            }
        }
        let response = self.get(&client()?, None)?;
        let fetched = self.save(store, response)?;
        if let Some(f) = self.resolved.get() {
            if f.digest != fetched.digest {
                return Err(format!(
                    "{}: the content changed during the build ({} then {})",
                    self.url, f.digest, fetched.digest
                ));
            }
        }
        Ok(fetched.snapshot)
    }

    /// The URL's current content: the stored download when the ETag is
    /// unchanged, else a fresh download.
    fn fetch_current(&self, store: &Store) -> Result<Fetched, String> {
        let client = client()?;
        let known = self.load(store).filter(|r| r.etag.is_some());
        let Some(record) = known else {
            let response = self.get(&client, None)?;
            return self.save(store, response);
        };
        let etag = record.etag.as_deref().unwrap_or_default();
        // Some servers send ETags but mishandle If-None-Match: compare the
        // ETag of a HEAD response first (as BuildKit does).
        if let Ok(head) = client
            .head(&self.url)
            .header(IF_NONE_MATCH, etag)
            .header("Accept-Encoding", "gzip")
            .send()
        {
            let status = head.status();
            if (status == StatusCode::OK || status == StatusCode::NOT_MODIFIED)
                && same_etag(head.headers(), etag, status)
            {
                return Ok(record.into());
            }
        }
        let response = self.get(&client, Some(etag))?;
        if response.status() == StatusCode::NOT_MODIFIED {
            if same_etag(response.headers(), etag, StatusCode::NOT_MODIFIED) {
                return Ok(record.into());
            }
            return Err(format!("{}: invalid not-modified ETag", self.url));
        }
        self.save(store, response)
    }

    /// `GET`, failing on an error status.
    fn get(&self, client: &Client, etag: Option<&str>) -> Result<Response, String> {
        let mut request = client.get(&self.url);
        if let Some(etag) = etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        let response = request
            .send()
            .map_err(|e| format!("{}: {}", self.url, chain(&e)))?;
        let status = response.status();
        if status.as_u16() < 200 || status.as_u16() >= 400 {
            return Err(format!(
                "{}: invalid response status {}",
                self.url,
                status.as_u16()
            ));
        }
        Ok(response)
    }

    /// Streams the body into a new snapshot, hashing (and verifying the
    /// checksum) on the way; records the result for the next build.
    fn save(&self, store: &Store, mut response: Response) -> Result<Fetched, String> {
        let name = safe_name(&self.filename)?;
        let snapshot = NewSnapshot::prepare(store)?;
        let path = snapshot.fs.join(name);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let mut hashes = Hashes::new(self.checksum.as_deref())?;
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = match response.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("{}: reading the response: {e}", self.url)),
            };
            hashes.update(&buf[..n]);
            file.write_all(&buf[..n])
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        let (digest, verified) = hashes.finish();
        if let Some(want) = &self.checksum {
            if *want != verified {
                return Err(format!(
                    "digest mismatch for {}: {verified} (expected: {want})",
                    self.url
                ));
            }
        }
        let last_modified = header(response.headers(), LAST_MODIFIED.as_str())
            .and_then(|v| httpdate::parse_http_date(&v).ok());
        let mtime = last_modified.unwrap_or(SystemTime::UNIX_EPOCH);
        set_mtime(&file, mtime).map_err(|e| format!("{}: {e}", path.display()))?;
        drop(file);
        let id = snapshot.commit()?;
        let record = Record {
            etag: header(response.headers(), ETAG.as_str()).map(|e| strip_weak(&e).to_string()),
            digest,
            last_modified: last_modified.map(httpdate::fmt_http_date),
            snapshot: id,
        };
        // Best effort: without the record the next build downloads again.
        let _ = self.store_record(store, &record);
        Ok(record.into())
    }

    fn record_path(&self, store: &Store) -> Result<std::path::PathBuf, String> {
        let dir = state_dir(store, "http")?;
        Ok(dir.join(format!("{}.json", name_for(&[&self.url, &self.filename]))))
    }

    /// The last download of this URL, if its snapshot still exists.
    fn load(&self, store: &Store) -> Option<Record> {
        let data = std::fs::read(self.record_path(store).ok()?).ok()?;
        let record: Record = serde_json::from_slice(&data).ok()?;
        snapshot_exists(store, record.snapshot).then_some(record)
    }

    fn store_record(&self, store: &Store, record: &Record) -> Result<(), String> {
        let path = self.record_path(store)?;
        let data = serde_json::to_vec(record).map_err(|e| e.to_string())?;
        write_atomic(&path, &data).map_err(|e| format!("{}: {e}", path.display()))
    }
}

impl From<Record> for Fetched {
    fn from(r: Record) -> Fetched {
        Fetched {
            digest: r.digest,
            last_modified: r.last_modified,
            snapshot: r.snapshot,
        }
    }
}

fn client() -> Result<Client, String> {
    Client::builder()
        .user_agent(concat!("kiln/", env!("CARGO_PKG_VERSION")))
        // Large files take long: no overall limit, only on connecting.
        .timeout(None::<Duration>)
        .connect_timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("HTTP client: {}", chain(&e)))
}

/// Whether the response names `etag` (a 304 without an ETag refers to the
/// one we asked about).
fn same_etag(headers: &HeaderMap, etag: &str, status: StatusCode) -> bool {
    match header(headers, ETAG.as_str()) {
        Some(v) => strip_weak(&v) == etag,
        None => status == StatusCode::NOT_MODIFIED,
    }
}

fn strip_weak(etag: &str) -> &str {
    etag.strip_prefix("W/").unwrap_or(etag)
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// A single path component, so the file stays inside the snapshot.
fn safe_name(name: &str) -> Result<&str, String> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(format!("invalid file name {name:?} for a download"));
    }
    Ok(name)
}

fn set_mtime(file: &File, t: SystemTime) -> std::io::Result<()> {
    file.set_times(FileTimes::new().set_accessed(t).set_modified(t))
}

/// The error and its causes on one line (reqwest's own text is terse:
/// "error sending request").
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cause = c.source();
    }
    s
}

/// A checksum's algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    Sha256,
    Sha384,
    Sha512,
}

impl Algorithm {
    fn of(checksum: &str) -> Result<Algorithm, String> {
        let (algo, hex) = checksum.split_once(':').unwrap_or(("", ""));
        let (algorithm, len) = match algo {
            "sha256" => (Algorithm::Sha256, 64),
            "sha384" => (Algorithm::Sha384, 96),
            "sha512" => (Algorithm::Sha512, 128),
            _ => return Err(format!("unsupported checksum {checksum:?}")),
        };
        if hex.len() != len || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(format!("invalid checksum {checksum:?}"));
        }
        Ok(algorithm)
    }
}

/// sha256 of the content (its identity in the cache), plus the checksum's
/// algorithm when that is another one.
struct Hashes {
    sha256: Sha256,
    other: Option<OtherHash>,
}

enum OtherHash {
    Sha384(Sha384),
    Sha512(Sha512),
}

impl Hashes {
    fn new(checksum: Option<&str>) -> Result<Hashes, String> {
        let other = match checksum.map(Algorithm::of).transpose()? {
            Some(Algorithm::Sha384) => Some(OtherHash::Sha384(Sha384::new())),
            Some(Algorithm::Sha512) => Some(OtherHash::Sha512(Sha512::new())),
            _ => None,
        };
        Ok(Hashes {
            sha256: Sha256::new(),
            other,
        })
    }

    fn update(&mut self, data: &[u8]) {
        self.sha256.update(data);
        match &mut self.other {
            Some(OtherHash::Sha384(h)) => h.update(data),
            Some(OtherHash::Sha512(h)) => h.update(data),
            None => {}
        }
    }

    /// (sha256 digest, digest in the checksum's algorithm).
    fn finish(self) -> (String, String) {
        let sha256 = format!("sha256:{}", hex::encode(self.sha256.finalize()));
        let other = match self.other {
            Some(OtherHash::Sha384(h)) => format!("sha384:{}", hex::encode(h.finalize())),
            Some(OtherHash::Sha512(h)) => format!("sha512:{}", hex::encode(h.finalize())),
            None => sha256.clone(),
        };
        (sha256, other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_algorithms() {
        let h = "a".repeat(64);
        assert_eq!(Algorithm::of(&format!("sha256:{h}")), Ok(Algorithm::Sha256));
        assert!(Algorithm::of(&format!("sha256:{}", &h[1..])).is_err());
        assert!(Algorithm::of(&format!("md5:{h}")).is_err());
        assert!(Algorithm::of(&format!("sha256:{}", h.to_uppercase())).is_err());
        assert_eq!(
            Algorithm::of(&format!("sha512:{}", "0".repeat(128))),
            Ok(Algorithm::Sha512)
        );
    }

    #[test]
    fn hashes_verify_in_the_checksum_algorithm() {
        let mut h = Hashes::new(Some(&format!("sha512:{}", "0".repeat(128)))).unwrap();
        h.update(b"abc");
        let (sha256, other) = h.finish();
        assert_eq!(
            sha256,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(other.starts_with("sha512:ddaf35a193617aba"));
    }

    #[test]
    fn etags_and_names() {
        let mut headers = HeaderMap::new();
        assert!(same_etag(&headers, "\"x\"", StatusCode::NOT_MODIFIED));
        assert!(!same_etag(&headers, "\"x\"", StatusCode::OK));
        headers.insert(ETAG, "W/\"x\"".parse().unwrap());
        assert!(same_etag(&headers, "\"x\"", StatusCode::OK));
        assert!(!same_etag(&headers, "\"y\"", StatusCode::NOT_MODIFIED));
        assert!(safe_name("a.tar.gz").is_ok());
        assert!(safe_name("..").is_err());
        assert!(safe_name("a/b").is_err());
    }
}
