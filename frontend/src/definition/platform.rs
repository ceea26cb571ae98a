//! OCI platforms (`linux/amd64`, `linux/arm/v7`) with containerd's
//! parsing and normalisation rules, which BuildKit applies to `--platform`
//! and to the automatic `TARGET*`/`BUILD*` build args.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
}

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: &str) -> Self {
        normalize(Platform {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant: variant.to_string(),
        })
    }

    /// The platform kiln itself runs on.
    pub fn host() -> Self {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "arm" => "arm",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            other => other,
        };
        let variant = if arch == "arm" { "v7" } else { "" };
        Platform::new("linux", arch, variant)
    }

    /// Parses `os[/arch[/variant]]` or a bare architecture, like
    /// containerd's `platforms.Parse`.
    pub fn parse(spec: &str) -> Result<Self> {
        if spec.contains('*') {
            return Err(Error::new(format!(
                "\"{spec}\": wildcards not yet supported: invalid argument"
            )));
        }
        let parts: Vec<&str> = spec.split('/').collect();
        let invalid = || {
            Error::new(format!(
                "\"{spec}\": unknown operating system or architecture: invalid argument"
            ))
        };
        let lower: Vec<String> = parts.iter().map(|p| p.to_ascii_lowercase()).collect();
        match lower.as_slice() {
            [one] => {
                if is_known_os(one) {
                    Ok(Platform::new(one, &Platform::host().architecture, ""))
                } else if is_known_arch(&normalize_arch(one, "").0) {
                    Ok(Platform::new("linux", one, ""))
                } else {
                    Err(invalid())
                }
            }
            [os, arch] if is_known_os(os) && is_known_arch(&normalize_arch(arch, "").0) => {
                Ok(Platform::new(os, arch, ""))
            }
            [os, arch, variant]
                if is_known_os(os) && is_known_arch(&normalize_arch(arch, "").0) =>
            {
                Ok(Platform::new(os, arch, variant))
            }
            [_, _] | [_, _, _] => Err(invalid()),
            _ => Err(Error::new(format!(
                "\"{spec}\": cannot parse platform specifier: invalid argument"
            ))),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if !self.variant.is_empty() {
            write!(f, "/{}", self.variant)?;
        }
        Ok(())
    }
}

fn is_known_os(os: &str) -> bool {
    matches!(
        os,
        "aix"
            | "android"
            | "darwin"
            | "dragonfly"
            | "freebsd"
            | "hurd"
            | "illumos"
            | "ios"
            | "js"
            | "linux"
            | "nacl"
            | "netbsd"
            | "openbsd"
            | "plan9"
            | "solaris"
            | "wasip1"
            | "windows"
            | "zos"
    )
}

fn is_known_arch(arch: &str) -> bool {
    matches!(
        arch,
        "386"
            | "amd64"
            | "amd64p32"
            | "arm"
            | "armbe"
            | "arm64"
            | "arm64be"
            | "ppc64"
            | "ppc64le"
            | "loong64"
            | "mips"
            | "mipsle"
            | "mips64"
            | "mips64le"
            | "mips64p32"
            | "mips64p32le"
            | "ppc"
            | "riscv"
            | "riscv64"
            | "s390"
            | "s390x"
            | "sparc"
            | "sparc64"
            | "wasm"
    )
}

/// containerd's architecture/variant aliases (`aarch64` -> `arm64`, ...).
fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let (arch, variant) = (arch.to_ascii_lowercase(), variant.to_ascii_lowercase());
    match arch.as_str() {
        "i386" => ("386".into(), String::new()),
        "x86_64" | "x86-64" | "amd64" => {
            let v = if variant == "v1" {
                String::new()
            } else {
                variant
            };
            ("amd64".into(), v)
        }
        "aarch64" | "arm64" => {
            let v = match variant.as_str() {
                "8" | "v8" | "v8.0" => String::new(),
                "9" | "9.0" | "v9.0" => "v9".into(),
                v if v.len() > 1 && v.starts_with(|c: char| c.is_ascii_digit()) => format!("v{v}"),
                _ => variant,
            };
            ("arm64".into(), v)
        }
        "armhf" => ("arm".into(), "v7".into()),
        "armel" => ("arm".into(), "v6".into()),
        "arm" => {
            let v = match variant.as_str() {
                "" | "7" => "v7".into(),
                "5" | "6" | "8" => format!("v{variant}"),
                _ => variant,
            };
            ("arm".into(), v)
        }
        _ => (arch, variant),
    }
}

fn normalize(p: Platform) -> Platform {
    let os = match p.os.to_ascii_lowercase().as_str() {
        "macos" => "darwin".to_string(),
        other => other.to_string(),
    };
    let (architecture, variant) = normalize_arch(&p.architecture, &p.variant);
    Platform {
        os,
        architecture,
        variant,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises_like_containerd() {
        assert_eq!(
            Platform::parse("linux/amd64").unwrap().to_string(),
            "linux/amd64"
        );
        assert_eq!(
            Platform::parse("linux/aarch64").unwrap().to_string(),
            "linux/arm64"
        );
        assert_eq!(
            Platform::parse("linux/arm64/v8").unwrap().to_string(),
            "linux/arm64"
        );
        assert_eq!(
            Platform::parse("linux/arm").unwrap().to_string(),
            "linux/arm/v7"
        );
        assert_eq!(Platform::parse("arm64").unwrap().to_string(), "linux/arm64");
        assert_eq!(
            Platform::parse("Linux/AMD64").unwrap().to_string(),
            "linux/amd64"
        );
    }

    #[test]
    fn rejects_unknown_platforms() {
        let err = Platform::parse("linux/nope").unwrap_err();
        assert!(
            err.message
                .contains("unknown operating system or architecture"),
            "{err}"
        );
        assert!(Platform::parse("a/b/c/d").is_err());
        assert!(Platform::parse("linux/*").is_err());
    }
}
