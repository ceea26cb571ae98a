//! Push and pull through a faulty proxy in front of the real registry:
//! some requests get a 500, some connections are closed without an
//! answer, the first download of each blob and the first uploads are cut
//! off halfway. kiln retries, resumes, and ends with the same digests.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::registry::Registry;
use common::{busybox, context, require, text, Kiln};

#[derive(Default)]
struct Faults {
    /// 500s and dropped connections on some requests.
    flaky: AtomicBool,
    /// Cut every blob download halfway (even ranged ones).
    cut_all: AtomicBool,
    /// `Range` headers of blob downloads, in order.
    ranges: Mutex<Vec<String>>,
    requests: AtomicUsize,
    /// Blob paths whose first download was already cut.
    cut_downloads: Mutex<HashSet<String>>,
    cut_uploads: AtomicUsize,
    injected: AtomicUsize,
}

/// Starts the proxy; returns its `127.0.0.1:PORT`.
fn start_proxy(upstream: String, faults: Arc<Faults>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let upstream = upstream.clone();
            let faults = faults.clone();
            std::thread::spawn(move || {
                let _ = handle(client, &upstream, &faults);
            });
        }
    });
    addr
}

/// One request per connection (`Connection: close` both ways).
fn handle(client: TcpStream, upstream: &str, faults: &Faults) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    if reader.fill_buf()?.first() == Some(&0x16) {
        return Ok(()); // A TLS hello: this is a plain HTTP registry.
    }
    let mut head = Vec::new();
    let mut range = String::new();
    let mut content_length = 0u64;
    let mut request_line = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if request_line.is_empty() {
            request_line = line.clone();
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            content_length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("range:") {
            range = line.trim_end().to_string();
        }
        if lower.starts_with("connection:") {
            continue;
        }
        if line == "\r\n" {
            head.extend_from_slice(b"Connection: close\r\n\r\n");
            break;
        }
        head.extend_from_slice(line.as_bytes());
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let n = faults.requests.fetch_add(1, Ordering::SeqCst);
    let mut client = client;
    if method == "GET" && path.contains("/blobs/sha256:") {
        faults.ranges.lock().unwrap().push(range.clone());
    }
    // Every fifth request: a server error; every seventh: no answer.
    if faults.flaky.load(Ordering::SeqCst) && (n % 5 == 3 || n % 7 == 5) {
        std::io::copy(
            &mut (&mut reader).take(content_length),
            &mut std::io::sink(),
        )?;
        faults.injected.fetch_add(1, Ordering::SeqCst);
        if n % 5 == 3 {
            client.write_all(
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
        }
        return Ok(());
    }
    let mut server = TcpStream::connect(upstream)?;
    server.write_all(&head)?;
    // The first two uploads with a body lose their second half.
    if content_length > 1024
        && (method == "PUT" || method == "PATCH")
        && faults.cut_uploads.fetch_add(1, Ordering::SeqCst) < 2
    {
        std::io::copy(&mut (&mut reader).take(content_length / 2), &mut server)?;
        faults.injected.fetch_add(1, Ordering::SeqCst);
        return Ok(());
    }
    std::io::copy(&mut (&mut reader).take(content_length), &mut server)?;
    let blob_get = method == "GET" && path.contains("/blobs/sha256:");
    let cut = blob_get
        && (faults.cut_all.load(Ordering::SeqCst)
            || (faults.flaky.load(Ordering::SeqCst)
                && range.is_empty()
                && faults
                    .cut_downloads
                    .lock()
                    .unwrap()
                    .insert(path.to_string())));
    if cut {
        relay_half(server, client)?;
        faults.injected.fetch_add(1, Ordering::SeqCst);
    } else {
        std::io::copy(&mut server, &mut client)?;
    }
    Ok(())
}

/// Relays the response head and half of its body, then hangs up.
fn relay_half(server: TcpStream, mut client: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(server);
    let mut length = 0u64;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        client.write_all(line.as_bytes())?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    std::io::copy(&mut reader.take(length / 2), &mut client)?;
    Ok(())
}

#[test]
fn push_and_pull_survive_resets_and_server_errors() {
    if !require("docker-registry") || !require("skopeo") || busybox().is_none() {
        return;
    }
    let registry = Registry::start();
    let faults = Arc::new(Faults::default());
    faults.flaky.store(true, Ordering::SeqCst);
    let proxy = start_proxy(registry.host.clone(), faults.clone());
    let kiln = Kiln::new();
    let dir = context(&[(
        "Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\nCOPY busybox /bin/second\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox head -c 3000000 /dev/urandom > /random\"]\n",
    )]);
    std::fs::copy(busybox().unwrap(), dir.path().join("busybox")).unwrap();
    let name = format!("{proxy}/test/faulty:v1");
    let meta = dir.path().join("meta.json");
    kiln.ok(
        dir.path(),
        &[
            "build",
            "--push",
            "-t",
            &name,
            "--metadata-file",
            meta.to_str().unwrap(),
            ".",
        ],
    );
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    let pushed = meta["containerimage.digest"].as_str().unwrap().to_string();
    // Straight from the registry (no proxy), skopeo sees the same image.
    let direct = format!("docker://{}/test/faulty:v1", registry.host);
    let out = std::process::Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            "--format",
            "{{.Digest}}",
            &direct,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), pushed);
    let copy = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("skopeo")
        .args(["copy", "-q", "--src-tls-verify=false", &direct])
        .arg(format!("dir:{}", copy.path().display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "blobs verify: {}", text(&out.stderr));

    // A fresh store pulls it through the proxy: same manifest digest.
    let fresh = Kiln::new();
    let out = fresh
        .cmd(Path::new("/"), &["pull", "-q", &name])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), pushed);
    let dir2 = context(&[(
        "Dockerfile",
        &format!("FROM {name}\nRUN [\"/bin/busybox\", \"test\", \"-s\", \"/random\"]\n"),
    )]);
    fresh.ok(dir2.path(), &["build", "."]);
    assert!(
        faults.injected.load(Ordering::SeqCst) >= 6,
        "faults were injected"
    );
    assert!(
        faults.cut_downloads.lock().unwrap().len() >= 3,
        "downloads were cut"
    );
    assert!(
        faults.cut_uploads.load(Ordering::SeqCst) >= 2,
        "uploads were cut"
    );
}

#[test]
fn a_corrupted_blob_is_refused_and_nothing_is_stored() {
    if !require("docker-registry") || busybox().is_none() {
        return;
    }
    let registry = Registry::start();
    let kiln = Kiln::new();
    let dir = context(&[(
        "Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\nCMD [\"/bin/busybox\"]\n",
    )]);
    std::fs::copy(busybox().unwrap(), dir.path().join("busybox")).unwrap();
    let name = format!("{}/test/corrupt:v1", registry.host);
    kiln.ok(dir.path(), &["build", "--push", "-t", &name, "."]);
    // Flip bytes of the layer inside the registry's storage (same size).
    let blobs = registry
        .dir
        .path()
        .join("data/docker/registry/v2/blobs/sha256");
    let mut layer = None;
    for prefix in std::fs::read_dir(&blobs).unwrap().flatten() {
        for blob in std::fs::read_dir(prefix.path()).unwrap().flatten() {
            let data = blob.path().join("data");
            if std::fs::metadata(&data).unwrap().len() > 100_000 {
                layer = Some((blob.file_name().to_string_lossy().into_owned(), data));
            }
        }
    }
    let (hex, data) = layer.expect("the layer blob");
    let mut bytes = std::fs::read(&data).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&data, bytes).unwrap();

    let fresh = Kiln::new();
    let out = fresh.run(Path::new("/"), &["pull", &name]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("digest mismatch: expected sha256:{hex}"))
            && err.contains("nothing was stored"),
        "{err}"
    );
    assert!(!fresh.root.path().join("blobs/sha256").join(&hex).exists());
    let ingest: Vec<_> = std::fs::read_dir(fresh.root.path().join("ingest"))
        .unwrap()
        .collect();
    assert!(ingest.is_empty(), "{ingest:?}");
    let out = fresh.run(Path::new("/"), &["push", &name]);
    assert!(
        text(&out.stderr).contains("no such image"),
        "the tag was not set"
    );
}

#[test]
fn an_interrupted_pull_resumes_in_the_next_run() {
    if !require("docker-registry") || !require("skopeo") || busybox().is_none() {
        return;
    }
    let registry = Registry::start();
    let kiln = Kiln::new();
    let dir = context(&[(
        "Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox head -c 4000000 /dev/urandom > /random\"]\n",
    )]);
    std::fs::copy(busybox().unwrap(), dir.path().join("busybox")).unwrap();
    let direct = format!("{}/test/resume:v1", registry.host);
    kiln.ok(dir.path(), &["build", "--push", "-t", &direct, "."]);

    let faults = Arc::new(Faults::default());
    faults.cut_all.store(true, Ordering::SeqCst);
    let proxy = start_proxy(registry.host.clone(), faults.clone());
    let name = format!("{proxy}/test/resume:v1");
    let fresh = Kiln::new();
    let out = fresh.run(Path::new("/"), &["pull", &name]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let partials: Vec<_> = std::fs::read_dir(fresh.root.path().join("downloads"))
        .unwrap()
        .flatten()
        .filter(|e| e.metadata().unwrap().len() > 0)
        .collect();
    assert!(!partials.is_empty(), "partial downloads are kept");

    faults.cut_all.store(false, Ordering::SeqCst);
    faults.ranges.lock().unwrap().clear();
    let out = fresh
        .cmd(Path::new("/"), &["pull", "-q", &name])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ranges = faults.ranges.lock().unwrap().clone();
    assert!(
        !ranges.is_empty()
            && ranges.iter().all(|r| {
                let r = r.to_ascii_lowercase();
                r.starts_with("range: bytes=") && !r.starts_with("range: bytes=0-")
            }),
        "the second run continued where the first stopped: {ranges:?}"
    );
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--format", "{{.Digest}}"])
        .arg(format!("docker://{direct}"))
        .output()
        .unwrap();
    let pulled = text(
        &fresh
            .cmd(Path::new("/"), &["pull", "-q", &name])
            .output()
            .unwrap()
            .stdout,
    );
    assert_eq!(pulled.trim(), text(&out.stdout).trim());
    let left: Vec<_> = std::fs::read_dir(fresh.root.path().join("downloads"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let dir2 = context(&[(
        "Dockerfile",
        &format!("FROM {name}\nRUN [\"/bin/busybox\", \"test\", \"-s\", \"/random\"]\n"),
    )]);
    fresh.ok(dir2.path(), &["build", "."]);
}
