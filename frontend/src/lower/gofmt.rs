//! Go `fmt` renderings that end up in image history (`created_by`):
//! BuildKit formats those strings with Go verbs, and kiln's history must
//! read the same.

use crate::definition::Healthcheck;

/// `%v` of a `[]string`: `[a b c]`.
pub fn list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// Go's `time.Duration.String()` for nanoseconds: `1h2m3.5s`, `500ms`, `0s`.
pub fn duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    if n < 1_000_000_000 {
        // Sub-second: the largest unit that keeps the integer part > 0.
        let (unit, scale) = if n < 1_000 {
            ("ns", 1)
        } else if n < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{sign}{}{unit}", fraction(n, scale));
    }
    let total_secs = n / 1_000_000_000;
    let (h, m) = (total_secs / 3600, (total_secs / 60) % 60);
    let secs = fraction(n % 60_000_000_000, 1_000_000_000);
    let mut out = sign.to_string();
    if h > 0 {
        out += &format!("{h}h");
    }
    if h > 0 || m > 0 {
        out += &format!("{m}m");
    }
    out + &format!("{secs}s")
}

/// `value / scale` with the fraction's trailing zeros removed.
fn fraction(value: u64, scale: u64) -> String {
    let (int, frac) = (value / scale, value % scale);
    if frac == 0 {
        return int.to_string();
    }
    let digits = scale.to_string().len() - 1;
    let frac = format!("{frac:0digits$}");
    format!("{int}.{}", frac.trim_end_matches('0'))
}

/// `%+v` of Docker's `HealthcheckConfig`, as in
/// `HEALTHCHECK {Test:[CMD true] Interval:30s Timeout:0s ...}`.
pub fn healthcheck(h: &Healthcheck) -> String {
    format!(
        "{{Test:{} Interval:{} Timeout:{} StartPeriod:{} StartInterval:{} Retries:{}}}",
        list(&h.test),
        duration(h.interval),
        duration(h.timeout),
        duration(h.start_period),
        duration(h.start_interval),
        h.retries
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_go() {
        for (nanos, want) in [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5µs"),
            (500_000_000, "500ms"),
            (1_000_000_000, "1s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_500_000_000, "1h2m3.5s"),
            (-2_000_000_000, "-2s"),
        ] {
            assert_eq!(duration(nanos), want, "{nanos}");
        }
    }

    #[test]
    fn healthcheck_prints_like_go_struct() {
        let h = Healthcheck {
            test: vec!["CMD-SHELL".into(), "curl -f http://x/".into()],
            interval: 30_000_000_000,
            timeout: 3_000_000_000,
            retries: 3,
            ..Healthcheck::default()
        };
        assert_eq!(
            healthcheck(&h),
            "{Test:[CMD-SHELL curl -f http://x/] Interval:30s Timeout:3s StartPeriod:0s StartInterval:0s Retries:3}"
        );
    }
}
