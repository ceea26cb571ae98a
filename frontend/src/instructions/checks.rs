//! Which build-check rules run: the `# check=skip=...;experimental=...;error=...`
//! directive (and `BUILDKIT_DOCKERFILE_CHECK`), plus `# check=` comments
//! right above one instruction, which adjust the rules for that
//! instruction only (the reference's `WithMergedConfigFromComments`).
//!
//! The rules raised while typing instructions live here too, with the
//! reference's names and message texts.

use std::borrow::Cow;

use crate::lint::Warning;
use crate::{Error, Result, SourceRange};

/// `MAINTAINER` is used.
pub const MAINTAINER_DEPRECATED: &str = "MaintainerDeprecated";
/// `FROM x AS Name`.
pub const STAGE_NAME_CASING: &str = "StageNameCasing";
/// `FROM x as y` (keyword casings differ).
pub const FROM_AS_CASING: &str = "FromAsCasing";
/// A comment above FROM/ARG that does not start with the name (experimental).
pub const INVALID_DEFINITION_DESCRIPTION: &str = "InvalidDefinitionDescription";

/// A check configuration: rules skipped, experimental rules enabled, and
/// whether findings fail the build (the caller acts on `error`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckConfig {
    pub skip_all: bool,
    pub skip: Vec<String>,
    pub experimental_all: bool,
    pub experimental: Vec<String>,
    pub error: bool,
}

impl CheckConfig {
    /// Reads a check value, e.g. `skip=JSONArgsRecommended,StageNameCasing;error=true`
    /// (the reference's `ParseLintOptions`, with its error texts).
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        let mut config = CheckConfig::default();
        if text.is_empty() {
            return Ok(config);
        }
        for part in text.splitn(3, ';') {
            let Some((key, value)) = part.split_once('=') else {
                return Err(Error::new(format!(
                    "invalid check option {}",
                    super::support::go_quote(part)
                )));
            };
            let list = |value: &str| -> (bool, Vec<String>) {
                let value = value.trim();
                if value == "all" {
                    (true, Vec::new())
                } else {
                    (
                        false,
                        value.split(',').map(|r| r.trim().to_string()).collect(),
                    )
                }
            };
            match key.trim() {
                "skip" => (config.skip_all, config.skip) = list(value),
                "experimental" => (config.experimental_all, config.experimental) = list(value),
                "error" => {
                    let value = value.trim();
                    config.error = super::support::parse_go_bool(value).ok_or_else(|| {
                        Error::new(format!(
                            "failed to parse check option {}: strconv.ParseBool: parsing {}: invalid syntax",
                            super::support::go_quote(part),
                            super::support::go_quote(value)
                        ))
                    })?;
                }
                other => {
                    return Err(Error::new(format!(
                        "invalid check option {}",
                        super::support::go_quote(other)
                    )))
                }
            }
        }
        Ok(config)
    }

    /// This configuration plus `other` (skips and experimental rules add
    /// up; `error` is not merged, as in the reference).
    pub fn merged(&self, other: &CheckConfig) -> CheckConfig {
        let mut merged = self.clone();
        merged.skip_all |= other.skip_all;
        merged.experimental_all |= other.experimental_all;
        merged.skip.extend(other.skip.iter().cloned());
        merged
            .experimental
            .extend(other.experimental.iter().cloned());
        merged
    }

    /// The configuration for one instruction: the first `check=` comment
    /// directly above it, merged in; an unreadable one changes nothing.
    pub fn for_comments(&self, comments: &[String]) -> Cow<'_, CheckConfig> {
        for comment in comments {
            let Some(value) = check_comment_value(comment) else {
                continue;
            };
            let first = value.split(' ').next().unwrap_or("");
            return match CheckConfig::parse(first) {
                Ok(local) => Cow::Owned(self.merged(&local)),
                Err(_) => Cow::Borrowed(self),
            };
        }
        Cow::Borrowed(self)
    }

    /// Whether `rule` runs under this configuration, knowing from the
    /// rule set whether it is experimental.
    pub fn enabled(&self, rule: &str) -> bool {
        self.runs(rule, crate::lint::is_experimental(rule))
    }

    /// Whether `rule` runs under this configuration.
    pub fn runs(&self, rule: &str, experimental: bool) -> bool {
        if experimental {
            self.experimental_all || self.experimental.iter().any(|r| r == rule)
        } else {
            !(self.skip_all || self.skip.iter().any(|r| r == rule))
        }
    }
}

/// The value of a `check = value` comment (directive syntax: a name of
/// letters and digits, `=`, a value; surrounding spaces ignored).
fn check_comment_value(comment: &str) -> Option<&str> {
    let line = comment.trim_start();
    let name_len = line
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map_or(line.len(), |(i, _)| i);
    if name_len == 0 || !line[..name_len].eq_ignore_ascii_case("check") {
        return None;
    }
    let raw = line[name_len..].trim_start().strip_prefix('=')?;
    // The directive needs some value, even if it is only spaces.
    (!raw.is_empty()).then(|| raw.trim())
}

/// Where the warnings of one instruction go, and which rules run for it.
pub(crate) struct Checker<'a> {
    pub config: Cow<'a, CheckConfig>,
    pub warnings: &'a mut Vec<Warning>,
}

impl Checker<'_> {
    /// Raises `rule` unless the configuration skips it (or it is
    /// experimental and not enabled).
    pub fn run(&mut self, rule: &'static str, message: String, range: SourceRange) {
        if self.config.enabled(rule) {
            self.warnings.push(Warning::new(rule, message, range));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_check_values() {
        assert_eq!(CheckConfig::parse("").unwrap(), CheckConfig::default());
        let c = CheckConfig::parse("skip=A, B ;experimental=all;error=true").unwrap();
        assert_eq!(c.skip, ["A", "B"]);
        assert!(c.experimental_all);
        assert!(c.error);
        assert!(!c.runs("A", false));
        assert!(c.runs("C", false));
        assert!(c.runs("X", true));
        let c = CheckConfig::parse("skip=all").unwrap();
        assert!(c.skip_all && !c.runs("A", false));
        assert!(!CheckConfig::default().runs(INVALID_DEFINITION_DESCRIPTION, true));
    }

    #[test]
    fn check_value_errors() {
        assert_eq!(
            CheckConfig::parse("skip").unwrap_err().message,
            "invalid check option \"skip\""
        );
        assert_eq!(
            CheckConfig::parse("foo=bar").unwrap_err().message,
            "invalid check option \"foo\""
        );
        assert_eq!(
            CheckConfig::parse("error=maybe").unwrap_err().message,
            "failed to parse check option \"error=maybe\": strconv.ParseBool: parsing \"maybe\": invalid syntax"
        );
    }

    #[test]
    fn comments_adjust_one_instruction() {
        let base = CheckConfig::default();
        let comments = vec![
            "hello".to_string(),
            "check=skip=StageNameCasing".to_string(),
        ];
        let local = base.for_comments(&comments);
        assert!(!local.runs(STAGE_NAME_CASING, false));
        assert!(local.runs(FROM_AS_CASING, false));
        let local = base.for_comments(&[
            "CHECK = experimental=InvalidDefinitionDescription trailing".to_string(),
        ]);
        assert!(local.runs(INVALID_DEFINITION_DESCRIPTION, true));
        // Unreadable values and other comments change nothing.
        assert_eq!(*base.for_comments(&["check=bogus".to_string()]), base);
        assert_eq!(*base.for_comments(&["checks=skip=all".to_string()]), base);
        assert_eq!(*base.for_comments(&["check".to_string()]), base);
    }
}
