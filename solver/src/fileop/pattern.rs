//! `--exclude` and `--parents` selection patterns, matched as moby's
//! `patternmatcher` does for fsutil's copy (the .dockerignore dialect):
//! patterns are cleaned paths relative to the copied source, `*` and `?`
//! stay within a component, `**` crosses components, a pattern matching a
//! directory matches everything below it, `!` lines re-include, the last
//! matching line wins.

use regex::Regex;

use super::error::FileOpError;
use crate::gopath;

enum Kind {
    Exact,
    /// `dir/**`: the text before the `**`.
    Prefix(String),
    /// `**/x`: the text after the `**`.
    Suffix(String),
    Regex(Regex),
}

struct Pattern {
    cleaned: String,
    exclusion: bool,
    kind: Kind,
}

/// Per-pattern results for a directory, handed to its entries.
#[derive(Debug, Clone, Default)]
pub(crate) struct MatchInfo(Vec<bool>);

pub(crate) struct PatternMatcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

impl PatternMatcher {
    /// `kind` names the option in errors (`exclude`, `include`).
    pub(crate) fn new(
        patterns: &[String],
        kind: &'static str,
    ) -> Result<Option<PatternMatcher>, FileOpError> {
        if patterns.is_empty() {
            return Ok(None);
        }
        let mut out = Vec::new();
        let mut exclusions = false;
        for raw in patterns {
            let p = raw.trim();
            if p.is_empty() {
                continue;
            }
            let mut p = gopath::clean_str(p);
            let bad = || FileOpError::InvalidPattern {
                kind,
                pattern: raw.clone(),
            };
            let mut exclusion = false;
            if let Some(rest) = p.strip_prefix('!') {
                if rest.is_empty() {
                    return Err(bad());
                }
                exclusion = true;
                exclusions = true;
                p = rest.to_string();
            }
            if gopath::go_match(p.as_bytes(), b".").is_err() {
                return Err(bad());
            }
            let kind = compile(&p).ok_or_else(bad)?;
            out.push(Pattern {
                cleaned: p,
                exclusion,
                kind,
            });
        }
        Ok(Some(PatternMatcher {
            patterns: out,
            exclusions,
        }))
    }

    /// Whether any pattern is a `!` exception.
    pub(crate) fn exclusions(&self) -> bool {
        self.exclusions
    }

    /// `MatchesUsingParentResults`: whether `file` (relative, clean) is
    /// matched, given the results of its parent directory (the default
    /// `MatchInfo` for the first level, which checks parents by itself).
    pub(crate) fn matches(&self, file: &str, parent: &MatchInfo) -> (bool, MatchInfo) {
        let parent = &parent.0;
        let mut matched = false;
        let mut info = vec![false; self.patterns.len()];
        for (i, p) in self.patterns.iter().enumerate() {
            let mut m = parent.get(i).copied().unwrap_or(false);
            if !m {
                if p.exclusion != matched {
                    continue;
                }
                m = p.matches(file);
                if !m && parent.is_empty() {
                    let dir = gopath::dir_str(file);
                    if dir != "." {
                        let parts: Vec<&str> = dir.split('/').collect();
                        m = (1..=parts.len()).any(|n| p.matches(&parts[..n].join("/")));
                    }
                }
            }
            info[i] = m;
            if m {
                matched = !p.exclusion;
            }
        }
        (matched, MatchInfo(info))
    }
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.cleaned,
            Kind::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Kind::Suffix(suffix) => {
                path.ends_with(suffix.as_str()) || (suffix.starts_with('/') && path == &suffix[1..])
            }
            Kind::Regex(re) => re.is_match(path),
        }
    }
}

/// The pattern as patternmatcher compiles it: an exact string, a prefix, a
/// suffix, or a regular expression. `None` if the expression is invalid.
fn compile(pattern: &str) -> Option<Kind> {
    #[derive(PartialEq)]
    enum Detected {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let mut re = String::from("^");
    let mut detected = Detected::Exact;
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut index = 0;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        match ch {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= chars.len() {
                    if detected == Detected::Exact {
                        detected = Detected::Prefix;
                    } else {
                        re.push_str(".*");
                        detected = Detected::Regex;
                    }
                } else {
                    re.push_str("(.*/)?");
                    detected = Detected::Regex;
                }
                if index == 0 {
                    detected = Detected::Suffix;
                }
            }
            '*' => {
                re.push_str("[^/]*");
                detected = Detected::Regex;
            }
            '?' => {
                re.push_str("[^/]");
                detected = Detected::Regex;
            }
            '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$' => {
                re.push('\\');
                re.push(ch);
            }
            '\\' => {
                if i < chars.len() {
                    re.push('\\');
                    re.push(chars[i]);
                    i += 1;
                    detected = Detected::Regex;
                } else {
                    re.push_str("\\\\");
                }
            }
            '[' | ']' => {
                re.push(ch);
                detected = Detected::Regex;
            }
            c => re.push(c),
        }
        index += 1;
    }
    Some(match detected {
        Detected::Exact => Kind::Exact,
        Detected::Prefix => Kind::Prefix(pattern[..pattern.len() - 2].to_string()),
        Detected::Suffix => Kind::Suffix(pattern[2..].to_string()),
        Detected::Regex => {
            re.push('$');
            Kind::Regex(Regex::new(&re).ok()?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(patterns: &[&str], file: &str) -> bool {
        let pm = PatternMatcher::new(
            &patterns.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            "exclude",
        )
        .unwrap()
        .unwrap();
        pm.matches(file, &MatchInfo::default()).0
    }

    #[test]
    fn fileop_pattern_semantics() {
        assert!(m(&["*.md"], "README.md"));
        assert!(!m(&["*.md"], "docs/a.md"));
        assert!(m(&["**/*.md"], "docs/a.md"));
        assert!(m(&["**/*.md"], "a.md"));
        assert!(m(&["docs"], "docs/a/b.txt"));
        assert!(m(&["docs/**"], "docs/a/b.txt"));
        assert!(m(&["a/*/c"], "a/b/c/d"));
        assert!(!m(&["*.md", "!README.md"], "README.md"));
        assert!(m(&["*.md", "!README.md"], "X.md"));
        assert!(m(&["a?c"], "abc"));
        assert!(!m(&["a?c"], "a/c"));
        assert!(m(&["[ab].txt"], "b.txt"));
        assert!(m(&["./x/../y"], "y"));
        assert!(m(&["**"], "anything/at/all"));
        assert!(m(&["**/foo"], "foo"));
        assert!(m(&["a/**/b"], "a/b"));
        assert!(m(&["a/**/b"], "a/x/y/b"));
    }

    #[test]
    fn fileop_pattern_parent_results_flow_down() {
        let pm = PatternMatcher::new(&["dir".to_string(), "!dir/keep".to_string()], "exclude")
            .unwrap()
            .unwrap();
        assert!(pm.exclusions());
        let (d, info) = pm.matches("dir", &MatchInfo::default());
        assert!(d);
        assert!(pm.matches("dir/x", &info).0);
        assert!(!pm.matches("dir/keep", &info).0);
    }

    #[test]
    fn fileop_pattern_errors() {
        assert!(PatternMatcher::new(&["!".to_string()], "exclude").is_err());
        assert!(PatternMatcher::new(&["a[".to_string()], "exclude").is_err());
        assert!(PatternMatcher::new(&[], "exclude").unwrap().is_none());
    }
}
