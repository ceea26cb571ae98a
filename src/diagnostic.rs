//! Renders frontend errors and warnings the way `docker build` shows them:
//! the file and line, then an excerpt with the offending lines marked.
//!
//! ```text
//! Dockerfile:3
//! --------------------
//!    1 |     FROM busybox
//!    2 |     WORKDIR /app
//!    3 | >>> COPYY . .
//! --------------------
//! ```

use std::fmt::Write as _;

use kiln_frontend::SourceRange;

/// Lines of context shown before the marked range.
const CONTEXT_BEFORE: usize = 2;
/// At most this many marked lines are shown.
const MAX_MARKED: usize = 6;

/// `file:line` followed by the excerpt of `source` around `range`.
pub fn excerpt(file: &str, source: &str, range: SourceRange) -> String {
    let lines: Vec<&str> = source.lines().collect();
    let mut out = format!("{file}:{}\n", range.start_line);
    if range.start_line == 0 || range.start_line > lines.len() {
        return out;
    }
    let first = range.start_line.saturating_sub(CONTEXT_BEFORE).max(1);
    let last = range
        .end_line
        .min(lines.len())
        .min(range.start_line + MAX_MARKED - 1);
    let width = last.to_string().len().max(4);
    out.push_str("--------------------\n");
    for n in first..=last {
        let marker = if n >= range.start_line { ">>>" } else { "   " };
        let _ = writeln!(out, "{n:>width$} | {marker} {}", lines[n - 1]);
    }
    out.push_str("--------------------\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_the_offending_lines_with_context() {
        let src = "FROM busybox\nWORKDIR /app\nCOPYY . .\nRUN true\n";
        let text = excerpt("Dockerfile", src, SourceRange::line(3));
        assert_eq!(
            text,
            "Dockerfile:3\n--------------------\n   1 |     FROM busybox\n   2 |     WORKDIR /app\n   3 | >>> COPYY . .\n--------------------\n"
        );
    }

    #[test]
    fn out_of_range_lines_give_just_the_location() {
        assert_eq!(
            excerpt("Dockerfile", "", SourceRange::line(1)),
            "Dockerfile:1\n"
        );
    }
}
