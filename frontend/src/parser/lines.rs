//! Physical lines and the small per-line rules of the reference parser.
//!
//! A Dockerfile is read line by line, each line keeping its `\n` (heredoc
//! bodies are copied verbatim). Lines longer than 65535 bytes (newline
//! excluded) stop the reading, as Go's `bufio.Scanner` does in the
//! reference; the parser then reports
//! `dockerfile line greater than max allowed size of 65535`.

/// Longest line the reference can read (`bufio.MaxScanTokenSize - 1`).
pub const MAX_LINE_LEN: usize = 64 * 1024 - 1;

/// Iterator over the lines of a text, each with its trailing `\n` if any.
pub struct Lines<'a> {
    rest: &'a str,
    /// Set once a line over [`MAX_LINE_LEN`] was met; no line is returned
    /// after that.
    pub too_long: bool,
}

impl<'a> Lines<'a> {
    pub fn new(text: &'a str) -> Self {
        Lines {
            rest: text,
            too_long: false,
        }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() || self.too_long {
            return None;
        }
        let (content_len, line_len) = match self.rest.find('\n') {
            Some(i) => (i, i + 1),
            None => (self.rest.len(), self.rest.len()),
        };
        if content_len > MAX_LINE_LEN {
            self.too_long = true;
            return None;
        }
        let (line, rest) = self.rest.split_at(line_len);
        self.rest = rest;
        Some(line)
    }
}

/// Drops trailing `\r` and `\n` characters (all of them).
pub fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

/// Whether the line is a comment: `#` after optional white space.
pub fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// The text the reference keeps as a comment for `prev_comments`: the line
/// minus its first byte, trimmed. (For an indented comment the first byte
/// is a space, so the `#` stays: `  # x` gives `# x`.)
pub fn comment_text(line: &str) -> String {
    let bytes = line.as_bytes();
    let rest = match line.get(1..) {
        Some(rest) => std::borrow::Cow::Borrowed(rest),
        // A line starting with a multi-byte white-space character.
        None => String::from_utf8_lossy(&bytes[1..]),
    };
    rest.trim().to_string()
}

/// Applies the line-continuation rule: if the line ends with the escape
/// character (then only spaces and tabs), and that character is either
/// the first on the line or not itself escaped, it is removed together with
/// what follows it and the line continues. Returns the remaining text and
/// whether the line continues.
///
/// An escaped escape (`\\`) at the end does not continue the line; the
/// reference does not look further back, so `\\\` does not either.
pub fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    let Some(before) = trimmed.strip_suffix(escape) else {
        return (line, false);
    };
    if !before.is_empty() && before.ends_with(escape) {
        return (line, false);
    }
    (before, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_keeping_newlines() {
        let lines: Vec<_> = Lines::new("a\r\nb\n\nc").collect();
        assert_eq!(lines, ["a\r\n", "b\n", "\n", "c"]);
        assert_eq!(Lines::new("").count(), 0);
        assert_eq!(Lines::new("\n").collect::<Vec<_>>(), ["\n"]);
    }

    #[test]
    fn stops_at_overlong_lines() {
        let ok = "a".repeat(MAX_LINE_LEN);
        let text = format!("x\n{ok}\n{ok}a\ny\n");
        let mut lines = Lines::new(&text);
        assert_eq!(lines.next(), Some("x\n"));
        assert_eq!(lines.next().map(str::len), Some(MAX_LINE_LEN + 1));
        assert_eq!(lines.next(), None);
        assert!(lines.too_long);
        assert_eq!(lines.next(), None);
        let last = format!("{ok}a");
        let mut lines = Lines::new(&last);
        assert_eq!(lines.next(), None);
        assert!(lines.too_long);
        assert_eq!(Lines::new(&ok).count(), 1);
    }

    #[test]
    fn comments() {
        assert!(is_comment("# x"));
        assert!(is_comment("  \t# x"));
        assert!(!is_comment("RUN # x"));
        assert!(!is_comment(""));
        assert_eq!(comment_text("# hello \n"), "hello");
        assert_eq!(comment_text("#\n"), "");
        assert_eq!(comment_text("  # indented"), "# indented");
        assert_eq!(comment_text("\u{a0}# x"), "\u{fffd}# x");
    }

    #[test]
    fn continuations() {
        let cases: &[(&str, &str, bool)] = &[
            ("RUN a \\", "RUN a ", true),
            ("RUN a\\", "RUN a", true),
            ("RUN a \\  \t", "RUN a ", true),
            ("\\", "", true),
            ("\\ ", "", true),
            ("RUN a \\\\", "RUN a \\\\", false),
            ("RUN a \\\\\\", "RUN a \\\\\\", false),
            ("\\\\", "\\\\", false),
            ("RUN a \\ x", "RUN a \\ x", false),
            ("RUN a", "RUN a", false),
            ("RUN a \\\u{b}", "RUN a \\\u{b}", false),
            ("RUN é\\", "RUN é", true),
            ("", "", false),
        ];
        for &(line, want, cont) in cases {
            assert_eq!(trim_continuation(line, '\\'), (want, cont), "{line:?}");
        }
        assert_eq!(trim_continuation("RUN a `", '`'), ("RUN a ", true));
        assert_eq!(trim_continuation("RUN a \\", '`'), ("RUN a \\", false));
        assert_eq!(trim_continuation("RUN a ``", '`'), ("RUN a ``", false));
    }

    #[test]
    fn trims_newlines() {
        assert_eq!(trim_newline("a\r\r\n"), "a");
        assert_eq!(trim_newline("a\n\r"), "a");
        assert_eq!(trim_newline("a\rb"), "a\rb");
    }
}
