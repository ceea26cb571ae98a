//! "did you mean ...?" suggestions, as BuildKit's `util/suggest`: the
//! closest option within an edit distance below 3.

/// The option closest to `value` (edit distance < 3), or `None` when there
/// is none or when `value` matches an option exactly.
pub fn search(value: &str, options: &[&str], case_sensitive: bool) -> Option<String> {
    let fold = |s: &str| {
        if case_sensitive {
            s.to_string()
        } else {
            s.to_lowercase()
        }
    };
    let wanted: Vec<char> = fold(value).chars().collect();
    let mut best: Option<String> = None;
    let mut min_distance = 3;
    for option in options {
        let candidate = fold(option);
        let chars: Vec<char> = candidate.chars().collect();
        if chars == wanted {
            return None;
        }
        let distance = levenshtein(&wanted, &chars);
        if distance < min_distance {
            min_distance = distance;
            best = Some(if case_sensitive {
                candidate
            } else {
                match_case(&candidate, value)
            });
        }
    }
    best
}

/// Appends ` (did you mean X?)` when there is a suggestion.
pub fn with_suggestion(
    message: String,
    value: &str,
    options: &[&str],
    case_sensitive: bool,
) -> String {
    match search(value, options, case_sensitive) {
        Some(m) => format!("{message} (did you mean {m}?)"),
        None => message,
    }
}

fn match_case(candidate: &str, original: &str) -> String {
    if original == original.to_lowercase() {
        candidate.to_lowercase()
    } else if original == original.to_uppercase() {
        candidate.to_uppercase()
    } else {
        candidate.to_string()
    }
}

fn levenshtein(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_options() {
        assert_eq!(
            search("FROMM", &["from", "run"], false).as_deref(),
            Some("FROM")
        );
        assert_eq!(
            search("buidl", &["build", "test"], true).as_deref(),
            Some("build")
        );
        assert_eq!(search("xyz", &["build"], true), None);
        assert_eq!(
            search("build", &["build", "buil"], true),
            None,
            "exact match: no suggestion"
        );
        assert_eq!(
            with_suggestion("unknown".into(), "Frm", &["from"], false),
            "unknown (did you mean from?)"
        );
    }
}
