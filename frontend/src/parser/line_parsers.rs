//! Per-instruction argument parsers: one logical line -> one [`Node`].
//!
//! Each instruction has its own rule for splitting its arguments (the
//! reference's dispatch table):
//!
//! | instruction                    | rule                                   |
//! |--------------------------------|----------------------------------------|
//! | RUN CMD ENTRYPOINT SHELL       | JSON array, else the whole text        |
//! | ADD COPY VOLUME                | JSON array, else white-space separated |
//! | FROM EXPOSE                    | white-space separated                  |
//! | ENV LABEL                      | `k=v ...` or legacy `k v`, as triples  |
//! | ARG                            | quoted-aware words                     |
//! | HEALTHCHECK                    | type word, then like CMD               |
//! | ONBUILD                        | a nested instruction                   |
//! | MAINTAINER STOPSIGNAL USER WORKDIR | the whole text                     |
//! | anything else                  | accepted with one empty argument       |
//!
//! Nothing is expanded or unquoted here beyond what the reference does at
//! parse time; later stages interpret the words.

use super::json::{self, JsonError, NOT_STRING_ARRAY};
use super::node::Node;
use super::split_command::split_command;
use crate::golang::{go_quote, go_to_lower, is_latin1_space, is_separator_space};
use crate::{Error, Result};

/// ONBUILD may nest instructions (`ONBUILD ONBUILD RUN x`); the reference
/// accepts any depth and rejects nesting in the next stage. Past this depth
/// kiln rejects it here, so absurd input cannot exhaust the stack.
const MAX_NESTING: usize = 64;

/// What an argument parser produced.
#[derive(Debug, Default)]
struct Parsed {
    args: Vec<String>,
    nested: Option<Box<Node>>,
    json: bool,
}

impl Parsed {
    fn args(args: Vec<String>) -> Self {
        Parsed {
            args,
            ..Parsed::default()
        }
    }

    fn json(args: Vec<String>) -> Self {
        Parsed {
            args,
            json: true,
            ..Parsed::default()
        }
    }
}

/// Builds the node for one logical line (no line numbers yet).
pub(super) fn node_from_line(
    line: String,
    escape: char,
    prev_comments: Vec<String>,
) -> Result<Node> {
    node_at_depth(line, escape, prev_comments, 0)
}

fn node_at_depth(
    line: String,
    escape: char,
    prev_comments: Vec<String>,
    depth: usize,
) -> Result<Node> {
    let split = split_command(&line, escape);
    let rest: &str = &split.rest;
    let mut lower_buf = [0u8; 16];
    let lowered;
    let name = match ascii_lower(split.keyword, &mut lower_buf) {
        Some(name) => name,
        None => {
            lowered = go_to_lower(split.keyword);
            lowered.as_str()
        }
    };
    let parsed = match name {
        "add" | "copy" | "volume" => maybe_json_to_list(rest)?,
        "arg" => Parsed::args(parse_words(rest, escape)),
        "cmd" | "entrypoint" | "run" | "shell" => maybe_json(rest)?,
        "env" => Parsed::args(name_val(rest, "ENV", escape)?),
        "label" => Parsed::args(name_val(rest, "LABEL", escape)?),
        "expose" | "from" => Parsed::args(whitespace_delimited(rest)),
        "healthcheck" => health_config(rest)?,
        "maintainer" | "stopsignal" | "user" | "workdir" => Parsed::args(string(rest)),
        "onbuild" => sub_command(rest, escape, depth)?,
        // Unknown instructions are kept (with one empty argument, as the
        // reference's dump shows them); the instruction stage rejects them.
        _ => Parsed::args(vec![String::new()]),
    };
    let keyword = split.keyword.to_string();
    let flags = split.flags;
    Ok(Node {
        keyword,
        original: line,
        flags,
        args: parsed.args,
        nested: parsed.nested,
        json: parsed.json,
        heredocs: Vec::new(),
        start_line: 0,
        end_line: 0,
        prev_comments,
    })
}

/// Lower-cases a short ASCII keyword into `buf` without allocating; `None`
/// for non-ASCII keywords (which need Go's full mapping) and for keywords
/// longer than any instruction name.
fn ascii_lower<'b>(keyword: &str, buf: &'b mut [u8; 16]) -> Option<&'b str> {
    if !keyword.is_ascii() {
        return None;
    }
    let Some(out) = buf.get_mut(..keyword.len()) else {
        // Too long to be an instruction: a name that matches none.
        return Some("");
    };
    for (o, b) in out.iter_mut().zip(keyword.bytes()) {
        *o = b.to_ascii_lowercase();
    }
    std::str::from_utf8(out).ok()
}

/// ONBUILD: the rest of the line is an instruction of its own.
fn sub_command(rest: &str, escape: char, depth: usize) -> Result<Parsed> {
    if rest.is_empty() {
        return Ok(Parsed::default());
    }
    if depth >= MAX_NESTING {
        return Err(Error::new("ONBUILD instructions nested too deeply"));
    }
    let child = node_at_depth(rest.to_string(), escape, Vec::new(), depth + 1)?;
    Ok(Parsed {
        nested: Some(Box::new(child)),
        ..Parsed::default()
    })
}

/// The whole text as one argument (none when empty).
fn string(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        Vec::new()
    } else {
        vec![rest.to_string()]
    }
}

/// Splits on runs of ASCII white space (`[\t\v\f\r ]+`).
fn whitespace_delimited(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return Vec::new();
    }
    split_runs(rest)
}

/// Go's `regexp.Split(rest, -1)` with `[\t\v\f\r ]+`: pieces between runs
/// of separator white space (empty pieces only at the ends).
fn split_runs(rest: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut piece_start = 0;
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if is_separator_space(c) {
            parts.push(rest[piece_start..i].to_string());
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if !is_separator_space(d) {
                    break;
                }
                end = j + d.len_utf8();
                chars.next();
            }
            piece_start = end;
        }
    }
    parts.push(rest[piece_start..].to_string());
    parts
}

/// Splits `rest` in two at the first run of ASCII white space.
fn split_once_runs(rest: &str) -> Option<(&str, &str)> {
    let sep = rest.find(is_separator_space)?;
    Some((
        &rest[..sep],
        rest[sep..].trim_start_matches(is_separator_space),
    ))
}

/// Words separated by white space, quotes and escapes kept as written but
/// respected (a quoted or escaped space does not split).
pub(super) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum State {
        Spaces,
        Word,
        Quote(char),
    }
    let mut words = Vec::new();
    let mut word = String::new();
    let mut blank_ok = false;
    let mut state = State::Spaces;
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if state == State::Spaces {
            if c.is_whitespace() {
                continue;
            }
            state = State::Word;
        }
        match state {
            State::Spaces => unreachable!("handled above"),
            State::Word => {
                if c.is_whitespace() {
                    if blank_ok || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    blank_ok = false;
                    state = State::Spaces;
                    continue;
                }
                if c == '\'' || c == '"' {
                    state = State::Quote(c);
                    blank_ok = true;
                }
                if c == escape {
                    // An escape at the very end is dropped; otherwise it is
                    // kept together with the character it escapes.
                    let Some(next) = chars.next() else { continue };
                    word.push(c);
                    word.push(next);
                    continue;
                }
                word.push(c);
            }
            State::Quote(q) => {
                if c == q {
                    state = State::Word;
                }
                if c == escape && q != '\'' {
                    let Some(next) = chars.next() else {
                        state = State::Word;
                        continue;
                    };
                    word.push(c);
                    word.push(next);
                    continue;
                }
                word.push(c);
            }
        }
    }
    if state != State::Spaces && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// ENV and LABEL: `k=v k2=v2 ...` or the legacy `k v` form. Each pair
/// becomes three arguments: key, value and `=` (or `""` for the legacy
/// form).
fn name_val(rest: &str, instruction: &str, escape: char) -> Result<Vec<String>> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let Some((key, value)) = split_once_runs(rest) else {
            return Err(Error::new(format!("{instruction} must have two arguments")));
        };
        return Ok(vec![key.to_string(), value.to_string(), String::new()]);
    }
    let mut args = Vec::with_capacity(words.len() * 3);
    for word in &words {
        let Some((key, value)) = word.split_once('=') else {
            return Err(Error::new(format!(
                "Syntax error - can't find = in {}. Must be of the form: name=value",
                go_quote(word)
            )));
        };
        args.extend([key.to_string(), value.to_string(), "=".to_string()]);
    }
    Ok(args)
}

/// RUN, CMD, ENTRYPOINT, SHELL: exec form, or the whole text.
fn maybe_json(rest: &str) -> Result<Parsed> {
    if rest.is_empty() {
        return Ok(Parsed::default());
    }
    match json::parse_string_array(rest) {
        Ok(args) => Ok(Parsed::json(args)),
        Err(JsonError::NotStringArray) => Err(Error::new(NOT_STRING_ARRAY)),
        Err(_) => Ok(Parsed::args(vec![rest.to_string()])),
    }
}

/// ADD, COPY, VOLUME: exec form, or white-space separated words.
fn maybe_json_to_list(rest: &str) -> Result<Parsed> {
    match json::parse_string_array(rest) {
        Ok(args) => Ok(Parsed::json(args)),
        Err(JsonError::NotStringArray) => Err(Error::new(NOT_STRING_ARRAY)),
        Err(_) => Ok(Parsed::args(whitespace_delimited(rest))),
    }
}

/// HEALTHCHECK: a type word (`CMD`, `NONE`), then arguments like CMD's.
/// The type ends at the first white-space byte (0x85 and 0xA0 included, as
/// the reference walks bytes here).
fn health_config(rest: &str) -> Result<Parsed> {
    let bytes = rest.as_bytes();
    let sep = bytes
        .iter()
        .position(|&b| is_latin1_space(b))
        .unwrap_or(bytes.len());
    if sep == 0 {
        return Ok(Parsed::default());
    }
    let next = bytes[sep..]
        .iter()
        .position(|&b| !is_latin1_space(b))
        .map_or(bytes.len(), |n| sep + n);
    let lossy = |from: usize, to: usize| String::from_utf8_lossy(&bytes[from..to]).into_owned();
    let kind = rest
        .get(..sep)
        .map_or_else(|| lossy(0, sep), str::to_string);
    let cmd = rest
        .get(next..)
        .map_or_else(|| lossy(next, bytes.len()), str::to_string);
    let mut parsed = maybe_json(&cmd)?;
    parsed.args.insert(0, kind);
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn node(line: &str) -> Node {
        node_from_line(line.to_string(), '\\', Vec::new()).unwrap()
    }

    fn err(line: &str) -> String {
        node_from_line(line.to_string(), '\\', Vec::new())
            .unwrap_err()
            .message
    }

    #[test]
    fn words() {
        let cases: &[(&str, &[&str])] = &[
            ("foo", &["foo"]),
            ("foo bar", &["foo", "bar"]),
            ("foo\\ bar", &["foo\\ bar"]),
            ("foo=bar", &["foo=bar"]),
            ("foo bar 'abc xyz'", &["foo", "bar", "'abc xyz'"]),
            (r#"foo bar "abc xyz""#, &["foo", "bar", r#""abc xyz""#]),
            ("àöû", &["àöû"]),
            (r#"föo bàr "âbc xÿz""#, &["föo", "bàr", r#""âbc xÿz""#]),
            ("", &[]),
            ("   ", &[]),
            ("a\u{a0}b", &["a", "b"]),
            (r#"a="b \" c" d"#, &[r#"a="b \" c""#, "d"]),
            (r#"a='b \' c"#, &[r#"a='b \'"#, "c"]),
            ("a\\", &["a"]),
            (r#"a="b\"#, &[r#"a="b"#]),
            ("''", &["''"]),
            (r#"x\"y z"#, &[r#"x\"y"#, "z"]),
        ];
        for (input, want) in cases {
            assert_eq!(parse_words(input, '\\'), owned(want), "{input}");
        }
        assert_eq!(parse_words("a` b c", '`'), owned(&["a` b", "c"]));
    }

    #[test]
    fn name_val_forms() {
        assert_eq!(
            name_val("foo bar", "LABEL", '\\').unwrap(),
            owned(&["foo", "bar", ""])
        );
        assert_eq!(
            name_val("foo=bar thing=star", "LABEL", '\\').unwrap(),
            owned(&["foo", "bar", "=", "thing", "star", "="])
        );
        assert_eq!(
            name_val("foo  bar baz \"q\"", "ENV", '\\').unwrap(),
            owned(&["foo", "bar baz \"q\"", ""])
        );
        assert_eq!(
            name_val(r#""a=b" c="d e""#, "ENV", '\\').unwrap(),
            owned(&["\"a", "b\"", "=", "c", "\"d e\"", "="])
        );
        assert_eq!(name_val("=x", "ENV", '\\').unwrap(), owned(&["", "x", "="]));
        assert!(name_val("", "ENV", '\\').unwrap().is_empty());
        assert_eq!(
            name_val("foo", "ENV", '\\').unwrap_err().message,
            "ENV must have two arguments"
        );
        assert_eq!(
            name_val("foo\u{a0}bar", "LABEL", '\\').unwrap_err().message,
            "LABEL must have two arguments"
        );
        assert_eq!(
            name_val("a=b c", "ENV", '\\').unwrap_err().message,
            r#"Syntax error - can't find = in "c". Must be of the form: name=value"#
        );
    }

    #[test]
    fn dispatch() {
        let n = node("RUN echo hi");
        assert_eq!((n.args.clone(), n.json), (owned(&["echo hi"]), false));
        let n = node(r#"run ["echo", "hi"]"#);
        assert_eq!((n.args.clone(), n.json), (owned(&["echo", "hi"]), true));
        let n = node(r#"CMD ["echo", "hi""#);
        assert_eq!(
            (n.args.clone(), n.json),
            (owned(&[r#"["echo", "hi""#]), false)
        );
        assert!(node("CMD []").json);
        assert!(node("CMD").args.is_empty());
        assert_eq!(node("COPY a  b\tc").args, owned(&["a", "b", "c"]));
        assert_eq!(node(r#"COPY ["a b", "c"]"#).args, owned(&["a b", "c"]));
        assert!(node("COPY").args.is_empty());
        assert_eq!(node("FROM a AS b").args, owned(&["a", "AS", "b"]));
        assert_eq!(node(r#"FROM ["a"]"#).args, owned(&[r#"["a"]"#]));
        assert_eq!(node("EXPOSE 80 443/udp").args, owned(&["80", "443/udp"]));
        assert_eq!(node("ARG a b=\"c d\"").args, owned(&["a", "b=\"c d\""]));
        assert_eq!(node("USER  app  x ").args, owned(&["app  x"]));
        assert_eq!(node("WORKDIR /a b").args, owned(&["/a b"]));
        assert_eq!(node("STOPSIGNAL 9").args, owned(&["9"]));
        assert_eq!(node("MAINTAINER Me <me@x>").args, owned(&["Me <me@x>"]));
        assert_eq!(node("FOO bar baz").args, owned(&[""]));
        assert_eq!(node("WOR\u{212a}DIR /x").args, owned(&["/x"]));
        assert_eq!(node("ENV").args, Vec::<String>::new());
        let n = node("RUN --mount=x echo");
        assert_eq!(
            (n.flags.clone(), n.args.clone()),
            (owned(&["--mount=x"]), owned(&["echo"]))
        );
        assert_eq!(n.original, "RUN --mount=x echo");
    }

    #[test]
    fn healthcheck() {
        let n = node("HEALTHCHECK NONE");
        assert_eq!(n.args, owned(&["NONE"]));
        let n = node("HEALTHCHECK --interval=5s CMD curl -f http://x/ || exit 1");
        assert_eq!(n.flags, owned(&["--interval=5s"]));
        assert_eq!(n.args, owned(&["CMD", "curl -f http://x/ || exit 1"]));
        let n = node(r#"HEALTHCHECK CMD ["curl", "x"]"#);
        assert_eq!(
            (n.args.clone(), n.json),
            (owned(&["CMD", "curl", "x"]), true)
        );
        assert!(node("HEALTHCHECK").args.is_empty());
        assert_eq!(err(r#"HEALTHCHECK CMD ["a", 1]"#), NOT_STRING_ARRAY);
    }

    #[test]
    fn onbuild() {
        let n = node("ONBUILD RUN --mount=a echo hi");
        assert!(n.args.is_empty());
        let child = n.nested.unwrap();
        assert_eq!(child.keyword, "RUN");
        assert_eq!(child.flags, owned(&["--mount=a"]));
        assert_eq!(child.args, owned(&["echo hi"]));
        assert_eq!(child.original, "RUN --mount=a echo hi");
        assert!(node("ONBUILD").nested.is_none());
        let n = node("ONBUILD ONBUILD ADD a b");
        assert_eq!(n.nested.unwrap().nested.unwrap().args, owned(&["a", "b"]));
        assert_eq!(err("ONBUILD CMD [1]"), NOT_STRING_ARRAY);
        let deep = "ONBUILD ".repeat(100_000) + "RUN x";
        assert_eq!(err(&deep), "ONBUILD instructions nested too deeply");
    }

    #[test]
    fn json_errors() {
        assert_eq!(
            err(r#"CMD [ "echo", [ "nested json" ] ]"#),
            NOT_STRING_ARRAY
        );
        assert_eq!(err(r#"COPY ["a", null]"#), NOT_STRING_ARRAY);
    }

    #[test]
    fn split_runs_like_go_regexp() {
        assert_eq!(split_runs("a b"), owned(&["a", "b"]));
        assert_eq!(split_runs("a \t\x0b\x0c\rb"), owned(&["a", "b"]));
        assert_eq!(split_runs(" a "), owned(&["", "a", ""]));
        assert_eq!(split_runs("a\u{a0}b"), owned(&["a\u{a0}b"]));
    }
}
