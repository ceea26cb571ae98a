//! Registry authentication: the `WWW-Authenticate` challenge of `/v2/`
//! says Basic or Bearer. Basic sends the stored credential with every
//! request; Bearer trades it (or nothing, for anonymous pulls) at the
//! token endpoint (`realm`) for a short-lived token per set of scopes
//! (`repository:ns/app:pull,push`), as in the distribution token spec.
//! An identity token (docker's `<token>` user) is a refresh token for the
//! OAuth2 form of the same endpoint.

use std::collections::BTreeMap;

use base64::Engine as _;

use super::credentials::Credential;
use super::error::{body_detail, RegistryError, Result};

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// Parses `Bearer realm="...",service="...",scope="..."` or `Basic ...`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => {
            let params = parse_params(rest);
            Some(Challenge::Bearer {
                realm: params.get("realm")?.clone(),
                service: params.get("service").cloned(),
            })
        }
        _ => None,
    }
}

/// `key="value", key=value` pairs (values may hold commas inside quotes).
fn parse_params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, tail) = if let Some(q) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = q.char_indices();
            let mut end = q.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &q[end..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        out.insert(key, value);
        rest = tail.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

/// `Authorization: Basic ...` for a credential.
pub fn basic_header(cred: &Credential) -> String {
    let raw = format!("{}:{}", cred.username, cred.secret);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// Fetches a bearer token for `scopes` from the token endpoint.
pub fn fetch_token(
    http: &reqwest::blocking::Client,
    host: &str,
    realm: &str,
    service: Option<&str>,
    scopes: &[String],
    cred: Option<&Credential>,
) -> Result<String> {
    let fail = |message: String| RegistryError::Auth {
        host: host.to_string(),
        message,
    };
    let response = match cred.filter(|c| c.is_identity_token()) {
        Some(token) => {
            let mut form = vec![
                ("grant_type", "refresh_token".to_string()),
                ("refresh_token", token.secret.clone()),
                ("client_id", "kiln".to_string()),
            ];
            if let Some(s) = service {
                form.push(("service", s.to_string()));
            }
            if !scopes.is_empty() {
                form.push(("scope", scopes.join(" ")));
            }
            http.post(realm).form(&form).send()
        }
        None => {
            let mut query: Vec<(&str, &str)> = Vec::new();
            if let Some(s) = service {
                query.push(("service", s));
            }
            for scope in scopes {
                query.push(("scope", scope));
            }
            if let Some(c) = cred {
                query.push(("account", &c.username));
            }
            let mut req = http.get(realm).query(&query);
            if let Some(c) = cred {
                req = req.header("Authorization", basic_header(c));
            }
            req.send()
        }
    }
    .map_err(|e| fail(format!("token endpoint {realm}: {e}")))?;
    let status = response.status();
    let body = response
        .text()
        .map_err(|e| fail(format!("token endpoint {realm}: {e}")))?;
    if status == 401 || status == 403 {
        return Err(fail(match cred {
            Some(_) => format!(
                "the token endpoint refused the credentials ({})",
                body_detail(&body)
            ),
            None => "the token endpoint requires credentials (run `kiln login`)".into(),
        }));
    }
    if !status.is_success() {
        return Err(fail(format!(
            "token endpoint {realm}: HTTP {}: {}",
            status.as_u16(),
            body_detail(&body)
        )));
    }
    #[derive(serde::Deserialize)]
    struct TokenAnswer {
        #[serde(default)]
        token: String,
        #[serde(default)]
        access_token: String,
    }
    let answer: TokenAnswer = serde_json::from_str(&body)
        .map_err(|e| fail(format!("token endpoint {realm}: invalid answer: {e}")))?;
    let token = if answer.token.is_empty() {
        answer.access_token
    } else {
        answer.token
    };
    if token.is_empty() {
        return Err(fail(format!("token endpoint {realm} returned no token")));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            parse_challenge("bearer realm=http://h/t"),
            Some(Challenge::Bearer {
                realm: "http://h/t".into(),
                service: None
            })
        );
        assert_eq!(parse_challenge("Bearer service=x"), None);
        assert_eq!(parse_challenge("Negotiate"), None);
    }
}
