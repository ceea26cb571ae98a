//! Sizes and times the way the docker CLI prints them (`4.26MB`,
//! `2 minutes ago`), and RFC 3339 parsing for image `created` fields.

use anyhow::{bail, Result};

/// Docker's `units.HumanSizeWithPrecision(size, 3)`: decimal units, three
/// significant digits (`0B`, `812B`, `1.23kB`, `45.6MB`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    format!("{}{}", go_g3(size), UNITS[unit])
}

/// Go's `%.3g` for 0 <= v < 1000.
fn go_g3(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let magnitude = v.log10().floor() as i32;
    let decimals = (2 - magnitude).max(0) as usize;
    let text = format!("{v:.decimals$}");
    if text
        .trim_start_matches('0')
        .split('.')
        .next()
        .unwrap_or("")
        .len()
        > 3
    {
        return "1e+03".into(); // 999.5 rounds up, as Go prints it
    }
    match text.contains('.') {
        true => text.trim_end_matches('0').trim_end_matches('.').to_string(),
        false => text,
    }
}

/// Parses a size with an optional unit: `512`, `10k`, `1.5MB`, `2GiB`,
/// `1g` (decimal for `kB`/`MB`, binary for `k`/`KiB`, as docker's
/// `RAMInBytes` treats single letters as binary).
pub fn parse_size(text: &str) -> Result<u64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let Ok(value) = number.parse::<f64>() else {
        bail!("invalid size {text:?}: expected a number with an optional unit (B, k, MB, GiB...)");
    };
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1000,
        "mb" => 1000 * 1000,
        "gb" => 1000 * 1000 * 1000,
        "tb" => 1000 * 1000 * 1000 * 1000,
        other => bail!("invalid size {text:?}: unknown unit {other:?}"),
    };
    Ok((value * factor as f64) as u64)
}

/// Docker's `units.HumanDuration`, plus " ago" (`docker images` CREATED).
pub fn ago(secs: i64, now: i64) -> String {
    format!("{} ago", human_duration(now.saturating_sub(secs)))
}

fn human_duration(seconds: i64) -> String {
    let minutes = seconds / 60;
    let hours = (seconds + 1800) / 3600; // rounded, as Go's d.Round(time.Hour)
    match seconds {
        s if s < 1 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        s => format!("{} years", s / 3600 / 24 / 365),
    }
}

/// Seconds since the epoch now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Parses RFC 3339 (`2024-05-01T12:00:00.123Z`, `...+02:00`) to Unix
/// seconds; `None` if malformed.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &text[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        rest = frac.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset = match rest {
        "Z" | "z" => 0,
        tz if tz.len() == 6 => {
            let sign = match &tz[..1] {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            sign * (tz[1..3].parse::<i64>().ok()? * 3600 + tz[4..6].parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    Some(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Go's `time.Time.String()` of a UTC time, as `docker images --format
/// json` shows `CreatedAt`: `2024-05-01 12:00:00 +0000 UTC`.
pub fn go_time(secs: i64) -> String {
    let rfc = crate::export::rfc3339(secs);
    format!("{} {} +0000 UTC", &rfc[..10], &rfc[11..19])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_docker() {
        for (n, s) in [
            (0, "0B"),
            (812, "812B"),
            (1234, "1.23kB"),
            (4_261_376, "4.26MB"),
            (45_600_000, "45.6MB"),
            (123_456_789, "123MB"),
            (2_000_000_000, "2GB"),
            (999_600, "1e+03kB"),
        ] {
            assert_eq!(human_size(n), s, "{n}");
        }
        assert_eq!(parse_size("10MB").unwrap(), 10_000_000);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("1.5k").unwrap(), 1536);
        assert_eq!(parse_size("0").unwrap(), 0);
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5 parsecs").is_err());
    }

    #[test]
    fn durations_like_docker() {
        assert_eq!(ago(100, 100), "Less than a second ago");
        assert_eq!(ago(0, 45), "45 seconds ago");
        assert_eq!(ago(0, 90), "About a minute ago");
        assert_eq!(ago(0, 150), "2 minutes ago");
        assert_eq!(ago(0, 3 * 3600), "3 hours ago");
        assert_eq!(ago(0, 5 * 86400), "5 days ago");
        assert_eq!(ago(0, 20 * 86400), "2 weeks ago");
        assert_eq!(ago(0, 90 * 86400), "3 months ago");
        assert_eq!(ago(0, 3 * 365 * 86400), "3 years ago");
    }

    #[test]
    fn rfc3339_round_trips() {
        for secs in [0, 1, 1_700_000_000, 951_782_400] {
            assert_eq!(parse_rfc3339(&crate::export::rfc3339(secs)), Some(secs));
        }
        assert_eq!(
            parse_rfc3339("2024-01-01T01:00:00.5+01:00"),
            Some(1_704_067_200)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(go_time(0), "1970-01-01 00:00:00 +0000 UTC");
    }
}
