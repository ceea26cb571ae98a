//! Go-compatible string helpers the AST dump and the parser rely on.
//!
//! The reference dump prints every argument with Go's `strconv.Quote`, and
//! the reference lower-cases instruction names rune by rune with Go's
//! simple case mapping. Both differ from Rust's `{:?}` and
//! `str::to_lowercase` in small ways that show up in the dump, so they are
//! reimplemented here.

use super::print_table::PRINTABLE;

/// Whether Go's `strconv.IsPrint` holds for `c`: letters, marks, numbers,
/// punctuation, symbols and the ASCII space (Unicode 15.0 tables).
pub fn is_go_printable(c: char) -> bool {
    let c = c as u32;
    if c < 0x80 {
        return (0x20..0x7f).contains(&c);
    }
    PRINTABLE
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// `s` as Go's `strconv.Quote` writes it: double quotes, `\"` and `\\`,
/// printable characters kept as they are, the C escapes `\a \b \f \n \r \t
/// \v`, other control characters as `\xNN`, and any other non-printable
/// character as `\uNNNN` or `\UNNNNNNNN`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_go_quoted(&mut out, s);
    out
}

/// Appends `go_quote(s)` to `out`.
pub fn push_go_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            _ if is_go_printable(c) => out.push(c),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            _ => {
                let v = c as u32;
                let escaped = if v < 0x20 || v == 0x7f {
                    format!("\\x{v:02x}")
                } else if v < 0x10000 {
                    format!("\\u{v:04x}")
                } else {
                    format!("\\U{v:08x}")
                };
                out.push_str(&escaped);
            }
        }
    }
    out.push('"');
}

/// Go's `fmt` `%q` of a `[]string`: `["a" "b"]`.
pub fn go_quote_list(items: &[String]) -> String {
    let mut out = String::from("[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        push_go_quoted(&mut out, item);
    }
    out.push(']');
    out
}

/// Go's `strings.ToLower`: every character through the simple (one to one)
/// lower-case mapping. Unlike `str::to_lowercase` it has no final-sigma rule
/// and maps U+0130 to a plain `i`; like Go, KELVIN SIGN becomes `k`.
pub fn go_to_lower(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    s.chars()
        .map(|c| {
            if c == '\u{130}' {
                return 'i';
            }
            let mut lower = c.to_lowercase();
            match (lower.next(), lower.next()) {
                (Some(l), None) => l,
                _ => c,
            }
        })
        .collect()
}

/// Go's `unicode.IsSpace` applied to a single byte taken as a code point
/// (Latin-1), as the reference does where it walks a line byte by byte:
/// besides ASCII white space this matches 0x85 and 0xA0, which are also
/// UTF-8 continuation bytes.
pub(crate) fn is_latin1_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0x85 | 0xa0)
}

/// The white space of the reference's `[\t\v\f\r ]+` separator regex.
pub(crate) fn is_separator_space(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote(""), r#""""#);
        assert_eq!(go_quote("abc"), r#""abc""#);
        assert_eq!(go_quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(go_quote("\x07\x08\x0c\n\r\t\x0b"), r#""\a\b\f\n\r\t\v""#);
        assert_eq!(go_quote("\0\x1b\x7f"), r#""\x00\x1b\x7f""#);
        assert_eq!(go_quote("\u{80}\u{9f}"), r#""\u0080\u009f""#);
        assert_eq!(go_quote("\u{a0}\u{ad}"), r#""\u00a0\u00ad""#);
        assert_eq!(go_quote("é♥☃한국어"), "\"é♥☃한국어\"");
        assert_eq!(
            go_quote("\u{200b}\u{2028}\u{feff}"),
            r#""\u200b\u2028\ufeff""#
        );
        assert_eq!(go_quote("\u{fffd}"), "\"\u{fffd}\"");
        assert_eq!(go_quote("\u{1f600}"), "\"\u{1f600}\"");
        assert_eq!(go_quote("\u{e0001}\u{10ffff}"), r#""\U000e0001\U0010ffff""#);
        // Private use and unassigned code points are not printable.
        assert_eq!(go_quote("\u{e000}\u{378}"), r#""\ue000\u0378""#);
        // Assigned in Unicode 15.0 (Go 1.21+), so printed as is.
        assert_eq!(go_quote("\u{1fae8}"), "\"\u{1fae8}\"");
        // Combining marks are printable on their own.
        assert_eq!(go_quote("e\u{301}"), "\"e\u{301}\"");
        // The plain space is the only printable separator.
        assert_eq!(go_quote(" \u{3000}"), r#"" \u3000""#);
    }

    #[test]
    fn quotes_lists_like_go_fmt() {
        assert_eq!(go_quote_list(&[]), "[]");
        assert_eq!(
            go_quote_list(&["--from=a".into(), "--x=\"y\"".into()]),
            r#"["--from=a" "--x=\"y\""]"#
        );
    }

    #[test]
    fn lowercases_like_go() {
        assert_eq!(go_to_lower("RUN"), "run");
        assert_eq!(go_to_lower("ÉTÉ"), "été");
        assert_eq!(go_to_lower("ΟΔΟΣ"), "οδοσ");
        assert_eq!(go_to_lower("\u{130}"), "i");
        assert_eq!(go_to_lower("WOR\u{212a}DIR"), "workdir");
    }

    #[test]
    fn printable_table_is_sorted_and_disjoint() {
        for pair in PRINTABLE.windows(2) {
            assert!(pair[0].0 <= pair[0].1);
            assert!(pair[0].1 + 1 < pair[1].0);
        }
    }
}
