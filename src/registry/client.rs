//! One registry host: the HTTP client, authentication state, retries, and
//! the distribution API calls (`/v2/<repo>/manifests|blobs/...`).
//!
//! Every request names the token scopes it needs; the first request pings
//! `/v2/` to learn the challenge, then Basic or Bearer headers are added
//! up front (a body is never sent twice just to meet a 401). Server errors
//! (5xx, 429) and broken connections are retried with backoff.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use reqwest::blocking::{RequestBuilder, Response};
use reqwest::header::{HeaderMap, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};

use super::auth::{self, Challenge};
use super::credentials::{self, Credential};
use super::endpoint::Endpoint;
use super::error::{body_detail, RegistryError, Result};

/// Attempts for a request that fails transiently.
const ATTEMPTS: u32 = 5;

pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

pub fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

pub fn push_scope(repository: &str) -> String {
    format!("repository:{repository}:pull,push")
}

/// A registry host with its credentials and authentication state.
pub struct Registry {
    pub endpoint: Endpoint,
    http: reqwest::blocking::Client,
    credential: Option<Credential>,
    /// `https://host` or `http://host`, fixed by the first ping.
    base: OnceLock<String>,
    state: Mutex<AuthState>,
}

#[derive(Default)]
struct AuthState {
    /// `None` until `/v2/` was pinged; then its challenge (if any).
    challenge: Option<Option<Challenge>>,
    /// Bearer tokens by their scope list.
    tokens: HashMap<String, String>,
}

impl Registry {
    /// `host` with the credentials stored for it (config.json, helpers).
    pub fn connect(host: &str, insecure: &[String]) -> Result<Registry> {
        let credential = credentials::lookup(host)?;
        Registry::with_credential(host, insecure, credential)
    }

    pub fn with_credential(
        host: &str,
        insecure: &[String],
        credential: Option<Credential>,
    ) -> Result<Registry> {
        let endpoint = Endpoint::new(host, insecure);
        let http = endpoint.client()?;
        Ok(Registry {
            endpoint,
            http,
            credential,
            base: OnceLock::new(),
            state: Mutex::new(AuthState::default()),
        })
    }

    pub fn host(&self) -> &str {
        &self.endpoint.host
    }

    fn unreachable(&self, e: &reqwest::Error) -> RegistryError {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            message = format!("{message}: {s}");
            source = s.source();
        }
        RegistryError::Unreachable {
            host: self.endpoint.host.clone(),
            message,
        }
    }

    /// `GET /v2/` over HTTPS, or plain HTTP where allowed and the host
    /// does not speak TLS; fixes the scheme for later requests.
    fn ping(&self) -> Result<Response> {
        let get = |base: &str, attempts| {
            let url = format!("{base}/v2/");
            retry_n(attempts, || {
                self.http.get(&url).send().map_err(|e| self.unreachable(&e))
            })
        };
        let https = self.endpoint.https();
        // A probe only, when plain HTTP may follow.
        let attempts = if self.endpoint.http_fallback {
            1
        } else {
            ATTEMPTS
        };
        let response = match get(&https, attempts) {
            Ok(r) => {
                let _ = self.base.set(https);
                r
            }
            Err(e) if self.endpoint.http_fallback && !is_certificate_error(&e) => {
                let http = self.endpoint.http();
                match get(&http, ATTEMPTS) {
                    Ok(r) => {
                        let _ = self.base.set(http);
                        r
                    }
                    Err(_) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        Ok(response)
    }

    /// The URL of an API path (after the ping chose the scheme).
    fn url(&self, path: &str) -> Result<String> {
        self.challenge()?;
        let base = self.base.get().expect("set by the ping");
        Ok(format!("{base}{path}"))
    }

    /// Learns the challenge of `/v2/` (once).
    fn challenge(&self) -> Result<Option<Challenge>> {
        if let Some(c) = &self.state.lock().expect("auth state").challenge {
            return Ok(c.clone());
        }
        let response = self.ping()?;
        let challenge = if response.status() == StatusCode::UNAUTHORIZED {
            response
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(auth::parse_challenge)
        } else {
            None
        };
        self.state.lock().expect("auth state").challenge = Some(challenge.clone());
        Ok(challenge)
    }

    /// The `Authorization` value for a request needing `scopes`.
    fn authorization(&self, scopes: &[String], fresh: bool) -> Result<Option<String>> {
        match self.challenge()? {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(self.credential.as_ref().map(auth::basic_header)),
            Some(Challenge::Bearer { realm, service }) => {
                let key = scopes.join(" ");
                if !fresh {
                    if let Some(t) = self.state.lock().expect("auth state").tokens.get(&key) {
                        return Ok(Some(format!("Bearer {t}")));
                    }
                }
                let token = auth::fetch_token(
                    &self.http,
                    &self.endpoint.host,
                    &realm,
                    service.as_deref(),
                    scopes,
                    self.credential.as_ref(),
                )?;
                let header = format!("Bearer {token}");
                self.state
                    .lock()
                    .expect("auth state")
                    .tokens
                    .insert(key, token);
                Ok(Some(header))
            }
        }
    }

    /// Checks that the credential (or anonymous access) is accepted, as
    /// `docker login` does.
    pub fn login_check(&self) -> Result<()> {
        match self.challenge()? {
            None => Ok(()),
            Some(Challenge::Bearer { .. }) => self.authorization(&[], true).map(|_| ()),
            Some(Challenge::Basic) => {
                let response = self.send(Method::GET, "/v2/", &[], |r| r)?;
                match response.status() {
                    s if s.is_success() => Ok(()),
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(RegistryError::Auth {
                        host: self.endpoint.host.clone(),
                        message: "invalid username or password".into(),
                    }),
                    s => Err(self.status_error("GET", "/v2/", s, String::new())),
                }
            }
        }
    }

    /// Sends a request built by `build` (called again for each attempt),
    /// authenticated for `scopes`; transient failures are retried. The
    /// response may have any status: see [`Registry::expect`].
    pub fn send(
        &self,
        method: Method,
        path_or_url: &str,
        scopes: &[String],
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response> {
        self.send_with(method, path_or_url, scopes, build, ATTEMPTS)
    }

    /// [`Registry::send`] without retries, for upload steps whose retry
    /// must first ask the registry where the upload stands.
    pub fn send_once(
        &self,
        method: Method,
        path_or_url: &str,
        scopes: &[String],
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response> {
        self.send_with(method, path_or_url, scopes, build, 1)
    }

    fn send_with(
        &self,
        method: Method,
        path_or_url: &str,
        scopes: &[String],
        build: impl Fn(RequestBuilder) -> RequestBuilder,
        attempts: u32,
    ) -> Result<Response> {
        let url = if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_string()
        } else {
            self.url(path_or_url)?
        };
        let mut fresh = false;
        loop {
            let header = self.authorization(scopes, fresh)?;
            let response = retry_n(attempts, || {
                let mut req = build(self.http.request(method.clone(), &url));
                if let Some(h) = &header {
                    req = req.header(AUTHORIZATION, h);
                }
                let response = req.send().map_err(|e| self.unreachable(&e))?;
                let status = response.status();
                if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                    return Err(self.status_error(method.as_str(), &url, status, String::new()));
                }
                Ok(response)
            })?;
            // An expired token: fetch a new one once.
            if response.status() == StatusCode::UNAUTHORIZED && !fresh && header.is_some() {
                if let Some(Challenge::Bearer { .. }) = self.challenge()? {
                    fresh = true;
                    continue;
                }
            }
            return Ok(response);
        }
    }

    /// Passes a successful response through; turns the others into errors
    /// about `repository` and `what`.
    pub fn expect(&self, response: Response, repository: &str, what: &str) -> Result<Response> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let url = response.url().path().to_string();
        let body = response.text().unwrap_or_default();
        Err(match status {
            StatusCode::UNAUTHORIZED if self.credential.is_none() => RegistryError::LoginRequired {
                host: self.endpoint.host.clone(),
                repository: repository.to_string(),
            },
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => RegistryError::Denied {
                host: self.endpoint.host.clone(),
                repository: repository.to_string(),
                with_credentials: self.credential.is_some(),
            },
            StatusCode::NOT_FOUND => RegistryError::NotFound {
                host: self.endpoint.host.clone(),
                repository: repository.to_string(),
                what: what.to_string(),
            },
            s => self.status_error("request", &url, s, body_detail(&body)),
        })
    }

    fn status_error(
        &self,
        method: &str,
        url: &str,
        status: StatusCode,
        detail: String,
    ) -> RegistryError {
        RegistryError::Http {
            host: self.endpoint.host.clone(),
            method: method.to_string(),
            path: url.to_string(),
            status: status.as_u16(),
            detail,
        }
    }

    /// The manifest `reference` (tag or digest) of `repository`: its bytes
    /// and media type.
    pub fn get_manifest(&self, repository: &str, reference: &str) -> Result<(Vec<u8>, String)> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        let scopes = [pull_scope(repository)];
        let response = self.send(Method::GET, &path, &scopes, |r| {
            r.header("Accept", MANIFEST_ACCEPT)
        })?;
        let what = format!("manifest {reference}");
        let response = self.expect(response, repository, &what)?;
        let media_type = content_type(response.headers());
        let bytes = response.bytes().map_err(|e| self.unreachable(&e))?.to_vec();
        Ok((bytes, media_type))
    }

    /// The digest a tag points to, or `None` if the tag does not exist.
    pub fn head_manifest(
        &self,
        repository: &str,
        reference: &str,
        scopes: &[String],
    ) -> Result<Option<String>> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        let response = self.send(Method::HEAD, &path, scopes, |r| {
            r.header("Accept", MANIFEST_ACCEPT)
        })?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = self.expect(response, repository, "manifest")?;
        Ok(response
            .headers()
            .get("Docker-Content-Digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string))
    }

    /// Whether `repository` has the blob (HEAD), for the given scopes.
    pub fn blob_exists(&self, repository: &str, digest: &str, scopes: &[String]) -> Result<bool> {
        let path = format!("/v2/{repository}/blobs/{digest}");
        let response = self.send(Method::HEAD, &path, scopes, |r| r)?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(false),
            _ => self.expect(response, repository, digest).map(|_| true),
        }
    }

    /// Starts reading a blob from byte `offset` (a `Range` request when
    /// non-zero). Returns the response and whether it honoured the range.
    pub fn get_blob(
        &self,
        repository: &str,
        digest: &str,
        offset: u64,
    ) -> Result<(Response, bool)> {
        let path = format!("/v2/{repository}/blobs/{digest}");
        let scopes = [pull_scope(repository)];
        let response = self.send(Method::GET, &path, &scopes, |r| {
            if offset > 0 {
                r.header("Range", format!("bytes={offset}-"))
            } else {
                r
            }
        })?;
        let response = self.expect(response, repository, &format!("blob {digest}"))?;
        let partial = response.status() == StatusCode::PARTIAL_CONTENT;
        Ok((response, partial))
    }

    /// Uploads a manifest under `reference` (a tag or its digest).
    pub fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<()> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        let scopes = [push_scope(repository)];
        let response = self.send(Method::PUT, &path, &scopes, |r| {
            r.header("Content-Type", media_type).body(bytes.to_vec())
        })?;
        self.expect(response, repository, &format!("manifest {reference}"))
            .map(|_| ())
    }
}

/// A TLS failure about the certificate (never a reason to drop to HTTP).
fn is_certificate_error(e: &RegistryError) -> bool {
    matches!(e, RegistryError::Unreachable { message, .. } if message.to_ascii_lowercase().contains("certificate"))
}

/// The media type a response declares (without parameters).
pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get("Content-Type")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_string())
        .unwrap_or_default()
}

/// Runs `f` until it succeeds, fails for good, or runs out of attempts;
/// the delay doubles from 100 ms.
pub fn retry<T>(f: impl FnMut() -> Result<T>) -> Result<T> {
    retry_n(ATTEMPTS, f)
}

fn retry_n<T>(attempts: u32, mut f: impl FnMut() -> Result<T>) -> Result<T> {
    let mut delay = Duration::from_millis(100);
    let mut attempt = 1;
    loop {
        match f() {
            Err(e) if e.is_transient() && attempt < attempts => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(3));
                attempt += 1;
            }
            other => return other,
        }
    }
}
