//! `Digest`: a validated OCI content digest, `sha256:<64 lowercase hex>`.
//!
//! Only sha256 is accepted: it is what every registry and image kiln
//! meets uses, and a single algorithm keeps the store layout flat
//! (`blobs/sha256/<hex>`). Parsing is strict (lowercase, exact length), so
//! a `Digest` can be used as a file name without further checks.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

const PREFIX: &str = "sha256:";
const HEX_LEN: usize = 64;

/// A sha256 content digest. Displays and (de)serializes as
/// `sha256:<hex>`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest {
    /// Always `sha256:` followed by 64 lowercase hex digits.
    text: String,
}

/// Why a string is not a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid digest {input:?}: {reason}")]
pub struct ParseDigestError {
    pub input: String,
    pub reason: &'static str,
}

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest::from_sha256(Sha256::digest(bytes).into())
    }

    /// Wraps a raw sha256 hash.
    pub fn from_sha256(hash: [u8; 32]) -> Digest {
        Digest {
            text: format!("{PREFIX}{}", hex::encode(hash)),
        }
    }

    /// Builds a digest from the 64 hex digits alone (a blob file name).
    pub fn from_hex(hex: &str) -> Result<Digest, ParseDigestError> {
        check_hex(hex).map_err(|reason| ParseDigestError {
            input: hex.to_string(),
            reason,
        })?;
        Ok(Digest {
            text: format!("{PREFIX}{hex}"),
        })
    }

    /// The algorithm name, always `sha256`.
    pub fn algorithm(&self) -> &str {
        "sha256"
    }

    /// The 64 hex digits.
    pub fn hex(&self) -> &str {
        &self.text[PREFIX.len()..]
    }

    /// The full `sha256:<hex>` form.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

fn check_hex(hex: &str) -> Result<(), &'static str> {
    if hex.len() != HEX_LEN {
        return Err("expected 64 hex digits");
    }
    if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err("expected lowercase hex digits");
    }
    Ok(())
}

impl FromStr for Digest {
    type Err = ParseDigestError;

    fn from_str(s: &str) -> Result<Digest, ParseDigestError> {
        let err = |reason| ParseDigestError {
            input: s.to_string(),
            reason,
        };
        let Some((algorithm, hex)) = s.split_once(':') else {
            return Err(err("expected <algorithm>:<hex>"));
        };
        if algorithm != "sha256" {
            return Err(err("only sha256 digests are supported"));
        }
        check_hex(hex).map_err(err)?;
        Ok(Digest {
            text: s.to_string(),
        })
    }
}

impl TryFrom<String> for Digest {
    type Error = ParseDigestError;

    fn try_from(s: String) -> Result<Digest, ParseDigestError> {
        s.parse()
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.text
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn store_digest_of_empty_input() {
        assert_eq!(Digest::of(b"").to_string(), EMPTY);
        assert_eq!(Digest::of(b"").hex(), &EMPTY[7..]);
    }

    #[test]
    fn store_digest_parse_round_trips() {
        let d: Digest = EMPTY.parse().unwrap();
        assert_eq!(d.as_str(), EMPTY);
        assert_eq!(Digest::from_hex(d.hex()).unwrap(), d);
    }

    #[test]
    fn store_digest_rejects_bad_input() {
        for bad in [
            "",
            "sha256",
            "sha256:",
            "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555",
            "sha256:../../../../etc/passwd0000000000000000000000000000000000000000000",
        ] {
            let err = bad.parse::<Digest>().unwrap_err();
            assert_eq!(err.input, bad);
        }
        assert!(Digest::from_hex("xyz").is_err());
    }

    #[test]
    fn store_digest_serde_is_a_string() {
        let d = Digest::of(b"");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{EMPTY}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        assert!(serde_json::from_str::<Digest>("\"sha256:00\"").is_err());
    }
}
