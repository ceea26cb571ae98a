//! Where a registry host is reached, and how: `docker.io` is served by
//! `registry-1.docker.io`; every host is tried over HTTPS first, trusting
//! the system roots (or `SSL_CERT_FILE`) plus
//! `/etc/docker/certs.d/<host>/*.crt`, as docker does. `localhost`,
//! `127.0.0.0/8`, `::1` and hosts given with `--insecure-registry` fall
//! back to plain HTTP when the host does not speak TLS; for the insecure
//! ones certificates are not verified either (docker's rules).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::{RegistryError, Result};

/// Directories searched for per-registry CA certificates.
const CERTS_DIRS: &[&str] = &["/etc/docker/certs.d", "/etc/containers/certs.d"];

/// How to talk to one registry host.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The host as written in references (`docker.io`, `host:5000`).
    pub host: String,
    /// The API host (`registry-1.docker.io` for docker.io).
    pub api: String,
    /// Plain HTTP is allowed when TLS is not spoken.
    pub http_fallback: bool,
    /// `--insecure-registry`: certificates are not verified.
    pub skip_verify: bool,
}

impl Endpoint {
    pub fn new(host: &str, insecure: &[String]) -> Endpoint {
        let api = if host == "docker.io" {
            "registry-1.docker.io"
        } else {
            host
        };
        Endpoint {
            host: host.to_string(),
            api: api.to_string(),
            http_fallback: is_plain_http(host, insecure),
            skip_verify: insecure.iter().any(|h| h == host),
        }
    }

    pub fn https(&self) -> String {
        format!("https://{}", self.api)
    }

    pub fn http(&self) -> String {
        format!("http://{}", self.api)
    }

    /// An HTTP client for this host: system roots plus its certs.d CAs.
    pub fn client(&self) -> Result<reqwest::blocking::Client> {
        let mut builder = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .timeout(None)
            .pool_max_idle_per_host(16)
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::limited(10))
            .danger_accept_invalid_certs(self.skip_verify)
            .user_agent(concat!("kiln/", env!("CARGO_PKG_VERSION")));
        for dir in CERTS_DIRS {
            for ca in host_cas(&Path::new(dir).join(&self.host)) {
                let pem = std::fs::read(&ca).map_err(|e| RegistryError::io(ca.display(), e))?;
                let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                    RegistryError::Invalid(format!("CA certificate {}: {e}", ca.display()))
                })?;
                for cert in certs {
                    builder = builder.add_root_certificate(cert);
                }
            }
        }
        builder
            .build()
            .map_err(|e| RegistryError::Invalid(format!("HTTP client for {}: {e}", self.host)))
    }
}

/// `*.crt` files in a certs.d host directory (none if it does not exist).
fn host_cas(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "crt"))
        .collect();
    out.sort();
    out
}

/// Loopback registries and the ones the user marked insecure use HTTP.
pub fn is_plain_http(host: &str, insecure: &[String]) -> bool {
    if insecure.iter().any(|h| h == host) {
        return true;
    }
    let name = host_without_port(host);
    name == "localhost"
        || name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_may_use_plain_http_others_not() {
        let none: Vec<String> = Vec::new();
        for host in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
        ] {
            assert!(Endpoint::new(host, &none).http_fallback, "{host}");
            assert!(!Endpoint::new(host, &none).skip_verify, "{host}");
        }
        for host in ["ghcr.io", "10.0.0.1:5000", "localhost.example.com"] {
            assert!(!Endpoint::new(host, &none).http_fallback, "{host}");
        }
        let insecure = vec!["10.0.0.1:5000".to_string()];
        let e = Endpoint::new("10.0.0.1:5000", &insecure);
        assert!(e.http_fallback && e.skip_verify);
        assert_eq!(
            Endpoint::new("docker.io", &none).https(),
            "https://registry-1.docker.io"
        );
    }
}
