//! EXPOSE port specs: `[ip:][hostport:]port[-end][/proto]` become
//! `port/proto` entries, with the reference's validation and lints.

use crate::instructions::checks::Checker;
use crate::{Error, Result, SourceRange};

/// Expands one EXPOSE word into `port/proto` strings; raises
/// ExposeProtoCasing and ExposeInvalidFormat for it.
pub fn parse_port(raw: &str, range: SourceRange, checker: &mut Checker<'_>) -> Result<Vec<String>> {
    let (ip, host_port, container) = split_parts(raw);
    let (port, proto) = container.split_once('/').unwrap_or((container, ""));
    let proto = validate_proto(port, proto)
        .map_err(|e| Error::new(format!("invalid port: {raw:?}: {e}")))?;
    if proto != proto.to_ascii_lowercase() {
        checker.run(
            "ExposeProtoCasing",
            format!("Defined protocol '{raw}' in EXPOSE instruction should be lowercase"),
            range,
        );
    }
    if !ip.is_empty() || !host_port.is_empty() {
        checker.run(
            "ExposeInvalidFormat",
            format!("EXPOSE instruction should not define an IP address or host-port mapping, found '{raw}'"),
            range,
        );
    }
    validate_ip(&ip)?;
    let (start, end) =
        port_range(port).map_err(|_| Error::new(format!("invalid containerPort: {port}")))?;
    if !host_port.is_empty() {
        let (hs, he) = port_range(host_port)
            .map_err(|_| Error::new(format!("invalid hostPort: {host_port}")))?;
        if end - start != he - hs && end != start {
            return Err(Error::new(format!(
                "invalid ranges specified for container and host Ports: {port} and {host_port}"
            )));
        }
    }
    let proto = proto.to_ascii_lowercase();
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

/// `[ip:]host:container` with IPv6 addresses possibly containing `:`.
fn split_parts(raw: &str) -> (String, &str, &str) {
    let parts: Vec<&str> = raw.split(':').collect();
    match parts.as_slice() {
        [c] => (String::new(), "", c),
        [h, c] => (String::new(), h, c),
        _ => {
            let n = parts.len();
            (parts[..n - 2].join(":"), parts[n - 2], parts[n - 1])
        }
    }
}

fn validate_proto<'a>(port: &str, proto: &'a str) -> std::result::Result<&'a str, String> {
    if port.is_empty() {
        return Err("no port specified".into());
    }
    match proto.to_ascii_lowercase().as_str() {
        "" => Ok("tcp"),
        "tcp" | "udp" | "sctp" => Ok(proto),
        _ => Err(format!("invalid proto: {proto}")),
    }
}

fn validate_ip(ip: &str) -> Result<()> {
    if ip.is_empty() {
        return Ok(());
    }
    let bare = match ip.strip_prefix('[') {
        Some(rest) => rest
            .strip_suffix(']')
            .ok_or_else(|| Error::new(format!("invalid IP address {ip}")))?,
        None => ip,
    };
    bare.parse::<std::net::IpAddr>()
        .map(|_| ())
        .map_err(|_| Error::new(format!("invalid IP address: {bare}")))
}

fn port_range(spec: &str) -> std::result::Result<(u32, u32), ()> {
    let Some((start, end)) = spec.split_once('-') else {
        let port = port_number(spec)?;
        return Ok((port, port));
    };
    let start = port_number(start)?;
    let end = port_number(end)?;
    if end < start {
        return Err(());
    }
    Ok((start, end))
}

fn port_number(s: &str) -> std::result::Result<u32, ()> {
    // Go's ParseInt accepts a leading sign.
    let n: i64 = s.parse().map_err(|_| ())?;
    if (0..=65535).contains(&n) {
        Ok(n as u32)
    } else {
        Err(())
    }
}

/// STOPSIGNAL values the reference accepts: a non-zero number or a known
/// signal name with or without `SIG`.
pub fn validate_signal(raw: &str) -> Result<()> {
    if let Ok(n) = raw.parse::<i64>() {
        return if n == 0 {
            Err(Error::new(format!("Invalid signal: {raw}")))
        } else {
            Ok(())
        };
    }
    let upper = raw.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if SIGNALS.contains(&name) || realtime_signal(name) {
        Ok(())
    } else {
        Err(Error::new(format!("Invalid signal: {raw}")))
    }
}

const SIGNALS: [&str; 33] = [
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU",
];

fn realtime_signal(name: &str) -> bool {
    if name == "XFSZ" || name == "RTMIN" || name == "RTMAX" {
        return true;
    }
    let offset = |rest: &str, max: u32| rest.parse::<u32>().is_ok_and(|n| (1..=max).contains(&n));
    match (name.strip_prefix("RTMIN+"), name.strip_prefix("RTMAX-")) {
        (Some(n), _) => offset(n, 15),
        (_, Some(n)) => offset(n, 14),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::CheckConfig;
    use crate::lint::Warning;
    use std::borrow::Cow;

    fn checker(warnings: &mut Vec<Warning>) -> Checker<'_> {
        Checker {
            config: Cow::Owned(CheckConfig::default()),
            warnings,
        }
    }

    fn ports(raw: &str) -> Result<Vec<String>> {
        parse_port(raw, SourceRange::line(1), &mut checker(&mut Vec::new()))
    }

    #[test]
    fn expands_specs() {
        assert_eq!(ports("80").unwrap(), ["80/tcp"]);
        assert_eq!(ports("53/udp").unwrap(), ["53/udp"]);
        assert_eq!(
            ports("8000-8002/tcp").unwrap(),
            ["8000/tcp", "8001/tcp", "8002/tcp"]
        );
        assert_eq!(ports("8080:80").unwrap(), ["80/tcp"]);
        assert_eq!(ports("127.0.0.1:8080:80/SCTP").unwrap(), ["80/sctp"]);
    }

    #[test]
    fn lints_casing_and_host_mappings() {
        let mut warnings = Vec::new();
        parse_port("80/TCP", SourceRange::line(4), &mut checker(&mut warnings)).unwrap();
        parse_port("8080:80", SourceRange::line(5), &mut checker(&mut warnings)).unwrap();
        let rules: Vec<_> = warnings.iter().map(|w| w.rule).collect();
        assert_eq!(rules, ["ExposeProtoCasing", "ExposeInvalidFormat"]);
        assert_eq!(
            warnings[0].message,
            "Defined protocol '80/TCP' in EXPOSE instruction should be lowercase"
        );
    }

    #[test]
    fn rejects_bad_specs() {
        assert_eq!(
            ports("80/foo").unwrap_err().message,
            "invalid port: \"80/foo\": invalid proto: foo"
        );
        assert_eq!(
            ports("/tcp").unwrap_err().message,
            "invalid port: \"/tcp\": no port specified"
        );
        assert_eq!(
            ports("abc").unwrap_err().message,
            "invalid containerPort: abc"
        );
        assert_eq!(
            ports("70000").unwrap_err().message,
            "invalid containerPort: 70000"
        );
        assert_eq!(
            ports("90-80").unwrap_err().message,
            "invalid containerPort: 90-80"
        );
        assert_eq!(
            ports("nope:1:80").unwrap_err().message,
            "invalid IP address: nope"
        );
    }

    #[test]
    fn signals() {
        for ok in ["SIGTERM", "term", "9", "SIGRTMIN+3", "RTMAX-1", "SIGWINCH"] {
            assert!(validate_signal(ok).is_ok(), "{ok}");
        }
        for bad in ["0", "SIGFOO", "RTMIN+16", ""] {
            assert_eq!(
                validate_signal(bad).unwrap_err().message,
                format!("Invalid signal: {bad}")
            );
        }
    }
}
