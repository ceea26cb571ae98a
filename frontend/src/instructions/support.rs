//! Small Go-compatible helpers the instruction parser needs to reproduce the
//! reference's messages and number syntax exactly: `%q` quoting, "did you
//! mean" suggestions, `strconv.ParseBool`/`ParseUint`/`ParseInt`, CSV
//! fields of a single line.

pub use crate::golang::go_quote;
pub use crate::suggest::with_suggestion;

/// Go's `strconv.ParseBool`.
pub fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseUint(s, radix, 32)`: digits only (no sign, no
/// prefix, no underscores), within `u32`.
pub fn parse_go_u32(s: &str, radix: u32) -> Option<u32> {
    if s.is_empty() || !s.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u32::from_str_radix(s, radix).ok()
}

/// Why Go's `strconv.ParseInt(s, 10, 32)` rejected `s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntError {
    Syntax,
    Range,
}

/// Go's `strconv.ParseInt(s, 10, 32)`: an optional sign, then ASCII digits.
pub fn parse_go_i32(s: &str) -> Result<i32, IntError> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IntError::Syntax);
    }
    // Digits only, so the sole possible failure is overflow.
    s.trim_start_matches('+')
        .parse::<i32>()
        .map_err(|_| IntError::Range)
}

/// The message Go's `strconv.ParseInt(s, 10, 32)` fails with.
pub fn go_parse_int_message(s: &str, err: IntError) -> String {
    let why = match err {
        IntError::Syntax => "invalid syntax",
        IntError::Range => "value out of range",
    };
    format!("strconv.ParseInt: parsing {}: {why}", go_quote(s))
}

/// The fields of one CSV line (comma separated, `"` quoting with `""` for a
/// literal quote, no lazy quotes), as the reference's `csvvalue.Fields`.
/// Errors carry the text of Go's `csv.ParseError` (or `EOF` for an empty
/// line).
pub fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let line = line
        .strip_suffix("\r\n")
        .or_else(|| line.strip_suffix('\n'))
        .unwrap_or(line);
    if line.is_empty() {
        return Err("EOF".to_string());
    }
    let bare_quote = |column: usize| {
        format!("parse error on line 1, column {column}: bare \" in non-quoted-field")
    };
    let bad_quote = |column: usize| {
        format!("parse error on line 1, column {column}: extraneous or missing \" in quoted-field")
    };

    let mut fields: Vec<String> = Vec::new();
    let mut rest = line;
    let mut pos = 0; // byte offset of `rest` in `line`
    'field: loop {
        if !rest.starts_with('"') {
            let (field, next) = match rest.find(',') {
                Some(i) => (&rest[..i], Some(i)),
                None => (rest, None),
            };
            if let Some(j) = field.find('"') {
                return Err(bare_quote(pos + j + 1));
            }
            fields.push(field.to_string());
            match next {
                Some(i) => {
                    rest = &rest[i + 1..];
                    pos += i + 1;
                    continue 'field;
                }
                None => break 'field,
            }
        }
        // A quoted field.
        rest = &rest[1..];
        pos += 1;
        let mut continuing = false;
        loop {
            let Some(i) = rest.find('"') else {
                return Err(bad_quote(pos + 1));
            };
            if continuing {
                if let Some(last) = fields.last_mut() {
                    last.push_str(&rest[..i]);
                }
            } else {
                fields.push(rest[..i].to_string());
            }
            rest = &rest[i + 1..];
            pos += i + 1;
            match rest.chars().next() {
                Some('"') => {
                    if let Some(last) = fields.last_mut() {
                        last.push('"');
                    }
                    rest = &rest[1..];
                    pos += 1;
                    continuing = true;
                }
                Some(',') => {
                    rest = &rest[1..];
                    pos += 1;
                    continue 'field;
                }
                None => break 'field,
                Some(_) => return Err(bad_quote(pos)),
            }
        }
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("plain"), "\"plain\"");
        assert_eq!(go_quote("a\"b\\c\n\té"), "\"a\\\"b\\\\c\\n\\té\"");
        assert_eq!(go_quote("x\u{1}y☺"), "\"x\\x01y☺\"");
        assert_eq!(go_quote("\u{a0}"), "\"\\u00a0\"");
    }

    #[test]
    fn suggestions() {
        let names = ["FROM", "RUN", "COPY"];
        assert_eq!(
            crate::suggest::search("FOO", &names, false).as_deref(),
            Some("FROM")
        );
        assert_eq!(
            crate::suggest::search("runn", &names, false).as_deref(),
            Some("run")
        );
        assert_eq!(
            crate::suggest::search("RUNN", &names, false).as_deref(),
            Some("RUN")
        );
        assert_eq!(
            crate::suggest::search("Runn", &names, false).as_deref(),
            Some("run")
        );
        assert_eq!(
            crate::suggest::search("run", &names, false),
            None,
            "exact match"
        );
        assert_eq!(
            crate::suggest::search("xyzzy", &names, false),
            None,
            "too far"
        );
        assert_eq!(
            crate::suggest::search("chmode", &["chown", "chmod"], true).as_deref(),
            Some("chmod")
        );
        assert_eq!(
            crate::suggest::search("CHMOD", &["chmod"], true),
            None,
            "case sensitive, far"
        );
        assert_eq!(
            with_suggestion("unknown flag: --fro".into(), "fro", &["from"], true),
            "unknown flag: --fro (did you mean from?)"
        );
    }

    #[test]
    fn go_numbers() {
        assert_eq!(parse_go_bool("T"), Some(true));
        assert_eq!(parse_go_bool("False"), Some(false));
        assert_eq!(parse_go_bool("yes"), None);
        assert_eq!(parse_go_bool("tRue"), None);
        assert_eq!(parse_go_u32("0755", 8), Some(0o755));
        assert_eq!(parse_go_u32("8", 8), None);
        assert_eq!(parse_go_u32("+1", 10), None);
        assert_eq!(parse_go_u32("", 10), None);
        assert_eq!(parse_go_u32("4294967295", 10), Some(u32::MAX));
        assert_eq!(parse_go_u32("4294967296", 10), None);
        assert_eq!(parse_go_i32("-1"), Ok(-1));
        assert_eq!(parse_go_i32("+3"), Ok(3));
        assert_eq!(parse_go_i32(" 3"), Err(IntError::Syntax));
        assert_eq!(parse_go_i32("-"), Err(IntError::Syntax));
        assert_eq!(parse_go_i32("99999999999"), Err(IntError::Range));
        assert_eq!(parse_go_i32("-2147483648"), Ok(i32::MIN));
        assert_eq!(
            go_parse_int_message("abc", IntError::Syntax),
            "strconv.ParseInt: parsing \"abc\": invalid syntax"
        );
        assert_eq!(
            go_parse_int_message("99999999999", IntError::Range),
            "strconv.ParseInt: parsing \"99999999999\": value out of range"
        );
    }

    #[test]
    fn csv() {
        assert_eq!(csv_fields("a,b,c").unwrap(), ["a", "b", "c"]);
        assert_eq!(csv_fields("a,").unwrap(), ["a", ""]);
        assert_eq!(csv_fields(",").unwrap(), ["", ""]);
        assert_eq!(csv_fields("a\n").unwrap(), ["a"]);
        assert_eq!(csv_fields("\"a,b\",c").unwrap(), ["a,b", "c"]);
        assert_eq!(csv_fields("\"a\"\"b\"").unwrap(), ["a\"b"]);
        assert_eq!(csv_fields("\"a\"\"\"").unwrap(), ["a\""]);
        assert_eq!(csv_fields("\"\"").unwrap(), [""]);
        assert_eq!(csv_fields("").unwrap_err(), "EOF");
        assert_eq!(
            csv_fields("a,b\"c").unwrap_err(),
            "parse error on line 1, column 4: bare \" in non-quoted-field"
        );
        assert_eq!(
            csv_fields("\"abc").unwrap_err(),
            "parse error on line 1, column 2: extraneous or missing \" in quoted-field"
        );
        assert_eq!(
            csv_fields("\"a\"b").unwrap_err(),
            "parse error on line 1, column 3: extraneous or missing \" in quoted-field"
        );
    }
}
