//! The frontend's error type: a message plus, where known, the Dockerfile
//! lines it is about, so the CLI can print `file:line` and a snippet.

use std::fmt;

/// Lines (1-based, inclusive) and optionally a column (1-based) in the
/// Dockerfile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct SourceRange {
    pub start_line: usize,
    pub end_line: usize,
    /// Column of the offending text on `start_line`, when it is known.
    pub column: Option<usize>,
}

impl SourceRange {
    pub fn lines(start_line: usize, end_line: usize) -> Self {
        SourceRange {
            start_line,
            end_line: end_line.max(start_line),
            column: None,
        }
    }

    pub fn line(line: usize) -> Self {
        Self::lines(line, line)
    }
}

impl fmt::Display for SourceRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.start_line)?;
        if let Some(col) = self.column {
            write!(f, ":{col}")?;
        }
        Ok(())
    }
}

/// A frontend error. `Display` prints the message only; callers that know
/// the file name render the location (see `range`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub message: String,
    pub range: Option<SourceRange>,
}

impl Error {
    pub fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
            range: None,
        }
    }

    pub fn at(message: impl Into<String>, range: SourceRange) -> Self {
        Error {
            message: message.into(),
            range: Some(range),
        }
    }

    /// Attaches `range` unless the error already knows a more precise one.
    pub fn or_at(mut self, range: SourceRange) -> Self {
        if self.range.is_none() {
            self.range = Some(range);
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;
