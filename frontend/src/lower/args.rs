//! Build arguments: the automatic platform args, the proxy args, and the
//! global ARGs declared before the first FROM.

use std::collections::BTreeMap;

use super::env::EnvList;
use crate::definition::Platform;

/// The automatic `BUILD*`/`TARGET*` args, overridable by build args.
pub fn platform_args(
    build: &Platform,
    target: &Platform,
    target_stage: &str,
    overrides: &BTreeMap<String, String>,
) -> EnvList {
    let stage = if target_stage.is_empty() {
        "default"
    } else {
        target_stage
    };
    let defaults = [
        ("BUILDPLATFORM", format_platform(build)),
        ("BUILDOS", build.os.clone()),
        ("BUILDOSVERSION", String::new()),
        ("BUILDARCH", build.architecture.clone()),
        ("BUILDVARIANT", build.variant.clone()),
        ("TARGETPLATFORM", target.to_string()),
        ("TARGETOS", target.os.clone()),
        ("TARGETOSVERSION", String::new()),
        ("TARGETARCH", target.architecture.clone()),
        ("TARGETVARIANT", target.variant.clone()),
        ("TARGETSTAGE", stage.to_string()),
    ];
    let mut env = EnvList::new();
    for (key, value) in defaults {
        let value = overrides.get(key).cloned().unwrap_or(value);
        env.set(key, &value);
    }
    env
}

/// containerd's `platforms.Format`: `os/arch[/variant]`.
fn format_platform(p: &Platform) -> String {
    p.to_string()
}

/// Proxy variables given as build args (names matched case-insensitively,
/// in sorted key order): passed to RUN steps in both spellings
/// (`HTTP_PROXY` and `http_proxy`) without being part of the cache key.
pub fn proxy_env(build_args: &BTreeMap<String, String>) -> Vec<String> {
    let mut values: BTreeMap<&str, &str> = BTreeMap::new();
    for (k, v) in build_args {
        if let Some(name) = PROXY_NAMES.iter().find(|n| n.eq_ignore_ascii_case(k)) {
            values.insert(name, v);
        }
    }
    PROXY_NAMES
        .iter()
        .filter_map(|name| values.get(name).map(|v| (name, v)))
        .flat_map(|(name, v)| {
            [
                format!("{}={v}", name.to_ascii_uppercase()),
                format!("{name}={v}"),
            ]
        })
        .collect()
}

const PROXY_NAMES: [&str; 5] = [
    "http_proxy",
    "https_proxy",
    "ftp_proxy",
    "no_proxy",
    "all_proxy",
];

/// ARGs that set no environment variable in RUN steps.
pub fn is_non_env_arg(key: &str) -> bool {
    matches!(
        key,
        "BUILDKIT_SBOM_SCAN_CONTEXT" | "BUILDKIT_SBOM_SCAN_STAGE"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_args_default_and_override() {
        let amd = Platform::new("linux", "amd64", "");
        let arm = Platform::new("linux", "arm", "v7");
        let mut overrides = BTreeMap::new();
        overrides.insert("TARGETOS".to_string(), "custom".to_string());
        let env = platform_args(&amd, &arm, "", &overrides);
        assert_eq!(env.get("BUILDPLATFORM"), Some("linux/amd64"));
        assert_eq!(env.get("TARGETPLATFORM"), Some("linux/arm/v7"));
        assert_eq!(env.get("TARGETVARIANT"), Some("v7"));
        assert_eq!(env.get("TARGETOS"), Some("custom"));
        assert_eq!(env.get("TARGETSTAGE"), Some("default"));
    }

    #[test]
    fn proxy_env_takes_only_proxy_args() {
        let mut args = BTreeMap::new();
        args.insert("HTTP_PROXY".to_string(), "http://p".to_string());
        args.insert("FOO".to_string(), "bar".to_string());
        args.insert("No_Proxy".to_string(), "localhost".to_string());
        assert_eq!(
            proxy_env(&args),
            [
                "HTTP_PROXY=http://p",
                "http_proxy=http://p",
                "NO_PROXY=localhost",
                "no_proxy=localhost"
            ]
        );
    }
}
