//! Translation of the regular expressions Docker builds from ignore patterns
//! (Go `regexp` syntax, RE2 with Perl extensions) into equivalent source for
//! the `regex` crate.
//!
//! Most patterns produce plain expressions both engines read alike, but a
//! pattern's `\x` escapes and `[...]` classes are copied into Docker's
//! expression nearly verbatim, so a pattern can reach Go-only syntax: `\d`
//! is an ASCII digit, `[[:alpha:]]` a POSIX class, `\Q...\E` quotes, `[` is
//! an ordinary character inside a class (the `regex` crate would open a
//! nested class), `\b` is an ASCII word boundary, and so on. This module
//! parses the Go syntax and re-emits it with explicit code point ranges so
//! that both engines agree on every path.

use std::fmt::Write as _;

/// The expression is not valid Go syntax (Docker: `syntax error in pattern`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Error;

type Result<T> = std::result::Result<T, Error>;

const MAX_RUNE: u32 = 0x10_ffff;

/// Translates Go `regexp` source (default flags: `^`/`$` anchor the whole
/// text, `.` excludes `\n`, negated classes include `\n`) into `regex`
/// crate source with the same meaning.
pub(crate) fn translate(source: &str) -> Result<String> {
    let mut t = Translator {
        rest: source,
        out: String::with_capacity(source.len() + 16),
        open_groups: 0,
        last: Last::Nothing,
    };
    t.run()?;
    Ok(t.out)
}

/// What the most recent item was, for checking and emitting repetitions.
#[derive(Clone, Copy)]
enum Last {
    /// Start of the expression or of a group, or after `|`.
    Nothing,
    /// An atom (a character, class or group).
    Atom,
    /// A zero-width assertion that starts at this offset of the output.
    Assertion(usize),
    /// A repetition operator (Go refuses to stack them).
    Repeat,
}

struct Translator<'a> {
    rest: &'a str,
    out: String,
    /// Groups opened and not yet closed.
    open_groups: usize,
    last: Last,
}

impl Translator<'_> {
    fn run(&mut self) -> Result<()> {
        while let Some(c) = self.next_char() {
            let start = self.out.len();
            match c {
                '(' => {
                    // Flag groups never occur in Docker's expressions.
                    if self.rest.starts_with('?') {
                        return Err(Error);
                    }
                    self.open_groups += 1;
                    self.out.push_str("(?:");
                    self.last = Last::Nothing;
                }
                ')' => {
                    self.open_groups = self.open_groups.checked_sub(1).ok_or(Error)?;
                    self.out.push(')');
                    self.last = Last::Atom;
                }
                '|' => {
                    self.out.push('|');
                    self.last = Last::Nothing;
                }
                '^' | '$' => {
                    self.out.push(c);
                    self.last = Last::Assertion(start);
                }
                '.' => {
                    self.out.push('.');
                    self.last = Last::Atom;
                }
                '*' | '+' | '?' => self.repeat(c.encode_utf8(&mut [0; 4]))?,
                '{' => match counted_repetition(self.rest)? {
                    Some((operator, rest)) => {
                        self.rest = rest;
                        self.repeat(&operator)?;
                    }
                    // Not of the form `{n}`, `{n,}` or `{n,m}`: a literal.
                    None => {
                        push_literal(&mut self.out, u32::from('{'));
                        self.last = Last::Atom;
                    }
                },
                '[' => {
                    let class = self.class()?;
                    class.emit(&mut self.out);
                    self.last = Last::Atom;
                }
                '\\' => self.escape(start)?,
                c => {
                    push_literal(&mut self.out, u32::from(c));
                    self.last = Last::Atom;
                }
            }
        }
        if self.open_groups == 0 {
            Ok(())
        } else {
            Err(Error)
        }
    }

    fn next_char(&mut self) -> Option<char> {
        let c = self.rest.chars().next()?;
        self.rest = &self.rest[c.len_utf8()..];
        Some(c)
    }

    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn repeat(&mut self, operator: &str) -> Result<()> {
        let lazy = self.eat('?');
        match self.last {
            Last::Nothing | Last::Repeat => return Err(Error),
            Last::Atom => {}
            // Go lets an assertion be repeated; the `regex` crate wants a group.
            Last::Assertion(start) => {
                self.out.insert_str(start, "(?:");
                self.out.push(')');
            }
        }
        self.out.push_str(operator);
        if lazy {
            self.out.push('?');
        }
        self.last = Last::Repeat;
        Ok(())
    }

    /// An escape outside a class; `\` has been consumed.
    fn escape(&mut self, start: usize) -> Result<()> {
        let assertion = match self.rest.chars().next() {
            Some('A') => Some(r"\A"),
            Some('z') => Some(r"\z"),
            // Go's word boundaries are ASCII-only.
            Some('b') => Some(r"(?-u:\b)"),
            Some('B') => Some(r"(?-u:\B)"),
            // Go refuses `\C` (any byte).
            Some('C') => return Err(Error),
            Some('Q') => {
                self.rest = &self.rest[1..];
                let (quoted, rest) = match self.rest.find(r"\E") {
                    Some(i) => (&self.rest[..i], &self.rest[i + 2..]),
                    None => (self.rest, ""),
                };
                self.rest = rest;
                for c in quoted.chars() {
                    push_literal(&mut self.out, u32::from(c));
                    self.last = Last::Atom;
                }
                return Ok(());
            }
            _ => None,
        };
        if let Some(assertion) = assertion {
            self.rest = &self.rest[1..];
            self.out.push_str(assertion);
            self.last = Last::Assertion(start);
            return Ok(());
        }
        let mut class = Class::default();
        if self.class_escape(&mut class)? {
            class.emit(&mut self.out);
        } else {
            let c = self.single_escape()?;
            push_literal(&mut self.out, c);
        }
        self.last = Last::Atom;
        Ok(())
    }

    /// Adds a `\p{..}`, `\P{..}` or Perl class (`\d`, `\s`, `\w` and their
    /// negations) at the input, whose `\` has been consumed, to `class`.
    /// Returns false, consuming nothing, if the input is another escape.
    fn class_escape(&mut self, class: &mut Class) -> Result<bool> {
        let mut chars = self.rest.chars();
        let Some(kind) = chars.next() else {
            return Ok(false);
        };
        if let Some((set, negated)) = perl_group(kind) {
            self.rest = chars.as_str();
            class.add_set(set, negated);
            return Ok(true);
        }
        if kind != 'p' && kind != 'P' {
            return Ok(false);
        }
        let mut negated = kind == 'P';
        let after = chars.as_str();
        let (name, rest) = match after.strip_prefix('{') {
            Some(braced) => {
                let end = braced.find('}').ok_or(Error)?;
                (&braced[..end], &braced[end + 1..])
            }
            None => {
                // A single-letter name; a missing one is an unknown name.
                let len = after.chars().next().map_or(0, char::len_utf8);
                (&after[..len], &after[len..])
            }
        };
        let name = match name.strip_prefix('^') {
            Some(name) => {
                negated = !negated;
                name
            }
            None => name,
        };
        class.add_unicode(name, negated)?;
        self.rest = rest;
        Ok(true)
    }

    /// A single-character escape whose `\` has been consumed; returns the
    /// code point, which may be a surrogate (it then never matches).
    fn single_escape(&mut self) -> Result<u32> {
        let c = self.next_char().ok_or(Error)?;
        match c {
            // Escaped ASCII punctuation (and space, controls) is itself.
            c if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok(u32::from(c)),
            '0'..='7' => {
                // A lone non-zero digit would be a backreference.
                if c != '0' && !self.rest.starts_with(|d: char| ('0'..='7').contains(&d)) {
                    return Err(Error);
                }
                let mut value = c.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match self.rest.chars().next().and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            value = value * 8 + d;
                            self.rest = &self.rest[1..];
                        }
                        None => break,
                    }
                }
                Ok(value)
            }
            'x' => {
                if self.eat('{') {
                    let end = self.rest.find('}').ok_or(Error)?;
                    let digits = &self.rest[..end];
                    if digits.is_empty() || !digits.chars().all(|d| d.is_ascii_hexdigit()) {
                        return Err(Error);
                    }
                    let value = digits.chars().try_fold(0u32, |acc, d| {
                        let next = acc * 16 + d.to_digit(16).unwrap_or(0);
                        (next <= MAX_RUNE).then_some(next)
                    });
                    self.rest = &self.rest[end + 1..];
                    value.ok_or(Error)
                } else {
                    let hi = self.next_char().and_then(|d| d.to_digit(16));
                    let lo = self.next_char().and_then(|d| d.to_digit(16));
                    match (hi, lo) {
                        (Some(hi), Some(lo)) => Ok(hi * 16 + lo),
                        _ => Err(Error),
                    }
                }
            }
            'a' => Ok(0x07),
            'f' => Ok(0x0c),
            'n' => Ok(0x0a),
            'r' => Ok(0x0d),
            't' => Ok(0x09),
            'v' => Ok(0x0b),
            _ => Err(Error),
        }
    }

    /// A character class; the `[` has been consumed.
    fn class(&mut self) -> Result<Class> {
        let mut class = Class {
            negated: self.eat('^'),
            ..Class::default()
        };
        let mut first = true;
        loop {
            // `]` closes the class, except as its first character.
            if !first && self.eat(']') {
                return Ok(class);
            }
            first = false;
            if self.rest.len() > 2 && self.rest.starts_with("[:") {
                if let Some(i) = self.rest[2..].find(":]") {
                    let name = &self.rest[..i + 4];
                    let (set, negated) = posix_group(name).ok_or(Error)?;
                    class.add_set(set, negated);
                    self.rest = &self.rest[i + 4..];
                    continue;
                }
            }
            if let Some(rest) = self.rest.strip_prefix('\\') {
                let saved = self.rest;
                self.rest = rest;
                if self.class_escape(&mut class)? {
                    continue;
                }
                self.rest = saved;
            }
            let lo = self.class_char()?;
            let mut hi = lo;
            let bytes = self.rest.as_bytes();
            if bytes.len() >= 2 && bytes[0] == b'-' && bytes[1] != b']' {
                self.rest = &self.rest[1..];
                hi = self.class_char()?;
                if hi < lo {
                    return Err(Error);
                }
            }
            class.ranges.push((lo, hi));
        }
    }

    fn class_char(&mut self) -> Result<u32> {
        match self.next_char() {
            None => Err(Error),
            Some('\\') => self.single_escape(),
            Some(c) => Ok(u32::from(c)),
        }
    }
}

/// Parses Go's counted repetition after its `{`: `{n}`, `{n,}` or `{n,m}`,
/// with counts up to 1000, returning the operator for the `regex` crate and
/// the rest of the input. `Ok(None)` means the `{` is a literal.
fn counted_repetition(s: &str) -> Result<Option<(String, &str)>> {
    /// A decimal count without leading zeros; -1 if it is far too large.
    fn count(s: &str) -> Option<(i64, &str)> {
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || (digits > 1 && s.starts_with('0')) {
            return None;
        }
        let mut n: i64 = 0;
        for d in s[..digits].bytes() {
            if n >= 100_000_000 {
                n = -1;
                break;
            }
            n = n * 10 + i64::from(d - b'0');
        }
        Some((n, &s[digits..]))
    }
    let Some((mut min, rest)) = count(s) else {
        return Ok(None);
    };
    let (max, rest) = match rest.strip_prefix(',') {
        None => (min, rest),
        Some(after) if after.starts_with('}') => (-1, after),
        Some(after) => match count(after) {
            Some((max, rest)) => {
                if max < 0 {
                    min = -1;
                }
                (max, rest)
            }
            None => return Ok(None),
        },
    };
    let Some(rest) = rest.strip_prefix('}') else {
        return Ok(None);
    };
    if !(0..=1000).contains(&min) || max > 1000 || (max >= 0 && min > max) {
        return Err(Error);
    }
    let operator = match max {
        -1 => format!("{{{min},}}"),
        max if max == min => format!("{{{min}}}"),
        max => format!("{{{min},{max}}}"),
    };
    Ok(Some((operator, rest)))
}

/// A set of code points as `(lo, hi)` ranges, inclusive.
type Set = &'static [(u32, u32)];

const DIGIT: Set = &[(0x30, 0x39)];
const PERL_SPACE: Set = &[(0x09, 0x0a), (0x0c, 0x0d), (0x20, 0x20)];
const WORD: Set = &[(0x30, 0x39), (0x41, 0x5a), (0x5f, 0x5f), (0x61, 0x7a)];

fn perl_group(kind: char) -> Option<(Set, bool)> {
    Some(match kind {
        'd' => (DIGIT, false),
        'D' => (DIGIT, true),
        's' => (PERL_SPACE, false),
        'S' => (PERL_SPACE, true),
        'w' => (WORD, false),
        'W' => (WORD, true),
        _ => return None,
    })
}

/// `[:name:]` or `[:^name:]`, ASCII-only as in Go.
fn posix_group(spec: &str) -> Option<(Set, bool)> {
    let inner = spec.strip_prefix("[:")?.strip_suffix(":]")?;
    let (name, negated) = match inner.strip_prefix('^') {
        Some(name) => (name, true),
        None => (inner, false),
    };
    let set: Set = match name {
        "alnum" => &[(0x30, 0x39), (0x41, 0x5a), (0x61, 0x7a)],
        "alpha" => &[(0x41, 0x5a), (0x61, 0x7a)],
        "ascii" => &[(0x00, 0x7f)],
        "blank" => &[(0x09, 0x09), (0x20, 0x20)],
        "cntrl" => &[(0x00, 0x1f), (0x7f, 0x7f)],
        "digit" => DIGIT,
        "graph" => &[(0x21, 0x7e)],
        "lower" => &[(0x61, 0x7a)],
        "print" => &[(0x20, 0x7e)],
        "punct" => &[(0x21, 0x2f), (0x3a, 0x40), (0x5b, 0x60), (0x7b, 0x7e)],
        "space" => &[(0x09, 0x0d), (0x20, 0x20)],
        "upper" => &[(0x41, 0x5a)],
        "word" => WORD,
        "xdigit" => &[(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
        _ => return None,
    };
    Some((set, negated))
}

/// Go's general category names (its `unicode.Categories`).
const CATEGORIES: &[&str] = &[
    "C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn", "N",
    "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm", "So",
    "Z", "Zl", "Zp", "Zs",
];

/// Go's script names (its `unicode.Scripts`, Unicode 15).
const SCRIPTS: &[&str] = &[
    "Adlam",
    "Ahom",
    "Anatolian_Hieroglyphs",
    "Arabic",
    "Armenian",
    "Avestan",
    "Balinese",
    "Bamum",
    "Bassa_Vah",
    "Batak",
    "Bengali",
    "Bhaiksuki",
    "Bopomofo",
    "Brahmi",
    "Braille",
    "Buginese",
    "Buhid",
    "Canadian_Aboriginal",
    "Carian",
    "Caucasian_Albanian",
    "Chakma",
    "Cham",
    "Cherokee",
    "Chorasmian",
    "Common",
    "Coptic",
    "Cuneiform",
    "Cypriot",
    "Cypro_Minoan",
    "Cyrillic",
    "Deseret",
    "Devanagari",
    "Dives_Akuru",
    "Dogra",
    "Duployan",
    "Egyptian_Hieroglyphs",
    "Elbasan",
    "Elymaic",
    "Ethiopic",
    "Georgian",
    "Glagolitic",
    "Gothic",
    "Grantha",
    "Greek",
    "Gujarati",
    "Gunjala_Gondi",
    "Gurmukhi",
    "Han",
    "Hangul",
    "Hanifi_Rohingya",
    "Hanunoo",
    "Hatran",
    "Hebrew",
    "Hiragana",
    "Imperial_Aramaic",
    "Inherited",
    "Inscriptional_Pahlavi",
    "Inscriptional_Parthian",
    "Javanese",
    "Kaithi",
    "Kannada",
    "Katakana",
    "Kawi",
    "Kayah_Li",
    "Kharoshthi",
    "Khitan_Small_Script",
    "Khmer",
    "Khojki",
    "Khudawadi",
    "Lao",
    "Latin",
    "Lepcha",
    "Limbu",
    "Linear_A",
    "Linear_B",
    "Lisu",
    "Lycian",
    "Lydian",
    "Mahajani",
    "Makasar",
    "Malayalam",
    "Mandaic",
    "Manichaean",
    "Marchen",
    "Masaram_Gondi",
    "Medefaidrin",
    "Meetei_Mayek",
    "Mende_Kikakui",
    "Meroitic_Cursive",
    "Meroitic_Hieroglyphs",
    "Miao",
    "Modi",
    "Mongolian",
    "Mro",
    "Multani",
    "Myanmar",
    "Nabataean",
    "Nag_Mundari",
    "Nandinagari",
    "New_Tai_Lue",
    "Newa",
    "Nko",
    "Nushu",
    "Nyiakeng_Puachue_Hmong",
    "Ogham",
    "Ol_Chiki",
    "Old_Hungarian",
    "Old_Italic",
    "Old_North_Arabian",
    "Old_Permic",
    "Old_Persian",
    "Old_Sogdian",
    "Old_South_Arabian",
    "Old_Turkic",
    "Old_Uyghur",
    "Oriya",
    "Osage",
    "Osmanya",
    "Pahawh_Hmong",
    "Palmyrene",
    "Pau_Cin_Hau",
    "Phags_Pa",
    "Phoenician",
    "Psalter_Pahlavi",
    "Rejang",
    "Runic",
    "Samaritan",
    "Saurashtra",
    "Sharada",
    "Shavian",
    "Siddham",
    "SignWriting",
    "Sinhala",
    "Sogdian",
    "Sora_Sompeng",
    "Soyombo",
    "Sundanese",
    "Syloti_Nagri",
    "Syriac",
    "Tagalog",
    "Tagbanwa",
    "Tai_Le",
    "Tai_Tham",
    "Tai_Viet",
    "Takri",
    "Tamil",
    "Tangsa",
    "Tangut",
    "Telugu",
    "Thaana",
    "Thai",
    "Tibetan",
    "Tifinagh",
    "Tirhuta",
    "Toto",
    "Ugaritic",
    "Vai",
    "Vithkuqi",
    "Wancho",
    "Warang_Citi",
    "Yezidi",
    "Yi",
    "Zanabazar_Square",
];

/// A character class being assembled: explicit ranges plus `regex` crate
/// Unicode class items, all united, then optionally negated.
#[derive(Default)]
struct Class {
    negated: bool,
    ranges: Vec<(u32, u32)>,
    unicode: Vec<String>,
}

impl Class {
    fn add_set(&mut self, set: Set, negated: bool) {
        if negated {
            let mut next = 0;
            for &(lo, hi) in set {
                if lo > next {
                    self.ranges.push((next, lo - 1));
                }
                next = hi + 1;
            }
            self.ranges.push((next, MAX_RUNE));
        } else {
            self.ranges.extend_from_slice(set);
        }
    }

    /// Adds Go's `\p{name}` (or its negation); Go names are case-sensitive.
    fn add_unicode(&mut self, name: &str, negated: bool) -> Result<()> {
        if name == "Any" {
            if !negated {
                self.ranges.push((0, MAX_RUNE));
            }
        } else if name == "Cs" {
            // Surrogates never occur in text, so only the negation matches.
            if negated {
                self.ranges.push((0, MAX_RUNE));
            }
        } else if name == "C" {
            // Go's "other" category has no unassigned code points (Cn), so
            // spell it out rather than using the crate's `C`.
            let members = r"\p{gc=Cc}\p{gc=Cf}\p{gc=Co}";
            self.unicode.push(if negated {
                format!("[^{members}]")
            } else {
                members.to_owned()
            });
        } else {
            let property = if CATEGORIES.contains(&name) {
                "gc"
            } else if SCRIPTS.contains(&name) {
                "sc"
            } else {
                return Err(Error);
            };
            let p = if negated { 'P' } else { 'p' };
            self.unicode.push(format!(r"\{p}{{{property}={name}}}"));
        }
        Ok(())
    }

    fn emit(&self, out: &mut String) {
        // Surrogate code points cannot occur in text: drop them.
        let mut ranges = Vec::with_capacity(self.ranges.len() + 1);
        for &(lo, hi) in &self.ranges {
            if lo < 0xd800 {
                ranges.push((lo, hi.min(0xd7ff)));
            }
            if hi > 0xdfff {
                ranges.push((lo.max(0xe000), hi));
            }
        }
        if ranges.is_empty() && self.unicode.is_empty() {
            // Nothing in the class: it matches no character, or, negated, any.
            out.push_str(if self.negated {
                r"[\x{0}-\x{10FFFF}]"
            } else {
                r"[^\x{0}-\x{10FFFF}]"
            });
            return;
        }
        out.push('[');
        if self.negated {
            out.push('^');
        }
        for (lo, hi) in ranges {
            if lo == hi {
                let _ = write!(out, r"\x{{{lo:X}}}");
            } else {
                let _ = write!(out, r"\x{{{lo:X}}}-\x{{{hi:X}}}");
            }
        }
        for item in &self.unicode {
            out.push_str(item);
        }
        out.push(']');
    }
}

/// Appends a literal code point; a surrogate, which text cannot contain,
/// becomes an expression that matches nothing.
fn push_literal(out: &mut String, c: u32) {
    match char::from_u32(c) {
        Some(c) if c.is_ascii_alphanumeric() || c == '_' || c == '/' => out.push(c),
        Some(c) if !c.is_ascii() => out.push(c),
        Some(c) => {
            let _ = write!(out, r"\x{{{:X}}}", u32::from(c));
        }
        None => out.push_str(r"[^\x{0}-\x{10FFFF}]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rust(source: &str) -> String {
        translate(source).unwrap_or_else(|_| panic!("{source:?} should translate"))
    }

    fn is_match(source: &str, text: &str) -> bool {
        regex::Regex::new(&rust(source)).unwrap().is_match(text)
    }

    #[test]
    fn plain_expressions_keep_their_meaning() {
        assert!(is_match(r"^[^/]*\.md$", "README.md"));
        assert!(!is_match(r"^[^/]*\.md$", "docs/README.md"));
        assert!(is_match(r"^(.*/)?dir2/[^/]*$", "a/b/dir2/x"));
        assert!(is_match(r"^(.*/)?dir2/[^/]*$", "dir2/x"));
        // `.` excludes newlines, negated classes include them, as in Go.
        assert!(!is_match(r"^.*$", "a\nb"));
        assert!(is_match(r"^[^/]*$", "a\nb"));
    }

    #[test]
    fn go_only_syntax() {
        // `[` is literal inside a Go class.
        assert!(is_match(r"^[[^/]$", "["));
        assert!(is_match(r"^[[^/]$", "^"));
        assert!(!is_match(r"^[[^/]$", "a"));
        // POSIX and Perl classes are ASCII-only.
        assert!(is_match(r"^[[:alpha:]]$", "q"));
        assert!(!is_match(r"^[[:alpha:]]$", "é"));
        assert!(is_match(r"^[[:^alpha:]]$", "é"));
        assert!(is_match(r"^\d$", "7"));
        assert!(!is_match(r"^\d$", "٣"));
        assert!(!is_match(r"^\s$", "\u{b}"));
        assert!(is_match(r"^[[:space:]]$", "\u{b}"));
        // Quoting runs to `\E` or to the end, swallowing the `$`.
        assert!(is_match(r"^\Qa[^/]*\E$", "a[^/]*"));
        assert!(is_match(r"^\Qa*$", "a*$"));
        // Escapes.
        assert!(is_match(r"^\x41\x{42}\103\0$", "ABC\0"));
        assert!(is_match(r"^\t$", "\t"));
        // Unicode classes use Go's names and the script property.
        assert!(is_match(r"^\pL\p{Greek}\P{Lu}$", "xαb"));
        assert!(is_match(r"^[\p{^Greek}]$", "x"));
        assert!(
            !is_match(r"^\p{C}$", "\u{378}"),
            "Go's C excludes unassigned"
        );
        // ASCII word boundaries.
        assert!(is_match(r"^a\b$", "a"));
        assert!(!is_match(r"^é\b$", "é"));
        // Surrogates never match.
        assert!(!is_match(r"^\x{D800}$", "\u{fffd}"));
        assert!(is_match(r"^[^\x{D800}]$", "x"));
    }

    #[test]
    fn go_syntax_errors() {
        for bad in [
            r"[z-a]",
            r"[[:foo:]]",
            r"\y",
            r"\é",
            r"\1",
            r"\8",
            r"\C",
            r"\x4",
            r"\x{}",
            r"\x{110000}",
            r"\pX",
            r"\p{greek}",
            r"\p{Greek",
            r"[\b]",
            r"[a",
            r"(a",
            r"a)",
            r"**",
            r"a**",
            r"*",
            r"\",
        ] {
            assert_eq!(translate(bad), Err(Error), "{bad:?}");
        }
    }

    #[test]
    fn every_go_property_name_is_known_to_the_regex_crate() {
        for name in CATEGORIES.iter().chain(SCRIPTS) {
            for form in ["p", "P"] {
                let source = format!(r"^\{form}{{{name}}}$");
                let translated = rust(&source);
                assert!(
                    regex::Regex::new(&translated).is_ok(),
                    "{source} -> {translated}"
                );
            }
        }
    }
}
