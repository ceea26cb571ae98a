//! Registry credentials in docker's `config.json` format, in
//! `$DOCKER_CONFIG` (default `~/.docker`): `auths` entries
//! (`{"auth": base64("user:password")}` or an `identitytoken`), and the
//! `credsStore` / `credHelpers` programs (`docker-credential-<name>
//! get|store|erase`, JSON on stdin/stdout). `kiln login` writes the same
//! places docker would, so either tool reads what the other stored.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::error::{RegistryError, Result};

/// The key docker uses for Docker Hub.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// A user name and secret; an identity token has the user `<token>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub secret: String,
}

impl Credential {
    /// An OAuth2 refresh token rather than a password.
    pub fn is_identity_token(&self) -> bool {
        self.username == "<token>"
    }
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn config_path() -> Result<PathBuf> {
    let dir = match std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".docker"))
            .ok_or_else(|| {
                RegistryError::Credentials("neither DOCKER_CONFIG nor HOME is set".into())
            })?,
    };
    Ok(dir.join("config.json"))
}

fn read_config() -> Result<Map<String, Value>> {
    let path = config_path()?;
    match std::fs::read(&path) {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(Map::new()),
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(RegistryError::Credentials(format!(
                "{}: not a JSON object",
                path.display()
            ))),
            Err(e) => Err(RegistryError::Credentials(format!(
                "{}: {e}",
                path.display()
            ))),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => Err(RegistryError::io(path.display(), e)),
    }
}

/// Writes the config next to itself and renames it into place (0600: it
/// holds secrets).
fn write_config(config: &Map<String, Value>) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = config_path()?;
    let dir = path.parent().expect("config.json has a directory");
    std::fs::create_dir_all(dir).map_err(|e| RegistryError::io(dir.display(), e))?;
    let tmp = path.with_extension("json.kiln-tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| RegistryError::io(tmp.display(), e))?;
    let text = serde_json::to_string_pretty(config).expect("JSON value serializes");
    file.write_all(text.as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(|e| RegistryError::io(tmp.display(), e))?;
    std::fs::rename(&tmp, &path).map_err(|e| RegistryError::io(path.display(), e))
}

/// The key of `host` in `auths` (docker keeps Docker Hub's legacy URL).
pub fn server_key(host: &str) -> String {
    if host == "docker.io" {
        DOCKER_HUB_KEY.to_string()
    } else {
        host.to_string()
    }
}

/// `https://host/v1/` -> `host`: how docker matches `auths` keys.
fn normalize_key(key: &str) -> String {
    let stripped = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = stripped.split('/').next().unwrap_or(stripped);
    match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        h => h.to_string(),
    }
}

/// The helper program for `host`, if the config names one.
fn helper_for(config: &Map<String, Value>, host: &str) -> Option<String> {
    let by_host = config
        .get("credHelpers")
        .and_then(Value::as_object)
        .and_then(|helpers| {
            helpers
                .iter()
                .find(|(k, _)| normalize_key(k) == host)
                .and_then(|(_, v)| v.as_str())
        });
    by_host
        .or_else(|| config.get("credsStore").and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The stored credential for `host`, if any.
pub fn lookup(host: &str) -> Result<Option<Credential>> {
    let config = read_config()?;
    if let Some(helper) = helper_for(&config, host) {
        if let Some(cred) = helper_get(&helper, &server_key(host))? {
            return Ok(Some(cred));
        }
    }
    let Some(auths) = config.get("auths").and_then(Value::as_object) else {
        return Ok(None);
    };
    let Some((_, entry)) = auths.iter().find(|(k, _)| normalize_key(k) == host) else {
        return Ok(None);
    };
    decode_entry(host, entry)
}

fn decode_entry(host: &str, entry: &Value) -> Result<Option<Credential>> {
    if let Some(token) = entry.get("identitytoken").and_then(Value::as_str) {
        if !token.is_empty() {
            return Ok(Some(Credential {
                username: "<token>".into(),
                secret: token.into(),
            }));
        }
    }
    let bad = || RegistryError::Credentials(format!("invalid auth entry for {host}"));
    if let Some(auth) = entry.get("auth").and_then(Value::as_str) {
        if auth.is_empty() {
            return Ok(None);
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| bad())?;
        let text = String::from_utf8(raw).map_err(|_| bad())?;
        let (user, pass) = text.split_once(':').ok_or_else(bad)?;
        return Ok(Some(Credential {
            username: user.into(),
            secret: pass.into(),
        }));
    }
    match (
        entry.get("username").and_then(Value::as_str),
        entry.get("password").and_then(Value::as_str),
    ) {
        (Some(u), Some(p)) => Ok(Some(Credential {
            username: u.into(),
            secret: p.into(),
        })),
        _ => Ok(None),
    }
}

/// Saves a credential where docker would: the helper if one is
/// configured, else `auths` in config.json.
pub fn store(host: &str, cred: &Credential) -> Result<()> {
    let mut config = read_config()?;
    let key = server_key(host);
    if let Some(helper) = helper_for(&config, host) {
        let input = json!({"ServerURL": key, "Username": cred.username, "Secret": cred.secret});
        helper_call(&helper, "store", &input.to_string())?;
        // docker leaves an empty entry so `docker info` lists the login.
        auths_mut(&mut config).insert(key, json!({}));
    } else {
        let auth = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", cred.username, cred.secret));
        let auths = auths_mut(&mut config);
        auths.retain(|k, _| normalize_key(k) != host);
        auths.insert(key, json!({ "auth": auth }));
    }
    write_config(&config)
}

/// Removes the credential for `host`; `false` if there was none.
pub fn erase(host: &str) -> Result<bool> {
    let mut config = read_config()?;
    let mut found = false;
    if let Some(helper) = helper_for(&config, host) {
        found = helper_get(&helper, &server_key(host))?.is_some();
        if found {
            helper_call(&helper, "erase", &server_key(host))?;
        }
    }
    let auths = auths_mut(&mut config);
    let before = auths.len();
    auths.retain(|k, _| normalize_key(k) != host);
    found |= auths.len() != before;
    if found {
        write_config(&config)?;
    }
    Ok(found)
}

fn auths_mut(config: &mut Map<String, Value>) -> &mut Map<String, Value> {
    let entry = config
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    entry.as_object_mut().expect("just made an object")
}

fn helper_get(helper: &str, server: &str) -> Result<Option<Credential>> {
    let out = match helper_call(helper, "get", server) {
        Ok(out) => out,
        // The protocol's "no credentials" answer.
        Err(RegistryError::Credentials(msg)) if msg.contains("credentials not found") => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(rename = "Username", default)]
        username: String,
        #[serde(rename = "Secret", default)]
        secret: String,
    }
    let answer: Answer = serde_json::from_str(&out).map_err(|e| {
        RegistryError::Credentials(format!("docker-credential-{helper}: invalid answer: {e}"))
    })?;
    if answer.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credential {
        username: answer.username,
        secret: answer.secret,
    }))
}

/// Runs `docker-credential-<helper> <action>` with `input` on stdin.
fn helper_call(helper: &str, action: &str, input: &str) -> Result<String> {
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| RegistryError::Credentials(format!("running {program}: {e}")))?;
    let mut stdin = child.stdin.take().expect("piped");
    let _ = stdin.write_all(input.as_bytes());
    drop(stdin);
    let out = child
        .wait_with_output()
        .map_err(|e| RegistryError::Credentials(format!("running {program}: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        let msg = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
        return Err(RegistryError::Credentials(format!(
            "{program} {action}: {}",
            msg.trim()
        )));
    }
    Ok(stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_normalize_like_docker() {
        assert_eq!(normalize_key("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(normalize_key("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
        assert_eq!(normalize_key("ghcr.io"), "ghcr.io");
        assert_eq!(server_key("docker.io"), DOCKER_HUB_KEY);
    }

    #[test]
    fn decodes_auth_entries() {
        let entry = json!({"auth": base64::engine::general_purpose::STANDARD.encode("u:p:q")});
        let cred = decode_entry("h", &entry).unwrap().unwrap();
        assert_eq!((cred.username.as_str(), cred.secret.as_str()), ("u", "p:q"));
        let entry = json!({"auth": "", "identitytoken": "tok"});
        assert!(decode_entry("h", &entry)
            .unwrap()
            .unwrap()
            .is_identity_token());
        assert!(decode_entry("h", &json!({"auth": "!!"})).is_err());
        assert_eq!(decode_entry("h", &json!({})).unwrap(), None);
    }
}
