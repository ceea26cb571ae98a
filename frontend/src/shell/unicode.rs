//! Character classes as the reference (Go's `unicode` package) defines them.
//!
//! Rust's `char` predicates answer slightly different questions:
//! `is_alphabetic` is the Alphabetic property (it includes combining vowel
//! signs and letter-like numerals such as `Ⅻ`) and `is_numeric` accepts every
//! `N*` category, while Go asks for the general categories `L` and `Nd`.
//! Names like `$١٢` (Arabic-Indic digits) or `$é` must split exactly where
//! BuildKit splits them, so non-ASCII characters are classified with the
//! Unicode tables the `regex` crate already carries. ASCII, the case that
//! matters for speed, never reaches a regex.

use std::sync::OnceLock;

use regex::Regex;

/// Go's `unicode.IsSpace`: the Unicode White_Space property, which is
/// exactly what `char::is_whitespace` implements (it includes U+0085 and
/// the no-break space U+00A0, so those split words too).
pub(super) fn is_space(ch: char) -> bool {
    ch.is_whitespace()
}

/// Go's `unicode.IsDigit`: general category `Nd`.
pub(super) fn is_digit(ch: char) -> bool {
    if ch.is_ascii() {
        return ch.is_ascii_digit();
    }
    static ND: OnceLock<Regex> = OnceLock::new();
    in_class(&ND, r"\A\p{Nd}\z", ch)
}

/// Go's `unicode.IsLetter`: general category `L`.
pub(super) fn is_letter(ch: char) -> bool {
    if ch.is_ascii() {
        return ch.is_ascii_alphabetic();
    }
    static L: OnceLock<Regex> = OnceLock::new();
    in_class(&L, r"\A\p{L}\z", ch)
}

/// Go's `strconv.IsPrint`: categories L, M, N, P, S plus the ASCII space.
fn is_print(ch: char) -> bool {
    if ch.is_ascii() {
        return (' '..='~').contains(&ch);
    }
    static PRINT: OnceLock<Regex> = OnceLock::new();
    in_class(&PRINT, r"\A[\p{L}\p{M}\p{N}\p{P}\p{S}]\z", ch)
}

fn in_class(cell: &OnceLock<Regex>, class: &str, ch: char) -> bool {
    let re = cell.get_or_init(|| Regex::new(class).expect("static Unicode class regex"));
    re.is_match(ch.encode_utf8(&mut [0; 4]))
}

/// Quotes `s` the way Go's `%q` does (`strconv.Quote`), so error messages
/// such as `failed to process "<word>"` read exactly like the reference's.
pub(crate) fn go_quote(s: &str) -> String {
    use std::fmt::Write;

    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' | '\\' => {
                out.push('\\');
                out.push(ch);
            }
            _ if is_print(ch) => out.push(ch),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            _ if ch < ' ' || ch == '\x7f' => {
                let _ = write!(out, "\\x{:02x}", ch as u32);
            }
            _ if (ch as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", ch as u32);
            }
            _ => {
                let _ = write!(out, "\\U{:08x}", ch as u32);
            }
        }
    }
    out.push('"');
    out
}
