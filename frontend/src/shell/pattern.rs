//! Shell patterns for `${v#p}`, `${v%p}` and `${v/p/r}`.
//!
//! A pattern knows three things: `*` (any run of characters), `?` (one
//! character) and `\` escaping `*`, `?` or `\`. There are no bracket
//! expressions. `\}` and `\/` are also accepted and mean the bare
//! character: they are how a `}` or `/` gets into an operand of `${…}`.
//! Any other `\x` is an error. The backslash is the pattern escape even
//! when the Dockerfile's escape character is the backtick.
//!
//! Patterns become regular expressions. Removing a prefix is an anchored
//! leftmost search where `*` is lazy (`#`, shortest) or greedy (`##`,
//! longest). Removing a suffix reverses both the value and the pattern so
//! it becomes a prefix search too: no regex engine finds the shortest
//! rightmost match directly.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;

use regex::Regex;

use super::unicode::{is_digit, is_letter};

/// `${v#p}` / `${v##p}`: `value` without its shortest / longest prefix
/// matching `pattern`.
pub(super) fn trim_prefix<'v>(
    value: &'v str,
    pattern: &str,
    greedy: bool,
) -> Result<&'v str, String> {
    let re = compile(pattern, greedy, true)?;
    Ok(match re.find(value) {
        Some(m) => &value[m.end()..],
        None => value,
    })
}

/// `${v%p}` / `${v%%p}`: `value` without its shortest / longest suffix
/// matching `pattern`.
pub(super) fn trim_suffix<'v>(
    value: &'v str,
    pattern: &str,
    greedy: bool,
) -> Result<Cow<'v, str>, String> {
    let reversed_value: String = value.chars().rev().collect();
    // An error names the reversed pattern, as the reference's does.
    let kept = trim_prefix(&reversed_value, &reverse_pattern(pattern), greedy)?;
    if kept.len() == reversed_value.len() {
        return Ok(Cow::Borrowed(value));
    }
    Ok(Cow::Owned(kept.chars().rev().collect()))
}

/// `${v/p/r}` (first match) and `${v//p/r}` (every match); `*` is greedy.
///
/// Only the replace-every-match form interprets `$` in `replacement` (as
/// Go's `Regexp.ReplaceAllString` does: `$0` is the match, `$$` a dollar);
/// the first-match form inserts it verbatim.
pub(super) fn substitute(
    value: &str,
    pattern: &str,
    replacement: &str,
    every: bool,
) -> Result<String, String> {
    let re = compile(pattern, true, false)?;
    let mut out = String::with_capacity(value.len());
    let mut copied = 0;
    for m in re.find_iter(value) {
        out.push_str(&value[copied..m.start()]);
        if every {
            expand_template(&mut out, replacement, m.as_str());
        } else {
            out.push_str(replacement);
        }
        copied = m.end();
        if !every {
            break;
        }
    }
    out.push_str(&value[copied..]);
    Ok(out)
}

/// Compiles a shell pattern; errors read `invalid pattern (<p>) in
/// substitution: <why>` like the reference's.
fn compile(pattern: &str, greedy: bool, anchored: bool) -> Result<Regex, String> {
    let invalid = |why: String| format!("invalid pattern ({pattern}) in substitution: {why}");
    let source = to_regex(pattern, greedy, anchored).map_err(invalid)?;
    cached_regex(&source).map_err(|e| invalid(e.to_string()))
}

/// Compiles `source`, reusing earlier compilations on this thread.
///
/// Building a regex costs tens of microseconds (Unicode `.` is a large
/// automaton) while matching costs almost nothing, and the same words are
/// typically expanded again for every stage and platform. Bounded so a
/// stream of distinct patterns cannot grow it without limit.
fn cached_regex(source: &str) -> Result<Regex, regex::Error> {
    const CAPACITY: usize = 128;
    thread_local! {
        static CACHE: RefCell<HashMap<String, Regex>> = RefCell::new(HashMap::new());
    }
    CACHE.with(|cache| {
        if let Some(re) = cache.borrow().get(source) {
            return Ok(re.clone());
        }
        let re = Regex::new(source)?;
        let mut cache = cache.borrow_mut();
        if cache.len() >= CAPACITY {
            cache.clear();
        }
        cache.insert(source.to_string(), re.clone());
        Ok(re)
    })
}

/// The regex source for a shell pattern.
fn to_regex(pattern: &str, greedy: bool, anchored: bool) -> Result<String, String> {
    // The reference reads patterns with Go's text/scanner, which skips a
    // byte-order mark at the very start of its input.
    let pattern = pattern.strip_prefix('\u{feff}').unwrap_or(pattern);
    let mut out = String::with_capacity(pattern.len() + 4);
    if anchored {
        out.push('^');
    }
    let mut chars = pattern.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '*' if greedy => out.push_str(".*"),
            '*' => out.push_str(".*?"),
            '?' => out.push('.'),
            // `\}` and `\/` only got the brace or slash past the `${…}`
            // scanner; the character itself is literal.
            '\\' if matches!(chars.peek(), Some('}' | '/')) => {}
            '\\' => match chars.next() {
                Some(escaped @ ('*' | '?' | '\\')) => push_literal(&mut out, escaped),
                // Go formats the missing character (EOF, -1) with `%c`,
                // which prints U+FFFD.
                other => {
                    return Err(format!(
                        "invalid escape '\\{}'",
                        other.unwrap_or('\u{fffd}')
                    ))
                }
            },
            _ => push_literal(&mut out, ch),
        }
    }
    Ok(out)
}

fn push_literal(out: &mut String, ch: char) {
    if regex_syntax_meta(ch) {
        out.push('\\');
    }
    out.push(ch);
}

/// Characters the `regex` crate gives a meaning somewhere; escaping them is
/// always allowed.
fn regex_syntax_meta(ch: char) -> bool {
    matches!(
        ch,
        '\\' | '.'
            | '+'
            | '*'
            | '?'
            | '('
            | ')'
            | '|'
            | '['
            | ']'
            | '{'
            | '}'
            | '^'
            | '$'
            | '#'
            | '&'
            | '-'
            | '~'
    )
}

/// Reverses a pattern but keeps each `\x` escape pair in order, so
/// `a\*c` becomes `c\*a`. A backslash with nothing after it is reversed
/// like any other character.
fn reverse_pattern(pattern: &str) -> String {
    let mut units = Vec::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(ch) = rest.chars().next() {
        let mut len = ch.len_utf8();
        if ch == '\\' {
            len += rest[1..].chars().next().map_or(0, char::len_utf8);
        }
        units.push(&rest[..len]);
        rest = &rest[len..];
    }
    units.into_iter().rev().collect()
}

/// Appends `template` with Go's `Regexp.Expand` rules for a regex whose
/// only group is the whole match: `$$` is `$`; `$name` / `${name}` (name =
/// letters, digits, `_`) is the match when the name is exactly `0` and
/// empty otherwise; a `$` starting no valid reference stays as written.
fn expand_template(out: &mut String, template: &str, matched: &str) {
    let mut rest = template;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        rest = &rest[dollar + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        match group_reference(rest) {
            Some((name, after)) => {
                if name == "0" {
                    out.push_str(matched);
                }
                rest = after;
            }
            None => out.push('$'),
        }
    }
    out.push_str(rest);
}

/// Splits `name…` or `{name}…` off the text after a `$`.
fn group_reference(text: &str) -> Option<(&str, &str)> {
    let (braced, body) = match text.strip_prefix('{') {
        Some(body) => (true, body),
        None => (false, text),
    };
    let len = body
        .find(|c: char| !(is_letter(c) || is_digit(c) || c == '_'))
        .unwrap_or(body.len());
    if len == 0 {
        return None;
    }
    let (name, after) = body.split_at(len);
    if !braced {
        return Some((name, after));
    }
    after.strip_prefix('}').map(|after| (name, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_pattern_to_regex() {
        let cases = [
            ("*", "^.*"),
            ("?", "^."),
            ("\\*", "^\\*"),
            ("a\\}b\\/", "^a\\}b/"),
            (
                "(()[]{\\}^$.\\*\\?|\\\\",
                "^\\(\\(\\)\\[\\]\\{\\}\\^\\$\\.\\*\\?\\|\\\\",
            ),
        ];
        for (pattern, want) in cases {
            assert_eq!(to_regex(pattern, true, true).unwrap(), want, "{pattern}");
        }
        assert_eq!(to_regex("a*", false, false).unwrap(), "a.*?");
        assert_eq!(
            to_regex("\\", true, true).unwrap_err(),
            "invalid escape '\\\u{fffd}'"
        );
        assert_eq!(
            to_regex("\\x", true, true).unwrap_err(),
            "invalid escape '\\x'"
        );
        assert!(to_regex("\\\\\\", true, true).is_err());
    }

    #[test]
    fn shell_pattern_reverse() {
        let cases = [
            ("a\\*c", "c\\*a"),
            ("\\\\\\ab", "b\\a\\\\"),
            ("ab\\", "\\ba"),
            ("👽\\🚀🖖", "🖖\\🚀👽"),
            ("\\\\b", "b\\\\"),
        ];
        for (pattern, want) in cases {
            assert_eq!(reverse_pattern(pattern), want, "{pattern}");
        }
    }

    #[test]
    fn shell_pattern_trim() {
        assert_eq!(trim_prefix("xxyy", "*x", false).unwrap(), "xyy");
        assert_eq!(trim_prefix("xxyy", "*x", true).unwrap(), "yy");
        assert_eq!(trim_suffix("xxyy", "y*", false).unwrap(), "xxy");
        assert_eq!(trim_suffix("xxyy", "y*", true).unwrap(), "xx");
        assert_eq!(trim_suffix("a***yy*", "\\**\\*", true).unwrap(), "a");
        assert_eq!(trim_suffix("한국어", "?", false).unwrap(), "한국");
        // The error names the reversed pattern.
        assert_eq!(
            trim_suffix("a", "ab\\", false).unwrap_err(),
            "invalid pattern (\\ba) in substitution: invalid escape '\\b'"
        );
    }

    #[test]
    fn shell_pattern_replacement_template() {
        let expand = |template: &str| {
            let mut out = String::new();
            expand_template(&mut out, template, "M");
            out
        };
        assert_eq!(expand("<$0>"), "<M>");
        assert_eq!(expand("<${0}>"), "<M>");
        assert_eq!(expand("$$0"), "$0");
        assert_eq!(expand("$00 $1 $x ${x}"), "   ");
        assert_eq!(expand("$0abc"), "");
        assert_eq!(expand("$ $. ${0 $"), "$ $. ${0 $");
        assert_eq!(substitute("aXbX", "X", "$0$0", true).unwrap(), "aXXbXX");
        assert_eq!(substitute("aXbX", "X", "$0$0", false).unwrap(), "a$0$0bX");
        assert_eq!(substitute("ab", "", "-", true).unwrap(), "-a-b-");
        assert_eq!(substitute("abc", "*", "-", true).unwrap(), "-");
    }
}
