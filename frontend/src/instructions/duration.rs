//! Go's `time.ParseDuration` (`30s`, `1m30s`, `1.5h`, `500ms`, `-1s`),
//! which HEALTHCHECK's interval flags use, with Go's error texts.

const NANOS_PER_UNIT: [(&str, u64); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

const LIMIT: u64 = 1 << 63;

/// Quotes as Go's `time` package does in its errors: printable ASCII as
/// is (`"` and `\` escaped), every other byte as `\xNN`.
fn time_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for &b in s.as_bytes() {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(b));
            }
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

/// A duration in nanoseconds, parsed as Go parses it: an optional sign,
/// then one or more `<decimal number><unit>` terms.
pub fn parse_go_duration(text: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", time_quote(text));
    let (negative, mut s) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        let first = s.as_bytes()[0];
        if !(first == b'.' || first.is_ascii_digit()) {
            return Err(invalid());
        }

        // Integer part.
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let mut whole: u64 = 0;
        for b in s[..int_len].bytes() {
            if whole > LIMIT / 10 {
                return Err(invalid());
            }
            whole = whole * 10 + u64::from(b - b'0');
            if whole > LIMIT {
                return Err(invalid());
            }
        }
        s = &s[int_len..];

        // Fraction: keeps accumulating digits while they fit.
        let mut fraction: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut frac_len = 0;
        if let Some(rest) = s.strip_prefix('.') {
            frac_len = rest.bytes().take_while(u8::is_ascii_digit).count();
            let mut overflow = false;
            for b in rest[..frac_len].bytes() {
                if overflow {
                    continue;
                }
                if fraction > (LIMIT - 1) / 10 {
                    overflow = true;
                    continue;
                }
                let next = fraction * 10 + u64::from(b - b'0');
                if next > LIMIT {
                    overflow = true;
                    continue;
                }
                fraction = next;
                scale *= 10.0;
            }
            s = &rest[frac_len..];
        }
        if int_len == 0 && frac_len == 0 {
            return Err(invalid());
        }

        // Unit: everything up to the next digit or dot.
        let unit_len = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if unit_len == 0 {
            return Err(format!(
                "time: missing unit in duration {}",
                time_quote(text)
            ));
        }
        let unit_text = &s[..unit_len];
        s = &s[unit_len..];
        let Some(&(_, unit)) = NANOS_PER_UNIT.iter().find(|(name, _)| *name == unit_text) else {
            return Err(format!(
                "time: unknown unit {} in duration {}",
                time_quote(unit_text),
                time_quote(text)
            ));
        };
        if whole > LIMIT / unit {
            return Err(invalid());
        }
        let mut value = whole * unit;
        if fraction > 0 {
            // Truncation toward zero, as Go's float-to-integer conversion.
            value += (fraction as f64 * (unit as f64 / scale)) as u64;
            if value > LIMIT {
                return Err(invalid());
            }
        }
        total += value;
        if total > LIMIT {
            return Err(invalid());
        }
    }
    if negative {
        // -(1<<63) is representable; wrapping handles exactly that case.
        return Ok((total as i64).wrapping_neg());
    }
    if total > LIMIT - 1 {
        return Err(invalid());
    }
    Ok(total as i64)
}

#[cfg(test)]
mod tests {
    use super::parse_go_duration;

    #[test]
    fn valid() {
        for (text, nanos) in [
            ("30s", 30_000_000_000),
            ("1m30s", 90_000_000_000),
            ("500ms", 500_000_000),
            ("1.5h", 5_400_000_000_000),
            ("-1s", -1_000_000_000),
            ("+5s", 5_000_000_000),
            ("0", 0),
            ("-0", 0),
            ("1.s", 1_000_000_000),
            (".5s", 500_000_000),
            ("1µs", 1_000),
            ("1μs", 1_000),
            ("1us", 1_000),
            ("10ns", 10),
            ("0.5ms", 500_000),
            ("1h2m3s4ms5us6ns", 3_723_004_005_006),
            ("0.0000000001s", 0),
            ("1h1.5m", 3_690_000_000_000),
            ("9223372036854775807ns", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
        ] {
            assert_eq!(parse_go_duration(text), Ok(nanos), "{text}");
        }
    }

    #[test]
    fn invalid() {
        for (text, message) in [
            ("", "time: invalid duration \"\""),
            ("-", "time: invalid duration \"-\""),
            ("5", "time: missing unit in duration \"5\""),
            ("1x", "time: unknown unit \"x\" in duration \"1x\""),
            ("1d", "time: unknown unit \"d\" in duration \"1d\""),
            ("1s2", "time: missing unit in duration \"1s2\""),
            (".s", "time: invalid duration \".s\""),
            ("s", "time: invalid duration \"s\""),
            ("1 s", "time: unknown unit \" s\" in duration \"1 s\""),
            (
                "9223372036854775808ns",
                "time: invalid duration \"9223372036854775808ns\"",
            ),
            ("3000000h", "time: invalid duration \"3000000h\""),
            ("+", "time: invalid duration \"+\""),
            ("1.5.5s", "time: missing unit in duration \"1.5.5s\""),
            ("1e3s", "time: unknown unit \"e\" in duration \"1e3s\""),
            (
                "1µx",
                "time: unknown unit \"\\xc2\\xb5x\" in duration \"1\\xc2\\xb5x\"",
            ),
            ("\"1\n", "time: invalid duration \"\\\"1\\x0a\""),
            (
                "99999999999999999999s",
                "time: invalid duration \"99999999999999999999s\"",
            ),
        ] {
            assert_eq!(parse_go_duration(text), Err(message.to_string()), "{text}");
        }
    }
}
