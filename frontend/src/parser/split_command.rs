//! Splitting a logical line into instruction, flags and the rest.
//!
//! `RUN --mount=type=cache,target=/x --network=none make` gives the keyword
//! `RUN`, the flags `--mount=type=cache,target=/x` and `--network=none`,
//! and the arguments `make`. Flags are the leading words that start with
//! `--`; a lone `--` ends them. Quotes and the escape character are
//! removed from flags the way the reference does it: byte by byte, so a
//! non-ASCII character in a flag comes out re-encoded as Latin-1
//! characters (BuildKit's behaviour, kept for identical dumps).

use std::borrow::Cow;

use crate::golang::{is_latin1_space, is_separator_space};

/// The parts of one instruction line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitLine<'a> {
    /// First word, as written.
    pub keyword: &'a str,
    /// Leading `--flag` words, quotes and escapes removed.
    pub flags: Vec<String>,
    /// The remaining text, trimmed.
    pub rest: Cow<'a, str>,
}

/// Splits `line` into keyword, flags and arguments.
pub fn split_command(line: &str, escape: char) -> SplitLine<'_> {
    let line = line.trim();
    let Some(sep) = line.find(is_separator_space) else {
        return SplitLine {
            keyword: line,
            flags: Vec::new(),
            rest: Cow::Borrowed(""),
        };
    };
    let keyword = &line[..sep];
    let after = line[sep..].trim_start_matches(is_separator_space);
    let (rest, flags) = extract_flags(after, escape);
    let rest = match rest {
        Cow::Borrowed(s) => Cow::Borrowed(s.trim()),
        Cow::Owned(s) => Cow::Owned(s.trim().to_string()),
    };
    SplitLine {
        keyword,
        flags,
        rest,
    }
}

/// Takes the leading `--flag` words off `text`; returns the rest and the
/// flags.
fn extract_flags(text: &str, escape: char) -> (Cow<'_, str>, Vec<String>) {
    #[derive(PartialEq)]
    enum State {
        Spaces,
        Word,
        Quote(u8),
    }
    let bytes = text.as_bytes();
    // The escape character is ASCII (`\` or `` ` ``); compare bytes.
    let esc = u8::try_from(escape).unwrap_or(b'\\');
    let rest_from = |pos: usize| match text.get(pos..) {
        Some(s) => Cow::Borrowed(s),
        // The reference can cut inside a UTF-8 sequence (after a 0x85 or
        // 0xA0 continuation byte it took for a space).
        None => Cow::Owned(String::from_utf8_lossy(&bytes[pos..]).into_owned()),
    };

    let mut flags = Vec::new();
    let mut word = String::new();
    // A quoted empty word (`--""`) still counts as a word.
    let mut blank_ok = false;
    let mut state = State::Spaces;
    let mut pos = 0;
    while pos < bytes.len() {
        let b = bytes[pos];
        match state {
            State::Spaces => {
                if is_latin1_space(b) {
                    pos += 1;
                    continue;
                }
                if b != b'-' || bytes.get(pos + 1) != Some(&b'-') {
                    return (rest_from(pos), flags);
                }
                state = State::Word;
                continue;
            }
            State::Word => {
                if is_latin1_space(b) {
                    if word == "--" {
                        return (rest_from(pos), flags);
                    }
                    if blank_ok || !word.is_empty() {
                        flags.push(std::mem::take(&mut word));
                    }
                    word.clear();
                    blank_ok = false;
                    state = State::Spaces;
                } else if b == b'\'' || b == b'"' {
                    state = State::Quote(b);
                    blank_ok = true;
                } else if b == esc {
                    if pos + 1 < bytes.len() {
                        pos += 1;
                        word.push(char::from(bytes[pos]));
                    }
                } else {
                    word.push(char::from(b));
                }
            }
            State::Quote(q) => {
                if b == q {
                    state = State::Word;
                } else if b == esc {
                    if pos + 1 < bytes.len() {
                        pos += 1;
                        word.push(char::from(bytes[pos]));
                    } else {
                        state = State::Word;
                    }
                } else {
                    word.push(char::from(b));
                }
            }
        }
        pos += 1;
    }
    if state != State::Spaces && word != "--" && (blank_ok || !word.is_empty()) {
        flags.push(word);
    }
    (Cow::Borrowed(""), flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> (String, Vec<String>, String) {
        let s = split_command(line, '\\');
        (s.keyword.to_string(), s.flags, s.rest.into_owned())
    }

    fn owned(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn keyword_and_rest() {
        assert_eq!(
            split("RUN echo hi"),
            ("RUN".into(), vec![], "echo hi".into())
        );
        assert_eq!(
            split("  RUN\t  echo hi  "),
            ("RUN".into(), vec![], "echo hi".into())
        );
        assert_eq!(split("FROM"), ("FROM".into(), vec![], "".into()));
        assert_eq!(split(""), ("".into(), vec![], "".into()));
        // Only ASCII white space separates the keyword.
        assert_eq!(
            split("RUN\u{a0}x"),
            ("RUN\u{a0}x".into(), vec![], "".into())
        );
    }

    #[test]
    fn flags() {
        assert_eq!(
            split("COPY --from=build --chown=1:1 a b"),
            (
                "COPY".into(),
                owned(&["--from=build", "--chown=1:1"]),
                "a b".into()
            )
        );
        assert_eq!(split("RUN --x"), ("RUN".into(), owned(&["--x"]), "".into()));
        assert_eq!(split("RUN -- --x"), ("RUN".into(), vec![], "--x".into()));
        assert_eq!(split("RUN --"), ("RUN".into(), vec![], "".into()));
        assert_eq!(split("RUN -x --y"), ("RUN".into(), vec![], "-x --y".into()));
        assert_eq!(
            split("RUN --a -"),
            ("RUN".into(), owned(&["--a"]), "-".into())
        );
        assert_eq!(
            split(r#"RUN --a="b c" --d='e\'f' x"#),
            ("RUN".into(), owned(&["--a=b c", "--d=e'f"]), "x".into())
        );
        assert_eq!(
            split(r#"RUN --a=b\ c x"#),
            ("RUN".into(), owned(&["--a=b c"]), "x".into())
        );
        assert_eq!(
            split(r#"RUN --a=""  x"#),
            ("RUN".into(), owned(&["--a="]), "x".into())
        );
        assert_eq!(
            split(r#"RUN --a\"#),
            ("RUN".into(), owned(&["--a"]), "".into())
        );
        assert_eq!(
            split(r#"RUN --a="b\"#),
            ("RUN".into(), owned(&["--a=b"]), "".into())
        );
        // Unterminated quote runs to the end of the line.
        assert_eq!(
            split(r#"RUN --a="b c"#),
            ("RUN".into(), owned(&["--a=b c"]), "".into())
        );
    }

    #[test]
    fn flags_are_decoded_byte_by_byte() {
        // é is C3 A9: two Latin-1 characters.
        assert_eq!(split("RUN --l=é x").1, owned(&["--l=\u{c3}\u{a9}"]));
        // à is C3 A0 and 0xA0 counts as a space.
        let (_, flags, rest) = split("RUN --là x");
        assert_eq!(flags, owned(&["--l\u{c3}"]));
        assert_eq!(rest, "x");
    }

    #[test]
    fn backtick_escape() {
        let s = split_command("RUN --a=b` c x", '`');
        assert_eq!(s.flags, owned(&["--a=b c"]));
        assert_eq!(s.rest, "x");
    }
}
