//! Pattern syntax: the validity check Docker borrows from Go's
//! `filepath.Match`, and the conversion of a cleaned pattern into the
//! cheapest matcher that implements it.
//!
//! Docker validates a pattern with `filepath.Match` rules but *matches* it
//! with a regular expression it builds itself. The two disagree on some
//! inputs (a `*` inside `[...]`, for instance); Docker's behaviour is the
//! regular expression's, so that is what this reproduces: [`plan`] emits
//! the exact RE2 source Docker would build and [`super::goregex`] turns that
//! into an equivalent expression for the `regex` crate.

use super::goregex;

/// How a compiled pattern is matched against a path.
#[derive(Debug, Clone)]
pub(crate) enum Compiled {
    /// The path must equal the pattern.
    Exact,
    /// The path must start with these bytes (pattern `dir/**`).
    Prefix(Box<[u8]>),
    /// The path must end with these bytes, or, when they start with `/`,
    /// equal them without it (pattern `**/name`).
    Suffix(Box<[u8]>),
    /// Anything else.
    Regex(regex::Regex),
}

/// Checks `pattern` against the grammar of Go's `filepath.Match` (Unix):
/// `\` escapes the next character and may not end the pattern; `[` opens a
/// class that needs at least one item before its closing `]`, takes an
/// optional leading `^` for negation, and whose items are single characters
/// or `lo-hi` ranges, where a bare `-` or `]` may not start an item.
/// `*` and `?` are always valid. There is no `!` negation in classes.
pub(crate) fn is_valid(pattern: &str) -> bool {
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // The guard consumes the escaped character, which must exist.
            '\\' if chars.next().is_none() => return false,
            '[' => {
                chars.next_if_eq(&'^');
                let mut items = 0;
                loop {
                    if items > 0 && chars.next_if_eq(&']').is_some() {
                        break;
                    }
                    if !class_char(&mut chars) {
                        return false;
                    }
                    if chars.next_if_eq(&'-').is_some() && !class_char(&mut chars) {
                        return false;
                    }
                    items += 1;
                }
            }
            _ => {}
        }
    }
    true
}

/// One (possibly escaped) class character, which must not be the last thing
/// in the pattern: the class still needs its `]`.
fn class_char(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> bool {
    match chars.next() {
        None | Some('-' | ']') => false,
        Some('\\') => chars.next().is_some() && chars.peek().is_some(),
        Some(_) => chars.peek().is_some(),
    }
}

/// Characters that Docker escapes when it copies them into its regular
/// expression; every other character is copied as is. moby means to escape
/// `|`, `{` and `}` too, but its lookup table cannot represent characters
/// above 63, so those three reach the expression as alternation and
/// counted repetition.
fn escaped_in_regex(c: char) -> bool {
    matches!(c, '.' | '+' | '(' | ')' | '$')
}

/// How Docker classifies a pattern, with the RE2 source it builds for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) kind: Kind,
    /// The anchored RE2 expression; only meaningful for [`Kind::Regex`].
    pub(crate) source: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Exact,
    Prefix,
    Suffix,
    Regex,
}

/// Classifies a cleaned, validated pattern (without its `!`) the way Docker
/// does. Literal patterns, `dir/**` and `**/name` patterns avoid regular
/// expressions; everything else gets one. Note that only a `**` at the very
/// start makes a suffix pattern, and that any later wildcard turns it back
/// into a regular expression.
pub(crate) fn plan(pattern: &str) -> Plan {
    let mut kind = Kind::Exact;
    let mut re = String::from("^");
    // Docker reads the pattern with a text scanner, which drops a byte order
    // mark in first position; the literal comparisons still see it.
    let mut chars = pattern
        .strip_prefix('\u{feff}')
        .unwrap_or(pattern)
        .chars()
        .peekable();
    let mut first = true;
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.next_if_eq(&'*').is_some() => {
                // `**/` is treated as `**`.
                chars.next_if_eq(&'/');
                if chars.peek().is_none() {
                    if kind == Kind::Exact {
                        kind = Kind::Prefix;
                    } else {
                        re.push_str(".*");
                        kind = Kind::Regex;
                    }
                } else {
                    re.push_str("(.*/)?");
                    kind = Kind::Regex;
                }
                if first {
                    kind = Kind::Suffix;
                }
            }
            '*' => {
                re.push_str("[^/]*");
                kind = Kind::Regex;
            }
            '?' => {
                re.push_str("[^/]");
                kind = Kind::Regex;
            }
            '\\' => match chars.next() {
                Some(next) => {
                    re.push('\\');
                    re.push(next);
                    kind = Kind::Regex;
                }
                // Unreachable after validation, which rejects a trailing `\`.
                None => re.push('\\'),
            },
            '[' | ']' => {
                re.push(c);
                kind = Kind::Regex;
            }
            c if escaped_in_regex(c) => {
                re.push('\\');
                re.push(c);
            }
            c => re.push(c),
        }
        first = false;
    }
    re.push('$');
    Plan { kind, source: re }
}

/// Upper bound on the compiled size of one pattern's expression.
const REGEX_SIZE_LIMIT: usize = 256 << 20;

/// Builds the matcher for a cleaned, validated pattern (without its `!`).
/// Fails when Docker's regular expression for it does not compile, which
/// Docker reports as `syntax error in pattern` when the pattern is used.
pub(crate) fn compile(pattern: &str) -> Result<Compiled, goregex::Error> {
    let plan = plan(pattern);
    let bytes = pattern.as_bytes();
    Ok(match plan.kind {
        Kind::Exact => Compiled::Exact,
        // Both trim the original pattern, byte order mark included, so they
        // work on bytes: the cut may fall inside a character.
        Kind::Prefix => Compiled::Prefix(bytes[..bytes.len() - 2].into()),
        Kind::Suffix => Compiled::Suffix(bytes[2..].into()),
        Kind::Regex => {
            let translated = goregex::translate(&plan.source)?;
            // The `regex` crate expands classes into byte-level automata, so
            // an expression Go accepts, like `\pL{1000}`, needs more room
            // than its default allows.
            let re = regex::RegexBuilder::new(&translated)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|_| goregex::Error)?;
            Compiled::Regex(re)
        }
    })
}
