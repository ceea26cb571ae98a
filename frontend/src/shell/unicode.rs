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

fn in_class(cell: &OnceLock<Regex>, class: &str, ch: char) -> bool {
    let re = cell.get_or_init(|| Regex::new(class).expect("static Unicode class regex"));
    re.is_match(ch.encode_utf8(&mut [0; 4]))
}
