//! Build-check warnings (BuildKit's linter rules), collected while parsing
//! and lowering so each carries the source range it is about.
//!
//! [`RULES`] is the rule set with BuildKit's names, descriptions and
//! documentation URLs (`frontend/dockerfile/linter/ruleset.go`). A rule
//! runs unless the check configuration skips it; an experimental rule runs
//! only when enabled (`# check=experimental=<rule>|all`). Where each rule
//! is raised:
//!
//! | rule | raised by |
//! |---|---|
//! | NoEmptyContinuation | the parser |
//! | MaintainerDeprecated, StageNameCasing, FromAsCasing, InvalidDefinitionDescription | typing instructions (`instructions`) |
//! | everything else | the lowering (`lower`) |
//!
//! A `# check=...` comment right above an instruction adds skipped (or
//! experimental) rules for the rules raised for that instruction, as
//! BuildKit's `WithMergedConfigFromComments`; the rules that look at the
//! whole file (stage names, casing, default ARG values, base image
//! platform, empty continuation lines) follow the file's configuration.

use crate::SourceRange;

/// One rule of the rule set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Rule {
    /// The name BuildKit gives the rule, e.g. `NoEmptyContinuation`.
    pub name: &'static str,
    /// BuildKit's one-line description of the rule.
    pub description: &'static str,
    /// The documentation page BuildKit links (InvalidBaseImagePlatform has
    /// none).
    pub url: Option<&'static str>,
    /// Runs only when enabled with `experimental=`.
    pub experimental: bool,
}

const fn rule(
    name: &'static str,
    description: &'static str,
    url: Option<&'static str>,
    experimental: bool,
) -> Rule {
    Rule {
        name,
        description,
        url,
        experimental,
    }
}

/// BuildKit's rule set, in its order.
pub const RULES: [Rule; 22] = [
    rule("StageNameCasing", "Stage names should be lowercase", Some("https://docs.docker.com/go/dockerfile/rule/stage-name-casing/"), false),
    rule("FromAsCasing", "The 'as' keyword should match the case of the 'from' keyword", Some("https://docs.docker.com/go/dockerfile/rule/from-as-casing/"), false),
    rule("NoEmptyContinuation", "Empty continuation lines will become errors in a future release", Some("https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/"), false),
    rule("ConsistentInstructionCasing", "All commands within the Dockerfile should use the same casing (either upper or lower)", Some("https://docs.docker.com/go/dockerfile/rule/consistent-instruction-casing/"), false),
    rule("DuplicateStageName", "Stage names should be unique", Some("https://docs.docker.com/go/dockerfile/rule/duplicate-stage-name/"), false),
    rule("ReservedStageName", "Reserved words should not be used as stage names", Some("https://docs.docker.com/go/dockerfile/rule/reserved-stage-name/"), false),
    rule("JSONArgsRecommended", "JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals", Some("https://docs.docker.com/go/dockerfile/rule/json-args-recommended/"), false),
    rule("MaintainerDeprecated", "The MAINTAINER instruction is deprecated, use a label instead to define an image author", Some("https://docs.docker.com/go/dockerfile/rule/maintainer-deprecated/"), false),
    rule("UndefinedArgInFrom", "FROM command must use declared ARGs", Some("https://docs.docker.com/go/dockerfile/rule/undefined-arg-in-from/"), false),
    rule("WorkdirRelativePath", "Relative workdir without an absolute workdir declared within the build can have unexpected results if the base image changes", Some("https://docs.docker.com/go/dockerfile/rule/workdir-relative-path/"), false),
    rule("UndefinedVar", "Variables should be defined before their use", Some("https://docs.docker.com/go/dockerfile/rule/undefined-var/"), false),
    rule("MultipleInstructionsDisallowed", "Multiple instructions of the same type should not be used in the same stage", Some("https://docs.docker.com/go/dockerfile/rule/multiple-instructions-disallowed/"), false),
    rule("LegacyKeyValueFormat", "Legacy key/value format with whitespace separator should not be used", Some("https://docs.docker.com/go/dockerfile/rule/legacy-key-value-format/"), false),
    rule("InvalidBaseImagePlatform", "Base image platform does not match expected target platform", None, false),
    rule("RedundantTargetPlatform", "Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior", Some("https://docs.docker.com/go/dockerfile/rule/redundant-target-platform/"), false),
    rule("SecretsUsedInArgOrEnv", "Sensitive data should not be used in the ARG or ENV commands", Some("https://docs.docker.com/go/dockerfile/rule/secrets-used-in-arg-or-env/"), false),
    rule("InvalidDefaultArgInFrom", "Default value for global ARG results in an empty or invalid base image name", Some("https://docs.docker.com/go/dockerfile/rule/invalid-default-arg-in-from/"), false),
    rule("FromPlatformFlagConstDisallowed", "FROM --platform flag should not use a constant value", Some("https://docs.docker.com/go/dockerfile/rule/from-platform-flag-const-disallowed/"), false),
    // Experimental until Dockerfile frontend 1.21 (BuildKit 4187c344c,
    // "dockerfile: promote experimental linter rule"); stable since.
    rule("CopyIgnoredFile", "Attempting to Copy file that is excluded by .dockerignore", Some("https://docs.docker.com/go/dockerfile/rule/copy-ignored-file/"), false),
    rule("InvalidDefinitionDescription", "Comment for build stage or argument should follow the format: `# <arg/stage name> <description>`. If this is not intended to be a description comment, add an empty line or comment between the instruction and the comment.", Some("https://docs.docker.com/go/dockerfile/rule/invalid-definition-description/"), true),
    rule("ExposeProtoCasing", "Protocol in EXPOSE instruction should be lowercase", Some("https://docs.docker.com/go/dockerfile/rule/expose-proto-casing/"), false),
    rule("ExposeInvalidFormat", "IP address and host-port mapping should not be used in EXPOSE instruction. This will become an error in a future release", Some("https://docs.docker.com/go/dockerfile/rule/expose-invalid-format/"), false),
];

/// The rule called `name`.
pub fn find_rule(name: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.name == name)
}

/// Whether `name` is an experimental rule (runs only when enabled).
pub fn is_experimental(name: &str) -> bool {
    find_rule(name).is_some_and(|r| r.experimental)
}

/// One finding of a build-check rule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Warning {
    /// Rule name as BuildKit spells it, e.g. `NoEmptyContinuation`.
    pub rule: &'static str,
    /// The message BuildKit prints for this finding.
    pub message: String,
    /// Documentation URL BuildKit prints for the rule ("" when it has none).
    pub url: String,
    pub range: SourceRange,
}

impl Warning {
    pub fn new(rule: &'static str, message: impl Into<String>, range: SourceRange) -> Self {
        let url = match find_rule(rule) {
            Some(r) => r.url.unwrap_or_default().to_string(),
            None => rule_url(rule),
        };
        Warning {
            rule,
            message: message.into(),
            url,
            range,
        }
    }

    /// The rule's description (BuildKit's `description` / vertex warning
    /// detail); "" for a rule not in the set.
    pub fn description(&self) -> &'static str {
        find_rule(self.rule).map_or("", |r| r.description)
    }

    /// BuildKit's one-line form (`LintFormatShort`):
    /// `FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 2)`.
    pub fn short(&self) -> String {
        let mut out = format!("{}: {}", self.rule, self.message);
        if self.range.start_line > 0 {
            out.push_str(&format!(" (line {})", self.range.start_line));
        }
        out
    }
}

/// Orders warnings as BuildKit prints lint results: by start line, in
/// the order they were found within a line.
pub fn sort_by_location(warnings: &mut [Warning]) {
    warnings.sort_by_key(|w| w.range.start_line);
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
    use super::*;

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

    #[test]
    fn rule_set_urls_follow_the_slug_scheme() {
        for r in &RULES {
            if let Some(url) = r.url {
                assert_eq!(url, rule_url(r.name), "{}", r.name);
            }
        }
        assert_eq!(
            Warning::new("InvalidBaseImagePlatform", "m", SourceRange::line(1)).url,
            ""
        );
        assert!(is_experimental("InvalidDefinitionDescription"));
        assert!(!is_experimental("CopyIgnoredFile"));
        assert!(!is_experimental("NoSuchRule"));
    }

    #[test]
    fn short_form_and_order() {
        let w = Warning::new(
            "FromAsCasing",
            "'as' and 'FROM' keywords' casing do not match",
            SourceRange::line(2),
        );
        assert_eq!(
            w.short(),
            "FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 2)"
        );
        assert_eq!(
            w.description(),
            "The 'as' keyword should match the case of the 'from' keyword"
        );
        let mut ws = vec![
            Warning::new("B", "b", SourceRange::line(3)),
            Warning::new("A", "a1", SourceRange::line(1)),
            Warning::new("C", "c", SourceRange::line(3)),
            Warning::new("A", "a2", SourceRange::line(1)),
        ];
        sort_by_location(&mut ws);
        let order: Vec<&str> = ws.iter().map(|w| w.message.as_str()).collect();
        assert_eq!(order, ["a1", "a2", "b", "c"]);
    }
}
