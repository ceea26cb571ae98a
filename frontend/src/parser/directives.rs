//! Parser directives: `# syntax=...`, `# escape=...`, `# check=...`.
//!
//! Directives are comment lines of the form `#name=value` at the very top
//! of the Dockerfile. The rules are BuildKit's:
//!
//! - names are case-insensitive (`# ESCAPE=`` ` `` works), spaces are
//!   allowed after `#` and around `=` (`#syntax=x` and `# syntax = x` are
//!   the same), the value runs to the end of the line minus trailing
//!   white space;
//! - the first line that is not a directive ends the block: an
//!   instruction, an empty line, an ordinary comment, and also a comment
//!   that looks like a directive with an unknown name (`# foo=bar`);
//! - each directive may appear once (`only one escape parser directive
//!   can be used`);
//! - `escape` must be `\` or `` ` ``.
//!
//! The instruction parser applies `escape` while reading lines (there a
//! leading `#!` line ends the block). `syntax` and `check` are read the way
//! BuildKit's frontend reads them from the raw file ([`detect_syntax`],
//! [`parse_directive`]): a leading shebang line is skipped, and `syntax`
//! also has the `//syntax=` and JSON (`{"syntax": "..."}`) spellings.

/// One directive as found in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// Lower-case name: `syntax`, `escape` or `check`.
    pub name: String,
    /// The value as written, trailing white space removed.
    pub value: String,
    /// 1-based line of the directive.
    pub line: usize,
}

/// The directives of a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Directives {
    /// Full `syntax` value, e.g. `docker/dockerfile:1 // comment`; see
    /// [`Directives::syntax_ref`] for the image reference alone.
    pub syntax: Option<String>,
    /// The `escape` value as written (`\` or `` ` ``).
    pub escape: Option<String>,
    /// Full `check` value; see [`Directives::check_options`].
    pub check: Option<String>,
    /// 1-based lines of `syntax`, `escape` and `check` where present.
    pub syntax_line: Option<usize>,
    pub escape_line: Option<usize>,
    pub check_line: Option<usize>,
}

impl Directives {
    /// The frontend image reference: the `syntax` value up to the first
    /// space (BuildKit passes the rest along as its command line).
    pub fn syntax_ref(&self) -> Option<&str> {
        self.syntax.as_deref().map(first_word)
    }

    /// The build-check options BuildKit uses: the `check` value up to the
    /// first space (`skip=all // why` -> `skip=all`).
    pub fn check_options(&self) -> Option<&str> {
        self.check.as_deref().map(first_word)
    }
}

fn first_word(value: &str) -> &str {
    value.split_once(' ').map_or(value, |(word, _)| word)
}

const VALID_NAMES: [&str; 3] = ["syntax", "escape", "check"];

/// Recognises directives line by line, stopping at the first line that is
/// not one (BuildKit's `DirectiveParser`).
#[derive(Debug, Clone)]
pub struct DirectiveParser {
    prefix: &'static str,
    line: usize,
    seen: Vec<String>,
    done: bool,
}

impl Default for DirectiveParser {
    fn default() -> Self {
        Self::new()
    }
}

impl DirectiveParser {
    /// A parser for `#` directives starting at line 1.
    pub fn new() -> Self {
        DirectiveParser {
            prefix: "#",
            line: 0,
            seen: Vec::new(),
            done: false,
        }
    }

    /// A parser for `//` directives (one of `detect_syntax`'s fallbacks).
    fn with_prefix(prefix: &'static str, first_line: usize) -> Self {
        DirectiveParser {
            prefix,
            line: first_line,
            ..Self::new()
        }
    }

    /// Whether a line that is not a directive was seen.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Looks at the next line (without its newline). Returns the directive
    /// it holds, `None` for any other line (which ends the block), or an
    /// error for a repeated directive.
    pub fn parse_line(&mut self, line: &str) -> Result<Option<Directive>, String> {
        self.line += 1;
        if self.done {
            return Ok(None);
        }
        let Some(after) = line.strip_prefix(self.prefix) else {
            self.done = true;
            return Ok(None);
        };
        let Some((name, value)) = split_directive(after.trim_start()) else {
            self.done = true;
            return Ok(None);
        };
        let name = name.to_ascii_lowercase();
        if !VALID_NAMES.contains(&name.as_str()) {
            self.done = true;
            return Ok(None);
        }
        if self.seen.contains(&name) {
            return Err(format!("only one {name} parser directive can be used"));
        }
        self.seen.push(name.clone());
        Ok(Some(Directive {
            name,
            value: value.to_string(),
            line: self.line,
        }))
    }

    /// All directives at the top of `text` (lines split as Go's
    /// `bufio.ScanLines` does); stops at the first error.
    fn parse_all(&mut self, text: &str) -> Vec<Directive> {
        let mut found = Vec::new();
        for line in text.split_inclusive('\n') {
            if self.done {
                break;
            }
            let line = line.strip_suffix('\n').unwrap_or(line);
            let line = line.strip_suffix('\r').unwrap_or(line);
            match self.parse_line(line) {
                Ok(Some(d)) => found.push(d),
                Ok(None) => {}
                Err(_) => break,
            }
        }
        found
    }
}

/// White space as Go's regexp `\s`: `[\t\n\f\r ]`.
fn is_re_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{c}' | '\r' | ' ')
}

/// Matches `name \s* = \s* value \s*` (name: a letter then letters and
/// digits; value: at least one character that is not a newline).
fn split_directive(text: &str) -> Option<(&str, &str)> {
    let name_len = text
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map_or(text.len(), |(i, _)| i);
    if name_len == 0 {
        return None;
    }
    let name = &text[..name_len];
    let after_eq = text[name_len..]
        .trim_start_matches(is_re_space)
        .strip_prefix('=')?;
    // Callers pass single lines, so there is no newline for the regexp's
    // `.` to stop at.
    if after_eq.is_empty() {
        return None;
    }
    let value = after_eq
        .trim_start_matches(is_re_space)
        .trim_end_matches(is_re_space);
    if !value.is_empty() {
        return Some((name, value));
    }
    // Only white space after `=`: the regexp's lazy value then takes the
    // last white-space character.
    let last = after_eq.chars().next_back()?;
    Some((name, &after_eq[after_eq.len() - last.len_utf8()..]))
}

/// Sets `escape`'s character from a directive value.
pub(super) fn escape_char(value: &str) -> Result<char, String> {
    match value {
        "\\" => Ok('\\'),
        "`" => Ok('`'),
        _ => Err(format!(
            "invalid escape token '{value}' does not match ` or \\"
        )),
    }
}

fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Drops a first line starting with `#!`; returns the rest and whether it
/// did.
fn strip_shebang(text: &str) -> (&str, bool) {
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    if first.starts_with("#!") {
        (rest, true)
    } else {
        (text, false)
    }
}

/// The `syntax` directive as BuildKit's frontend finds it (`DetectSyntax`):
/// `# syntax=` at the top (after an optional shebang line), else
/// `// syntax=`, else a JSON object's `"syntax"` string. Returns the full
/// value and its 1-based line (0 for the JSON form, or 1 after a shebang).
pub fn detect_syntax(text: &str) -> Option<Directive> {
    find_directive("syntax", text, true)
}

/// A directive (`syntax` or `check`) as BuildKit's frontend finds it in the
/// raw file (`ParseDirective`): `# key=` at the top, after an optional
/// shebang line.
pub fn parse_directive(key: &str, text: &str) -> Option<Directive> {
    find_directive(key, text, false)
}

fn find_directive(key: &str, text: &str, any_format: bool) -> Option<Directive> {
    let text = strip_bom(text);
    let (text, had_shebang) = strip_shebang(text);
    let first_line = usize::from(had_shebang);
    let find =
        |mut parser: DirectiveParser| parser.parse_all(text).into_iter().find(|d| d.name == key);
    if let Some(d) = find(DirectiveParser::with_prefix("#", first_line)) {
        return Some(d);
    }
    if !any_format {
        return None;
    }
    if let Some(d) = find(DirectiveParser::with_prefix("//", first_line)) {
        return Some(d);
    }
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).ok()?;
    let value = object.get(key)?.as_str()?;
    Some(Directive {
        name: key.to_string(),
        value: value.to_string(),
        line: first_line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Vec<(String, String)> {
        DirectiveParser::new()
            .parse_all(text)
            .into_iter()
            .map(|d| (d.name, d.value))
            .collect()
    }

    fn pair(name: &str, value: &str) -> (String, String) {
        (name.to_string(), value.to_string())
    }

    #[test]
    fn directive_block() {
        assert_eq!(
            all("#escape=\\\n# key = FOO bar\n\n# smth\n"),
            vec![pair("escape", "\\")]
        );
        assert_eq!(
            all("# EScape=\\\n# KEY = FOO bar\n\n# smth\n"),
            vec![pair("escape", "\\")]
        );
        assert_eq!(
            all("# syntax = a/b:1  \n#check=skip=all\n#escape=`\n# escape=x\n"),
            vec![
                pair("syntax", "a/b:1"),
                pair("check", "skip=all"),
                pair("escape", "`")
            ]
        );
        assert_eq!(all("# syntax=x\n\n# check=y\n"), vec![pair("syntax", "x")]);
        assert_eq!(all("# hello\n# syntax=x\n"), vec![]);
        assert_eq!(all("FROM x\n# syntax=x\n"), vec![]);
        assert_eq!(all(" # syntax=x\n"), vec![]);
        assert_eq!(all("#syntax\n"), vec![]);
        assert_eq!(all("# syntax=\n"), vec![]);
        assert_eq!(all("# 1syntax=x\n"), vec![]);
        assert_eq!(all("# syntax2=x\n# syntax=y"), vec![]);
        assert_eq!(all("#\tsyntax\t=\tx y\t\r\n"), vec![pair("syntax", "x y")]);
    }

    #[test]
    fn whitespace_only_value() {
        // The reference's regexp lets the lazy value match one space.
        assert_eq!(split_directive("escape= "), Some(("escape", " ")));
        assert_eq!(split_directive("escape= \t"), Some(("escape", "\t")));
        assert_eq!(split_directive("escape="), None);
        assert_eq!(split_directive("escape =x"), Some(("escape", "x")));
        assert_eq!(split_directive("a1b=x"), Some(("a1b", "x")));
        assert_eq!(split_directive("a-b=x"), None);
    }

    #[test]
    fn duplicates_are_errors() {
        let mut p = DirectiveParser::new();
        assert!(p.parse_line("# escape=\\").unwrap().is_some());
        assert_eq!(
            p.parse_line("#ESCAPE=`").unwrap_err(),
            "only one escape parser directive can be used"
        );
    }

    #[test]
    fn escape_values() {
        assert_eq!(escape_char("`"), Ok('`'));
        assert_eq!(escape_char("\\"), Ok('\\'));
        assert_eq!(
            escape_char("x").unwrap_err(),
            "invalid escape token 'x' does not match ` or \\"
        );
    }

    #[test]
    fn detects_syntax() {
        let d =
            detect_syntax("# syntax = dockerfile:experimental // opts\nFROM busybox\n").unwrap();
        assert_eq!(d.value, "dockerfile:experimental // opts");
        assert_eq!(d.line, 1);
        let dirs = Directives {
            syntax: Some(d.value),
            ..Directives::default()
        };
        assert_eq!(dirs.syntax_ref(), Some("dockerfile:experimental"));

        let d =
            detect_syntax("#!/bin/sh\n# syntax = dockerfile:experimental\nFROM busybox\n").unwrap();
        assert_eq!((d.value.as_str(), d.line), ("dockerfile:experimental", 2));
        assert!(detect_syntax("#!/bin/sh\n\n# syntax = dockerfile:experimental\n").is_none());
        assert!(detect_syntax("FROM busybox\nRUN ls\n").is_none());
        assert_eq!(
            detect_syntax("//syntax=foo\n//key=value").unwrap().value,
            "foo"
        );
        assert_eq!(detect_syntax("#!/bin/sh\n//syntax=x").unwrap().value, "x");
        assert_eq!(
            detect_syntax(r#"{"syntax": "foo", "bar": ["abc"]}"#)
                .unwrap()
                .value,
            "foo"
        );
        assert!(detect_syntax(r#"{"syntax": "foo""#).is_none());
        assert!(detect_syntax("{\"syntax\": \"foo\"}\n# syntax=bar").is_none());
        let d = detect_syntax("\u{feff}# syntax = myfrontend\nFROM busybox\n").unwrap();
        assert_eq!((d.value.as_str(), d.line), ("myfrontend", 1));
    }

    #[test]
    fn parses_check() {
        let d = parse_directive("check", "#check = skip=all // opts\nFROM busybox\n").unwrap();
        assert_eq!((d.value.as_str(), d.line), ("skip=all // opts", 1));
        let dirs = Directives {
            check: Some(d.value),
            ..Directives::default()
        };
        assert_eq!(dirs.check_options(), Some("skip=all"));
        let d = parse_directive("check", "#!/bin/sh\n# check = skip=all\nFROM busybox\n").unwrap();
        assert_eq!((d.value.as_str(), d.line), ("skip=all", 2));
        assert!(parse_directive("check", "#!/bin/sh\n\n# check = skip=all\n").is_none());
        assert!(parse_directive("check", "FROM busybox\nRUN ls\n").is_none());
        assert!(parse_directive("check", "//check=skip=all\n//key=value").is_none());
    }
}
