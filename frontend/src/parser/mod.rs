//! Dockerfile text -> AST nodes (see `node.rs` for the node shape).
//!
//! [`parse`] reads a Dockerfile the way BuildKit's parser does, so that
//! every file BuildKit accepts gives the same instructions here:
//!
//! 1. **Directives** (`# syntax=`, `# escape=`, `# check=`) are read from
//!    the comment lines at the top (`directives.rs`).
//! 2. **Logical lines**: leading white space is dropped, comment lines are
//!    skipped (also in the middle of a continued instruction), a line
//!    ending in the escape character continues on the next one, and empty
//!    lines inside a continuation are skipped with a `NoEmptyContinuation`
//!    warning. Continued lines are joined as written, without separators.
//! 3. **Instruction**: the first word is the keyword, leading `--flags`
//!    are taken off, and the rest is split by the instruction's own rule
//!    (`line_parsers.rs`), including the JSON (exec) form.
//! 4. **Heredocs**: RUN/COPY/ADD lines with `<<NAME` words take the
//!    following lines as bodies (`heredoc.rs`).
//!
//! Nothing is expanded here; the instruction stage interprets the words.
//! [`dump()`] prints the reference's AST format used by the conformance
//! vectors.

mod directives;
mod dump;
mod heredoc;
mod json;
mod line_parsers;
mod lines;
mod node;
mod split_command;

pub use crate::golang::{go_quote, go_to_lower, is_go_printable};
pub use directives::{detect_syntax, parse_directive, Directive, DirectiveParser, Directives};
pub use dump::dump;
pub use heredoc::{chomp_heredoc_content, parse_heredoc};
pub use json::{parse_string_array, JsonError};
pub use lines::MAX_LINE_LEN;
pub use node::{Heredoc, Node};
pub use split_command::{split_command, SplitLine};

use crate::lint::Warning;
use crate::{Error, Result, SourceRange};

use lines::{comment_text, is_comment, trim_continuation, trim_newline, Lines};

/// Rule name of the warning for empty lines inside a continuation.
pub const NO_EMPTY_CONTINUATION: &str = "NoEmptyContinuation";

/// The result of parsing a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// One node per instruction, in file order.
    pub nodes: Vec<Node>,
    /// The escape character in effect (`\` unless `# escape=`` ` ``).
    pub escape: char,
    pub directives: Directives,
    /// Non-fatal findings (empty continuation lines).
    pub warnings: Vec<Warning>,
}

impl Parsed {
    /// The reference AST dump of all nodes.
    pub fn dump(&self) -> String {
        dump(&self.nodes)
    }
}

/// Parses a Dockerfile into instruction nodes.
///
/// Errors carry the lines they are about: a malformed directive, an
/// instruction whose arguments cannot be parsed (`ENV x`, a JSON array
/// holding non-strings), an unterminated heredoc, a file without any
/// instruction, or a line longer than [`MAX_LINE_LEN`].
pub fn parse(text: &str) -> Result<Parsed> {
    let mut parser = Parser::new(text);
    parser.run()?;
    let syntax = detect_syntax(text);
    let check = parse_directive("check", text);
    let directives = Directives {
        syntax_line: syntax.as_ref().map(|d| d.line),
        syntax: syntax.map(|d| d.value),
        check_line: check.as_ref().map(|d| d.line),
        check: check.map(|d| d.value),
        ..parser.directives
    };
    Ok(Parsed {
        nodes: parser.nodes,
        escape: parser.escape,
        directives,
        warnings: parser.warnings,
    })
}

struct Parser<'a> {
    lines: Lines<'a>,
    /// Number of physical lines read so far (the 1-based number of the
    /// last one).
    line_no: usize,
    escape: char,
    directive_parser: DirectiveParser,
    directives: Directives,
    nodes: Vec<Node>,
    warnings: Vec<Warning>,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser {
            lines: Lines::new(text),
            line_no: 0,
            escape: '\\',
            directive_parser: DirectiveParser::new(),
            directives: Directives::default(),
            nodes: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn next_line(&mut self) -> Option<&'a str> {
        let line = self.lines.next()?;
        self.line_no += 1;
        Some(line)
    }

    fn run(&mut self) -> Result<()> {
        let mut comments: Vec<String> = Vec::new();
        while let Some(mut raw) = self.next_line() {
            if self.line_no == 1 {
                raw = raw.strip_prefix('\u{feff}').unwrap_or(raw);
            }
            let comment = is_comment(raw);
            if comment {
                let text = comment_text(raw);
                if text.is_empty() {
                    comments.clear();
                } else {
                    comments.push(text);
                }
            }
            let line = trim_newline(raw).trim_start();
            if self.directive(line)? {
                // Directives are not documentation of the next instruction.
                comments.pop();
            }
            let content = if comment { "" } else { line };

            let start = self.line_no;
            let (first, mut continues) = trim_continuation(content, self.escape);
            if !continues && first.is_empty() {
                continue;
            }
            let mut logical = first.to_string();
            let mut had_empty_line = false;
            while continues {
                let Some(raw) = self.next_line() else { break };
                if is_comment(raw) {
                    continue;
                }
                let line = trim_newline(raw);
                if line.trim_start().is_empty() {
                    had_empty_line = true;
                    continue;
                }
                let (part, more) = trim_continuation(line, self.escape);
                logical.push_str(part);
                continues = more;
            }

            if had_empty_line {
                self.warnings.push(Warning::new(
                    NO_EMPTY_CONTINUATION,
                    format!("Empty continuation line found in: {logical}"),
                    SourceRange::line(self.line_no),
                ));
            }

            let range = |end| SourceRange::lines(start, end);
            let mut node =
                line_parsers::node_from_line(logical, self.escape, std::mem::take(&mut comments))
                    .map_err(|e| e.or_at(range(self.line_no)))?;
            if heredoc::can_contain_heredoc(&node) && node.original.contains("<<") {
                let docs = heredoc::heredocs_from_line(&node.original)
                    .map_err(|e| e.or_at(range(self.line_no)))?;
                for mut doc in docs {
                    doc.content = self
                        .heredoc_body(&doc)
                        .ok_or_else(|| Error::at("unterminated heredoc", range(self.line_no)))?;
                    node.heredocs.push(doc);
                }
            }
            set_lines(&mut node, start, self.line_no);
            self.nodes.push(node);
        }

        if self.nodes.is_empty() {
            return Err(Error::at(
                "file with no instructions",
                SourceRange::line(self.line_no.max(1)),
            ));
        }
        if self.lines.too_long {
            return Err(Error::at(
                format!("dockerfile line greater than max allowed size of {MAX_LINE_LEN}"),
                SourceRange::line(self.line_no + 1),
            ));
        }
        Ok(())
    }

    /// Feeds a line to the directive parser; true if it was a directive.
    fn directive(&mut self, line: &str) -> Result<bool> {
        let at = SourceRange::line(self.line_no);
        let Some(d) = self
            .directive_parser
            .parse_line(line)
            .map_err(|e| Error::at(e, at))?
        else {
            return Ok(false);
        };
        // `syntax` and `check` are taken from the raw file by `parse`, the
        // way BuildKit's frontend reads them.
        if d.name == "escape" {
            self.escape = directives::escape_char(&d.value).map_err(|e| Error::at(e, at))?;
            self.directives.escape = Some(d.value);
            self.directives.escape_line = Some(d.line);
        }
        Ok(true)
    }

    /// Reads a heredoc body up to its terminator line; `None` at the end of
    /// the file.
    fn heredoc_body(&mut self, doc: &Heredoc) -> Option<String> {
        let mut body = String::new();
        loop {
            let raw = self.next_line()?;
            let mut candidate = trim_newline(raw);
            if doc.chomp {
                candidate = candidate.trim_start_matches('\t');
            }
            if candidate == doc.name {
                return Some(body);
            }
            body.push_str(raw);
        }
    }
}

fn set_lines(node: &mut Node, start: usize, end: usize) {
    node.start_line = start;
    node.end_line = end;
    if let Some(child) = node.nested.as_deref_mut() {
        set_lines(child, start, end);
    }
}

#[cfg(test)]
mod tests;
