//! The parser's output: one [`Node`] per instruction.
//!
//! BuildKit keeps instructions as a linked list of `Node{Value, Next,
//! Children}`; kiln flattens the `Next` chain into `args` and keeps the one
//! case of a nested instruction (ONBUILD) in `nested`. `dump` renders the
//! reference's s-expression format used by the conformance vectors.

use crate::SourceRange;

/// One Dockerfile instruction as parsed, before any typing or expansion.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Node {
    /// The instruction keyword exactly as written (`RUN`, `run`, `Run`).
    pub keyword: String,
    /// The whole logical line (continuations joined, comments removed).
    pub original: String,
    /// Flags written before the arguments (`--from=build`), verbatim.
    pub flags: Vec<String>,
    /// The arguments after the instruction's own line parser ran.
    pub args: Vec<String>,
    /// ONBUILD's trigger instruction (then `args` is empty).
    pub nested: Option<Box<Node>>,
    /// The arguments were written in JSON (exec) form.
    pub json: bool,
    /// Heredoc bodies attached to this instruction, in order.
    pub heredocs: Vec<Heredoc>,
    /// 1-based first and last source line of the instruction (heredoc
    /// bodies included).
    pub start_line: usize,
    pub end_line: usize,
    /// Comment lines directly above the instruction (without `#`).
    pub prev_comments: Vec<String>,
}

/// A heredoc attached to RUN/COPY/ADD (`<<EOF`, `<<-EOF`, `3<<"EOF"`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Heredoc {
    /// The delimiter word, quotes removed.
    pub name: String,
    /// File descriptor prefix (`3<<EOF`), 0 when absent.
    pub file_descriptor: u32,
    /// False when any part of the delimiter was quoted (no expansion).
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from the body lines.
    pub chomp: bool,
    /// The body, lines with their newlines, terminator line excluded.
    pub content: String,
}

impl Node {
    /// Lower-case instruction name (`run`), the key every later step uses.
    /// Lower-cased as Go does it (so `WOR\u{212A}DIR`, with a Kelvin sign,
    /// is `workdir` as in BuildKit).
    pub fn name(&self) -> String {
        crate::golang::go_to_lower(&self.keyword)
    }

    pub fn range(&self) -> SourceRange {
        SourceRange::lines(self.start_line, self.end_line)
    }
}
