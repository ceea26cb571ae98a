//! `RUN --mount=type=...,key=value,...` (BuildKit's run mounts).
//!
//! A mount spec is one CSV line of `key=value` fields plus a few bare
//! words (`ro`, `rw`, `readonly`, `readwrite`, `required`). Keys are
//! case-insensitive; values are not.
//!
//! The reference reads a spec twice:
//!
//! 1. while parsing the Dockerfile, *without* variable expansion, it only
//!    looks at `from=` (to know which stages a RUN depends on) and rejects
//!    a `from` that uses a variable; every other field waits;
//! 2. when the RUN is lowered, with the stage's variables: every value is
//!    expanded, then all keys are read and validated.
//!
//! [`parse_mount`] does either, depending on whether an expander is given.
//! So `RUN --mount=type=nope` parses fine and fails only when lowered, as
//! in BuildKit.
//!
//! Defaults: the type is `bind`; `bind`, `secret` and `ssh` mounts are
//! read-only and `cache` and `tmpfs` read-write unless `ro`/`rw` says
//! otherwise.

use std::fmt;

use super::commands::Expander;
use super::support::{csv_fields, go_quote, parse_go_bool, parse_go_u32, with_suggestion};
use crate::{Error, Result};

/// `type=` of a mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MountType {
    #[default]
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

impl MountType {
    pub const ALL: [MountType; 5] = [
        MountType::Bind,
        MountType::Cache,
        MountType::Tmpfs,
        MountType::Secret,
        MountType::Ssh,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            MountType::Secret => "secret",
            MountType::Ssh => "ssh",
        }
    }
}

impl fmt::Display for MountType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `sharing=` of a cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheSharing {
    Shared,
    Private,
    Locked,
}

impl CacheSharing {
    pub const ALL: [CacheSharing; 3] = [
        CacheSharing::Shared,
        CacheSharing::Private,
        CacheSharing::Locked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CacheSharing::Shared => "shared",
            CacheSharing::Private => "private",
            CacheSharing::Locked => "locked",
        }
    }
}

impl fmt::Display for CacheSharing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `--mount` of a RUN. Empty strings mean "not given" (as the
/// reference's zero values); the lowering fills type-specific defaults
/// (cache id = target, secret target = `/run/secrets/<id>`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mount {
    pub mount_type: MountType,
    /// `from=`: a stage name, index or image the source is taken from.
    pub from: String,
    /// `source=` / `src=`.
    pub source: String,
    /// `target=` / `dst=` / `destination=`.
    pub target: String,
    pub read_only: bool,
    /// `size=` of a tmpfs mount, in bytes (0: no limit).
    pub size_limit: i64,
    /// `id=`: cache id, or secret/ssh id.
    pub cache_id: String,
    /// `sharing=` of a cache mount, `None` when not given (shared).
    pub cache_sharing: Option<CacheSharing>,
    /// `required`: a secret/ssh mount must be provided.
    pub required: bool,
    /// `env=` of a secret mount: expose it as this variable (`Some("")`
    /// when written empty).
    pub env: Option<String>,
    /// `mode=` (octal) of a cache/secret/ssh mount.
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// Every key the reference accepts, in its order (for suggestions).
const ALL_KEYS: [&str; 19] = [
    "type",
    "from",
    "source",
    "target",
    "readonly",
    "id",
    "sharing",
    "required",
    "size",
    "mode",
    "uid",
    "gid",
    "src",
    "dst",
    "destination",
    "ro",
    "rw",
    "readwrite",
    "env",
];

/// Reads one mount spec. Without `expand` only `from` is taken (see the
/// module documentation); with it, every value is expanded first and all
/// keys are read. Errors carry the reference's messages.
pub fn parse_mount(spec: &str, mut expand: Option<&mut Expander<'_>>) -> Result<Mount> {
    let fields =
        csv_fields(spec).map_err(|e| Error::new(format!("failed to parse csv mounts: {e}")))?;
    let mut m = Mount::default();
    let mut read_only_default = true;
    let unexpected_for_type = |key: &str, t: MountType| {
        Error::new(format!("unexpected key '{key}' for mount type '{t}'"))
    };
    let invalid_value =
        |key: &str, value: &str| Error::new(format!("invalid value for {key}: {value}"));

    for field in &fields {
        let (key, value) = match field.split_once('=') {
            Some((key, value)) => (key.to_lowercase(), Some(value)),
            None => (field.to_lowercase(), None),
        };

        let Some(value) = value else {
            if expand.is_none() {
                continue;
            }
            match key.as_str() {
                "readonly" | "ro" => {
                    m.read_only = true;
                    read_only_default = false;
                }
                "readwrite" | "rw" => {
                    m.read_only = false;
                    read_only_default = false;
                }
                "required" if matches!(m.mount_type, MountType::Secret | MountType::Ssh) => {
                    m.required = true;
                }
                "required" => return Err(unexpected_for_type(&key, m.mount_type)),
                _ => {
                    return Err(Error::new(format!(
                        "invalid field '{field}' must be a key=value pair"
                    )))
                }
            }
            continue;
        };

        let value = match expand.as_deref_mut() {
            Some(expand) => expand(value)?,
            None if key == "from" => {
                if value.find('$').is_some_and(|i| i + 1 != value.len()) {
                    return Err(Error::new(format!(
                        "'{key}' doesn't support variable expansion, define alias stage instead"
                    )));
                }
                value.to_string()
            }
            None => continue,
        };

        match key.as_str() {
            "type" => {
                let lower = value.to_lowercase();
                let Some(t) = MountType::ALL.into_iter().find(|t| t.as_str() == lower) else {
                    let names = MountType::ALL.map(MountType::as_str);
                    return Err(Error::new(with_suggestion(
                        format!("unsupported mount type {}", go_quote(&value)),
                        &value,
                        &names,
                        true,
                    )));
                };
                m.mount_type = t;
            }
            "from" => m.from = value,
            "source" | "src" => m.source = value,
            "target" | "dst" | "destination" => m.target = value,
            "readonly" | "ro" => {
                m.read_only = parse_go_bool(&value).ok_or_else(|| invalid_value(&key, &value))?;
                read_only_default = false;
            }
            "readwrite" | "rw" => {
                let rw = parse_go_bool(&value).ok_or_else(|| invalid_value(&key, &value))?;
                m.read_only = !rw;
                read_only_default = false;
            }
            "required" => {
                if !matches!(m.mount_type, MountType::Secret | MountType::Ssh) {
                    return Err(unexpected_for_type(&key, m.mount_type));
                }
                m.required = parse_go_bool(&value).ok_or_else(|| invalid_value(&key, &value))?;
            }
            "size" => {
                if m.mount_type != MountType::Tmpfs {
                    return Err(unexpected_for_type(&key, m.mount_type));
                }
                m.size_limit = ram_in_bytes(&value).ok_or_else(|| invalid_value(&key, &value))?;
            }
            "id" => m.cache_id = value,
            "sharing" => {
                let lower = value.to_lowercase();
                let Some(s) = CacheSharing::ALL.into_iter().find(|s| s.as_str() == lower) else {
                    let names = CacheSharing::ALL.map(CacheSharing::as_str);
                    return Err(Error::new(with_suggestion(
                        format!("unsupported sharing value {}", go_quote(&value)),
                        &value,
                        &names,
                        true,
                    )));
                };
                m.cache_sharing = Some(s);
            }
            "mode" => {
                let mode = parse_go_u32(&value, 8)
                    .ok_or_else(|| Error::new(format!("invalid value {value} for mode")))?;
                m.mode = Some(mode);
            }
            "uid" => {
                let uid = parse_go_u32(&value, 10)
                    .ok_or_else(|| Error::new(format!("invalid value {value} for uid")))?;
                m.uid = Some(uid);
            }
            "gid" => {
                let gid = parse_go_u32(&value, 10)
                    .ok_or_else(|| Error::new(format!("invalid value {value} for gid")))?;
                m.gid = Some(gid);
            }
            "env" => m.env = Some(value),
            _ => {
                return Err(Error::new(with_suggestion(
                    format!("unexpected key '{key}' in '{field}'"),
                    &key,
                    &ALL_KEYS,
                    true,
                )))
            }
        }
    }

    let file_info_allowed = matches!(
        m.mount_type,
        MountType::Secret | MountType::Ssh | MountType::Cache
    );
    if !file_info_allowed {
        let quoted = go_quote(m.mount_type.as_str());
        if m.mode.is_some() {
            return Err(Error::new(format!(
                "mode not allowed for {quoted} type mounts"
            )));
        }
        if m.uid.is_some() {
            return Err(Error::new(format!(
                "uid not allowed for {quoted} type mounts"
            )));
        }
        if m.gid.is_some() {
            return Err(Error::new(format!(
                "gid not allowed for {quoted} type mounts"
            )));
        }
    }

    if read_only_default {
        m.read_only = !matches!(m.mount_type, MountType::Cache | MountType::Tmpfs);
    }

    if m.mount_type == MountType::Secret {
        if !m.from.is_empty() {
            return Err(Error::new("secret mount should not have a from"));
        }
        if m.cache_sharing.is_some() {
            return Err(Error::new("secret mount should not define sharing"));
        }
        if m.source.is_empty() && m.target.is_empty() && m.cache_id.is_empty() {
            return Err(Error::new(
                "invalid secret mount. one of source, target required",
            ));
        }
        if !m.source.is_empty() && !m.cache_id.is_empty() {
            return Err(Error::new("both source and id can't be set"));
        }
    }

    if m.cache_sharing.is_some() && m.mount_type != MountType::Cache {
        return Err(Error::new(format!(
            "invalid cache sharing set for {} mount",
            m.mount_type
        )));
    }

    Ok(m)
}

/// A size like `64m`, `1.5GiB`, `512 kb` or `100` in bytes with binary
/// multipliers (docker/go-units `RAMInBytes`); `None` when unreadable.
pub fn ram_in_bytes(text: &str) -> Option<i64> {
    let sep = text.rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ')?;
    let (number, suffix) = if text.as_bytes()[sep] == b' ' {
        (&text[..sep], &text[sep + 1..])
    } else {
        (&text[..=sep], &text[sep + 1..])
    };
    let size = parse_go_float(number)?;
    if size < 0.0 {
        return None;
    }
    let suffix = suffix.to_ascii_lowercase();
    let multiplier: f64 = match suffix.as_bytes() {
        [] => 1.0,
        [b'b'] => 1.0,
        [unit, rest @ ..] if rest.is_empty() || rest == b"b" || rest == b"ib" => match unit {
            b'k' => 1024.0,
            b'm' => 1024.0 * 1024.0,
            b'g' => 1024.0 * 1024.0 * 1024.0,
            b't' => 1024.0 * 1024.0 * 1024.0 * 1024.0,
            b'p' => 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0,
            _ => return None,
        },
        _ => return None,
    };
    // `as` saturates where Go's conversion is unspecified.
    Some((size * multiplier) as i64)
}

/// The decimal subset of Go's `strconv.ParseFloat` (sign, digits, one dot,
/// exponent); special values and hex floats are not sizes anyone writes.
fn parse_go_float(text: &str) -> Option<f64> {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let plain = |c: char| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-');
    if body.is_empty()
        || !body.chars().all(plain)
        || !body.starts_with(|c: char| c.is_ascii_digit() || c == '.')
    {
        return None;
    }
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// One `RUN --device=` (a CDI device name and whether it must exist).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Device {
    pub name: String,
    pub required: bool,
}

/// Reads a `--device` spec: `vendor.com/class=name[,required[=bool]]`, or
/// `name=...`. A field without a known key is the device name.
pub fn parse_device(spec: &str) -> Result<Device> {
    let fields =
        csv_fields(spec).map_err(|e| Error::new(format!("failed to parse csv devices: {e}")))?;
    let mut d = Device::default();
    for field in &fields {
        let (key, value) = match field.split_once('=') {
            Some((key, value)) => (key.to_lowercase(), Some(value)),
            None => (field.to_lowercase(), None),
        };
        match (key.as_str(), value) {
            ("required", None) => d.required = true,
            (_, None) if d.name.is_empty() => d.name = field.clone(),
            (_, None) => {
                return Err(Error::new(format!(
                    "invalid field '{field}' must be a key=value pair"
                )))
            }
            ("name", Some(value)) => {
                if !d.name.is_empty() {
                    return Err(Error::new(format!("device name already set to {}", d.name)));
                }
                d.name = value.to_string();
            }
            ("required", Some(value)) => {
                d.required = parse_go_bool(value)
                    .ok_or_else(|| Error::new(format!("invalid value for {key}: {value}")))?;
            }
            (_, Some(_)) if d.name.is_empty() => d.name = field.clone(),
            (_, Some(_)) => {
                return Err(Error::new(with_suggestion(
                    format!("unexpected key '{key}' in '{field}'"),
                    &key,
                    &["name", "required"],
                    true,
                )))
            }
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(spec: &str) -> Result<Mount> {
        let mut identity = |s: &str| Ok(s.to_string());
        parse_mount(spec, Some(&mut identity))
    }

    fn err(spec: &str) -> String {
        full(spec).unwrap_err().message
    }

    #[test]
    fn defaults_per_type() {
        let bind = full("target=/src").unwrap();
        assert_eq!(bind.mount_type, MountType::Bind);
        assert!(bind.read_only);
        assert!(!full("type=cache,target=/c").unwrap().read_only);
        assert!(!full("type=tmpfs,target=/t").unwrap().read_only);
        assert!(full("type=secret,id=x").unwrap().read_only);
        assert!(full("type=ssh").unwrap().read_only);
        let ssh = full("type=ssh").unwrap();
        assert_eq!(ssh.target, "");
        assert!(!ssh.required);
        assert_eq!(ssh.cache_sharing, None);
    }

    #[test]
    fn every_key() {
        let m = full("type=cache,target=/root/.cache,id=pip,sharing=locked,from=base,source=/s,mode=0700,uid=1000,gid=1001").unwrap();
        assert_eq!(
            m,
            Mount {
                mount_type: MountType::Cache,
                from: "base".into(),
                source: "/s".into(),
                target: "/root/.cache".into(),
                read_only: false,
                cache_id: "pip".into(),
                cache_sharing: Some(CacheSharing::Locked),
                mode: Some(0o700),
                uid: Some(1000),
                gid: Some(1001),
                ..Mount::default()
            }
        );
        assert_eq!(full("dst=/a").unwrap().target, "/a");
        assert_eq!(full("destination=/a").unwrap().target, "/a");
        assert_eq!(full("src=x").unwrap().source, "x");
        assert_eq!(
            full("TYPE=CACHE,Target=/x").unwrap().mount_type,
            MountType::Cache
        );
        assert_eq!(
            full("type=cache,sharing=Private").unwrap().cache_sharing,
            Some(CacheSharing::Private)
        );
        assert_eq!(
            full("type=cache,sharing=shared").unwrap().cache_sharing,
            Some(CacheSharing::Shared)
        );
        let tmpfs = full("type=tmpfs,target=/t,size=64m").unwrap();
        assert_eq!(tmpfs.size_limit, 64 * 1024 * 1024);
        let secret = full("type=secret,id=tok,env=TOKEN,required,target=/run/t").unwrap();
        assert_eq!(secret.env.as_deref(), Some("TOKEN"));
        assert!(secret.required);
        assert_eq!(secret.cache_id, "tok");
        assert_eq!(
            full("type=secret,id=tok,env=").unwrap().env.as_deref(),
            Some("")
        );
        assert!(!full("type=ssh,required=false").unwrap().required);
        assert!(full("type=ssh,required=1").unwrap().required);
        assert!(full("type=ssh,id=default,mode=0600,uid=1,gid=2").is_ok());
    }

    #[test]
    fn read_write_words_and_values() {
        assert!(!full("target=/a,rw").unwrap().read_only);
        assert!(!full("target=/a,readwrite").unwrap().read_only);
        assert!(!full("target=/a,rw=true").unwrap().read_only);
        assert!(full("target=/a,rw=false").unwrap().read_only);
        assert!(full("type=cache,target=/a,ro").unwrap().read_only);
        assert!(full("type=cache,target=/a,readonly").unwrap().read_only);
        assert!(
            full("type=cache,target=/a,readonly=true")
                .unwrap()
                .read_only
        );
        assert!(!full("type=cache,target=/a,ro=false").unwrap().read_only);
        assert!(full("type=cache,target=/a,RO").unwrap().read_only);
        // A later field wins.
        assert!(!full("target=/a,ro,rw").unwrap().read_only);
    }

    #[test]
    fn errors() {
        for (spec, message) in [
            ("type=nope", "unsupported mount type \"nope\""),
            ("type=cach", "unsupported mount type \"cach\" (did you mean cache?)"),
            ("type=cache,sharing=no", "unsupported sharing value \"no\""),
            ("type=cache,sharing=lockd", "unsupported sharing value \"lockd\" (did you mean locked?)"),
            ("target=/a,ro=maybe", "invalid value for ro: maybe"),
            ("target=/a,readonly=x", "invalid value for readonly: x"),
            ("target=/a,rw=x", "invalid value for rw: x"),
            ("target=/a,readwrite=x", "invalid value for readwrite: x"),
            ("type=secret,id=a,required=x", "invalid value for required: x"),
            ("target=/a,required", "unexpected key 'required' for mount type 'bind'"),
            ("target=/a,required=true", "unexpected key 'required' for mount type 'bind'"),
            // `required` is checked against the type known so far.
            ("required,type=secret,id=a", "unexpected key 'required' for mount type 'bind'"),
            ("type=cache,size=10m", "unexpected key 'size' for mount type 'cache'"),
            ("type=tmpfs,size=lots", "invalid value for size: lots"),
            ("type=tmpfs,size=10x", "invalid value for size: 10x"),
            ("type=tmpfs,size=-1", "invalid value for size: -1"),
            ("type=cache,mode=0800", "invalid value 0800 for mode"),
            ("type=cache,uid=-1", "invalid value -1 for uid"),
            ("type=cache,gid=x", "invalid value x for gid"),
            ("target=/a,mode=0700", "mode not allowed for \"bind\" type mounts"),
            ("type=tmpfs,uid=1", "uid not allowed for \"tmpfs\" type mounts"),
            ("target=/a,gid=1", "gid not allowed for \"bind\" type mounts"),
            ("target=/a,bogus", "invalid field 'bogus' must be a key=value pair"),
            ("target=/a,Bogus", "invalid field 'Bogus' must be a key=value pair"),
            ("target=/a,bogus=1", "unexpected key 'bogus' in 'bogus=1'"),
            ("targt=/a", "unexpected key 'targt' in 'targt=/a' (did you mean target?)"),
            ("type=secret,from=x,id=a", "secret mount should not have a from"),
            ("type=secret,id=a,sharing=shared", "secret mount should not define sharing"),
            ("type=secret", "invalid secret mount. one of source, target required"),
            ("type=secret,id=a,source=b", "both source and id can't be set"),
            ("target=/a,sharing=locked", "invalid cache sharing set for bind mount"),
            ("type=tmpfs,sharing=locked", "invalid cache sharing set for tmpfs mount"),
            ("", "failed to parse csv mounts: EOF"),
            (
                "target=/a\"b",
                "failed to parse csv mounts: parse error on line 1, column 10: bare \" in non-quoted-field",
            ),
        ] {
            assert_eq!(err(spec), message, "{spec}");
        }
    }

    #[test]
    fn expansion_applies_to_every_value() {
        let mut seen = Vec::new();
        let mut upper = |s: &str| {
            seen.push(s.to_string());
            Ok(s.replace("$T", "cache"))
        };
        let m = parse_mount("type=$T,target=/$T,ro", Some(&mut upper)).unwrap();
        assert_eq!(m.mount_type, MountType::Cache);
        assert_eq!(m.target, "/cache");
        assert!(m.read_only);
        assert_eq!(seen, ["$T", "/$T"], "bare words are not expanded");

        let mut failing = |_: &str| -> Result<String> { Err(Error::new("boom")) };
        assert_eq!(
            parse_mount("target=/a", Some(&mut failing))
                .unwrap_err()
                .message,
            "boom"
        );
    }

    #[test]
    fn without_expansion_only_from_is_read() {
        let m = parse_mount("type=cache,target=/x,from=build,bogus,mode=zz", None).unwrap();
        assert_eq!(
            m,
            Mount {
                from: "build".into(),
                read_only: true,
                ..Mount::default()
            }
        );
        // A trailing `$` is not a variable.
        assert_eq!(parse_mount("from=a$", None).unwrap().from, "a$");
        assert_eq!(
            parse_mount("from=$stage", None).unwrap_err().message,
            "'from' doesn't support variable expansion, define alias stage instead"
        );
        assert_eq!(
            parse_mount("FROM=x${a}", None).unwrap_err().message,
            "'from' doesn't support variable expansion, define alias stage instead"
        );
        assert_eq!(
            parse_mount("a\"", None).unwrap_err().message,
            "failed to parse csv mounts: parse error on line 1, column 2: bare \" in non-quoted-field"
        );
    }

    #[test]
    fn quoted_fields() {
        let m = full("type=bind,\"source=a,b\",target=/x").unwrap();
        assert_eq!(m.source, "a,b");
    }

    #[test]
    fn sizes() {
        for (text, bytes) in [
            ("100", Some(100)),
            ("1b", Some(1)),
            ("1k", Some(1024)),
            ("1KB", Some(1024)),
            ("1kib", Some(1024)),
            ("1.5m", Some(1_572_864)),
            ("2 g", Some(2 * 1024 * 1024 * 1024)),
            ("1t", Some(1 << 40)),
            ("1p", Some(1 << 50)),
            ("1e3", Some(1000)),
            ("", None),
            ("k", None),
            ("1x", None),
            ("1kx", None),
            ("1kbb", None),
            ("1bb", None),
            ("-1", None),
            ("1 ", Some(1)),
        ] {
            assert_eq!(ram_in_bytes(text), bytes, "{text}");
        }
    }

    #[test]
    fn devices() {
        let dev = |name: &str, required| Device {
            name: name.to_string(),
            required,
        };
        for (spec, want) in [
            (
                "vendor1.com/device=foo",
                dev("vendor1.com/device=foo", false),
            ),
            ("vendor1.com/device", dev("vendor1.com/device", false)),
            (
                "vendor1.com/device=foo,required",
                dev("vendor1.com/device=foo", true),
            ),
            (
                "vendor1.com/device=foo,required=true",
                dev("vendor1.com/device=foo", true),
            ),
            (
                "vendor1.com/device=foo,required=false",
                dev("vendor1.com/device=foo", false),
            ),
            (
                "name=vendor1.com/device=foo",
                dev("vendor1.com/device=foo", false),
            ),
            (
                "name=vendor1.com/device=foo,required",
                dev("vendor1.com/device=foo", true),
            ),
        ] {
            assert_eq!(parse_device(spec).unwrap(), want, "{spec}");
        }
        for (spec, message) in [
            (
                "vendor1.com/device=foo,name=vendor2.com/device=bar",
                "device name already set to vendor1.com/device=foo",
            ),
            ("a,b", "invalid field 'b' must be a key=value pair"),
            ("a,required=x", "invalid value for required: x"),
            (
                "a,nme=b",
                "unexpected key 'nme' in 'nme=b' (did you mean name?)",
            ),
            ("", "failed to parse csv devices: EOF"),
        ] {
            assert_eq!(parse_device(spec).unwrap_err().message, message, "{spec}");
        }
    }
}
