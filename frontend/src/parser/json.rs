//! The exec (JSON) form of instruction arguments: `["a", "b"]`.
//!
//! The reference decides between exec and shell form by handing the text
//! to Go's `encoding/json`: if it is a valid JSON document that is an
//! array of strings, it is the exec form; a valid array holding anything
//! else is an error; any text that is not valid JSON falls back to the
//! shell form. So the rules here are Go's, not serde's: the whole text
//! must be one JSON value with only JSON white space around it, nesting is
//! limited to 10000 levels, and in strings `\uXXXX` escapes that do not
//! form a valid UTF-16 surrogate pair decode to U+FFFD instead of failing.

/// Why a text is not an exec-form argument list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonError {
    /// Does not start with `[` (after leading white space).
    NotArray,
    /// Not valid JSON: the caller falls back to the shell form.
    Syntax,
    /// A valid JSON array with an element that is not a string.
    NotStringArray,
}

/// The reference's message for [`JsonError::NotStringArray`].
pub const NOT_STRING_ARRAY: &str =
    "when using JSON array syntax, arrays must be comprised of strings only";

/// Go's `encoding/json` nesting limit.
const MAX_DEPTH: usize = 10_000;

/// Parses `text` as a JSON array of strings with Go's rules.
pub fn parse_string_array(text: &str) -> Result<Vec<String>, JsonError> {
    let text = text.trim_start();
    if !text.starts_with('[') {
        return Err(JsonError::NotArray);
    }
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let result = p.top_level_array();
    p.skip_ws();
    if p.i != p.s.len() {
        return Err(JsonError::Syntax);
    }
    // A syntax error anywhere wins over a non-string element, as Go
    // validates the whole document before decoding it.
    result
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// The outer `[...]`: strings are decoded, other values validated.
    /// Returns `Err(Syntax)` on invalid JSON even when a non-string element
    /// was seen before the syntax error.
    fn top_level_array(&mut self) -> Result<Vec<String>, JsonError> {
        self.i += 1; // '['
        let mut items = Vec::new();
        let mut non_string = false;
        self.skip_ws();
        if self.eat(b']') {
            return Ok(items);
        }
        loop {
            self.skip_ws();
            if self.peek() == Some(b'"') {
                items.push(self.string()?);
            } else {
                self.value(1)?;
                non_string = true;
            }
            self.skip_ws();
            if self.eat(b',') {
                continue;
            }
            if self.eat(b']') {
                break;
            }
            return Err(JsonError::Syntax);
        }
        // Anything after the array is checked by the caller first.
        self.skip_ws();
        if self.i != self.s.len() {
            return Err(JsonError::Syntax);
        }
        if non_string {
            return Err(JsonError::NotStringArray);
        }
        Ok(items)
    }

    /// Validates one value that is not decoded (nested arrays and objects
    /// are walked without recursion). `depth` counts the open containers.
    fn value(&mut self, depth: usize) -> Result<(), JsonError> {
        // Each entry: true for an object, false for an array.
        let mut stack: Vec<bool> = Vec::new();
        loop {
            // Parse the start of one value.
            self.skip_ws();
            match self.peek() {
                Some(b'"') => {
                    self.skip_string()?;
                }
                Some(b'[') | Some(b'{') => {
                    let is_object = self.peek() == Some(b'{');
                    self.i += 1;
                    if depth + stack.len() + 1 > MAX_DEPTH {
                        return Err(JsonError::Syntax);
                    }
                    stack.push(is_object);
                    self.skip_ws();
                    let close = if is_object { b'}' } else { b']' };
                    if self.eat(close) {
                        stack.pop();
                    } else {
                        if is_object {
                            self.object_key()?;
                        }
                        continue;
                    }
                }
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                Some(b'-' | b'0'..=b'9') => self.number()?,
                _ => return Err(JsonError::Syntax),
            }
            // After a complete value: close containers or move to the next
            // element.
            loop {
                let Some(&is_object) = stack.last() else {
                    return Ok(());
                };
                self.skip_ws();
                if self.eat(b',') {
                    if is_object {
                        self.skip_ws();
                        self.object_key()?;
                    }
                    break;
                }
                let close = if is_object { b'}' } else { b']' };
                if self.eat(close) {
                    stack.pop();
                    continue;
                }
                return Err(JsonError::Syntax);
            }
        }
    }

    /// `"key" :` inside an object.
    fn object_key(&mut self) -> Result<(), JsonError> {
        if self.peek() != Some(b'"') {
            return Err(JsonError::Syntax);
        }
        self.skip_string()?;
        self.skip_ws();
        if !self.eat(b':') {
            return Err(JsonError::Syntax);
        }
        Ok(())
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), JsonError> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(JsonError::Syntax)
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Result<(), JsonError> {
        self.eat(b'-');
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(JsonError::Syntax),
        }
        if self.eat(b'.') && self.digits() == 0 {
            return Err(JsonError::Syntax);
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(JsonError::Syntax);
            }
        }
        Ok(())
    }

    fn skip_string(&mut self) -> Result<(), JsonError> {
        self.string_impl(None)
    }

    fn string(&mut self) -> Result<String, JsonError> {
        let mut out = String::new();
        self.string_impl(Some(&mut out))?;
        Ok(out)
    }

    /// Scans a string starting at its opening quote, decoding it into
    /// `out` when given.
    fn string_impl(&mut self, mut out: Option<&mut String>) -> Result<(), JsonError> {
        self.i += 1; // '"'
        let mut run_start = self.i;
        loop {
            let Some(b) = self.peek() else {
                return Err(JsonError::Syntax);
            };
            match b {
                b'"' => {
                    if let Some(out) = out.as_deref_mut() {
                        out.push_str(self.text(run_start, self.i));
                    }
                    self.i += 1;
                    return Ok(());
                }
                b'\\' => {
                    if let Some(out) = out.as_deref_mut() {
                        out.push_str(self.text(run_start, self.i));
                    }
                    self.i += 1;
                    let c = self.escape()?;
                    if let Some(out) = out.as_deref_mut() {
                        out.push(c);
                    }
                    run_start = self.i;
                }
                0..=0x1f => return Err(JsonError::Syntax),
                _ => self.i += 1,
            }
        }
    }

    fn text(&self, from: usize, to: usize) -> &str {
        // Runs are delimited by ASCII bytes, so they are whole characters.
        std::str::from_utf8(&self.s[from..to]).unwrap_or_default()
    }

    /// The character of an escape sequence; `self.i` is just after `\`.
    fn escape(&mut self) -> Result<char, JsonError> {
        let b = self.peek().ok_or(JsonError::Syntax)?;
        self.i += 1;
        Ok(match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let first = self.hex4().ok_or(JsonError::Syntax)?;
                if (0xd800..0xe000).contains(&first) {
                    // A surrogate: valid only as a high one followed by an
                    // escaped low one; otherwise U+FFFD and the next escape
                    // is read on its own.
                    if (0xd800..0xdc00).contains(&first) && self.s[self.i..].starts_with(b"\\u") {
                        let save = self.i;
                        self.i += 2;
                        match self.hex4() {
                            Some(second @ 0xdc00..=0xdfff) => {
                                let c = 0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00);
                                return Ok(char::from_u32(c).unwrap_or('\u{fffd}'));
                            }
                            _ => self.i = save,
                        }
                    }
                    '\u{fffd}'
                } else {
                    char::from_u32(first).unwrap_or('\u{fffd}')
                }
            }
            _ => return Err(JsonError::Syntax),
        })
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.s.get(self.i..self.i + 4)?;
        let mut v = 0;
        for &d in digits {
            v = v * 16 + (d as char).to_digit(16)?;
        }
        self.i += 4;
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Vec<String> {
        parse_string_array(text).unwrap_or_else(|e| panic!("{text:?}: {e:?}"))
    }

    #[test]
    fn valid_arrays_of_strings() {
        let cases: &[(&str, &[&str])] = &[
            ("[]", &[]),
            (r#"[""]"#, &[""]),
            (r#"["a"]"#, &["a"]),
            (r#"["a","b"]"#, &["a", "b"]),
            (r#"[ "a", "b" ]"#, &["a", "b"]),
            ("[\t\"a\",\t\"b\"\t]", &["a", "b"]),
            ("\t[\t\"a\",\t\"b\"\t]\t", &["a", "b"]),
            (" \r\n[\"a\"]\r\n ", &["a"]),
            (
                r#"["abc 123", "♥", "☃", "\" \\ \/ \b \f \n \r \t \u0000"]"#,
                &["abc 123", "♥", "☃", "\" \\ / \u{8} \u{c} \n \r \t \0"],
            ),
            (r#"["\u00e9\u00E9"]"#, &["éé"]),
            (r#"["\ud83d\ude00"]"#, &["\u{1f600}"]),
            // Broken surrogates become U+FFFD, as in Go.
            (r#"["\ud83d"]"#, &["\u{fffd}"]),
            (r#"["\ude00x"]"#, &["\u{fffd}x"]),
            (r#"["\ud83d\u0041"]"#, &["\u{fffd}A"]),
            (r#"["\ud83d\ud83d\ude00"]"#, &["\u{fffd}\u{1f600}"]),
            ("[\"\u{7f}\u{85}\"]", &["\u{7f}\u{85}"]),
        ];
        for (text, want) in cases {
            assert_eq!(ok(text), *want, "{text}");
        }
    }

    #[test]
    fn valid_json_with_other_values_is_an_error() {
        for text in [
            r#"["a",42,"b"]"#,
            r#"["a",123.456,"b"]"#,
            r#"["a",{},"b"]"#,
            r#"["a",{"c": "d"},"b"]"#,
            r#"["a",["c"],"b"]"#,
            r#"["a",true,"b"]"#,
            r#"["a",false,"b"]"#,
            r#"["a",null,"b"]"#,
            r#"[ "echo", [ "nested json" ] ]"#,
            r#"[-0.5e+10, 1E3, 0]"#,
            r#"[{"a": [1, {"b": null}], "c": {}}]"#,
        ] {
            assert_eq!(
                parse_string_array(text),
                Err(JsonError::NotStringArray),
                "{text}"
            );
        }
    }

    #[test]
    fn invalid_json_is_a_syntax_error() {
        for text in [
            "[",
            r#"["a""#,
            r#"["a"#,
            r#"['a']"#,
            r#"["a",]"#,
            r#"[,"a"]"#,
            r#"["a" "b"]"#,
            r#"["a"] x"#,
            r#"["a"]]"#,
            "[\"a\"]\u{b}",
            r#"["\x"]"#,
            r#"["\u12"]"#,
            r#"["\u12G4"]"#,
            "[\"a\tb\"]",
            "[\"a\nb\"]",
            r#"[01]"#,
            r#"[1.]"#,
            r#"[.5]"#,
            r#"[1e]"#,
            r#"[+1]"#,
            r#"[-]"#,
            r#"[tru]"#,
            r#"[True]"#,
            r#"[1, "a"x]"#,
            r#"[{"a"}]"#,
            r#"[{"a":}]"#,
            r#"[{a:1}]"#,
            r#"[{"a":1,}]"#,
            r#"[1, [2]"#,
            r#"["a", 1] junk"#,
        ] {
            assert_eq!(parse_string_array(text), Err(JsonError::Syntax), "{text}");
        }
        assert_eq!(parse_string_array("echo"), Err(JsonError::NotArray));
        assert_eq!(parse_string_array(""), Err(JsonError::NotArray));
    }

    #[test]
    fn nesting_limit_is_gos() {
        let nested = |n: usize| format!("[{}{}]", "[".repeat(n - 1), "]".repeat(n - 1));
        assert_eq!(
            parse_string_array(&nested(10_000)),
            Err(JsonError::NotStringArray)
        );
        assert_eq!(parse_string_array(&nested(10_001)), Err(JsonError::Syntax));
        // Deep nesting never overflows the stack.
        assert_eq!(
            parse_string_array(&"[".repeat(1_000_000)),
            Err(JsonError::Syntax)
        );
    }
}
