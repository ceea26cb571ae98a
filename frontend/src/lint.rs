//! Build-check warnings (BuildKit's linter rules), collected while parsing
//! and lowering so each carries the source range it is about.

use crate::SourceRange;

/// One finding of a build-check rule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Warning {
    /// Rule name as BuildKit spells it, e.g. `NoEmptyContinuation`.
    pub rule: &'static str,
    /// The message BuildKit prints for this finding.
    pub message: String,
    /// Documentation URL BuildKit prints for the rule.
    pub url: String,
    pub range: SourceRange,
}

impl Warning {
    pub fn new(rule: &'static str, message: impl Into<String>, range: SourceRange) -> Self {
        Warning {
            rule,
            message: message.into(),
            url: rule_url(rule),
            range,
        }
    }
}

/// `NoEmptyContinuation` -> `https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/`
pub fn rule_url(rule: &str) -> String {
    let mut slug = String::new();
    for (i, c) in rule.char_indices() {
        if c.is_ascii_uppercase() {
            // A new word starts at an upper-case letter that follows a
            // lower-case one or precedes one (JSONArgs -> json-args).
            let prev_lower = i > 0 && rule[..i].ends_with(|p: char| p.is_ascii_lowercase());
            let next_lower = rule[i + c.len_utf8()..].starts_with(|n: char| n.is_ascii_lowercase());
            if i > 0 && (prev_lower || next_lower) {
                slug.push('-');
            }
            slug.push(c.to_ascii_lowercase());
        } else {
            slug.push(c);
        }
    }
    format!("https://docs.docker.com/go/dockerfile/rule/{slug}/")
}

#[cfg(test)]
mod tests {
    use super::rule_url;

    #[test]
    fn urls_match_buildkit_slugs() {
        assert_eq!(
            rule_url("NoEmptyContinuation"),
            "https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/"
        );
        assert_eq!(
            rule_url("JSONArgsRecommended"),
            "https://docs.docker.com/go/dockerfile/rule/json-args-recommended/"
        );
        assert_eq!(
            rule_url("FromAsCasing"),
            "https://docs.docker.com/go/dockerfile/rule/from-as-casing/"
        );
    }
}
