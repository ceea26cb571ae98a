//! How the binary reports errors, and its exit codes: 0 success, 1 a
//! failed build (or any other error), 2 a usage error (bad flag or flag
//! value, as clap reports them).
//!
//! A failed step is shown as BuildKit shows it, and then some: its last
//! output lines, the Dockerfile excerpt with the line marked, and last the
//! `error:` line with the step, the command and its exit code — the line
//! a CI log ends with.
//!
//! ```text
//! ------
//!  > [stage-1 2/2] RUN make:
//! 0.104 hello.c:3: error: expected ';'
//! ------
//! Dockerfile:7
//! --------------------
//!    6 |     COPY hello.c .
//!    7 | >>> RUN make
//! --------------------
//! error: [stage-1 2/2] RUN make: process "/bin/sh -c make" did not complete successfully: exit code: 2
//! ```

use std::fmt::Write as _;

use crate::diagnostic;
use crate::progress::{offset_text, Step};

/// Exit code of a usage error (clap's).
pub const USAGE: i32 = 2;

/// A bad command line: a flag value kiln cannot use. Exits 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Shorthand for a [`UsageError`] as an `anyhow::Error`.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError(message.into()).into()
}

/// A build that failed at a step: `context` (output tail, excerpt) is
/// printed before the `error:` line.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct BuildFailure {
    pub context: String,
    pub message: String,
}

impl BuildFailure {
    /// The report of a failed `step`: its output tail, then the excerpt of
    /// `source` (file `file`) at `range`, when known.
    pub fn at_step(
        step: Option<&Step>,
        excerpt: Option<(&str, &str, kiln_frontend::SourceRange)>,
        message: String,
    ) -> BuildFailure {
        let mut context = String::new();
        if let Some(step) = step {
            let _ = writeln!(context, "------\n > {}:", step.name);
            for (offset, line) in &step.tail {
                let _ = writeln!(context, "{} {line}", offset_text(*offset));
            }
            context.push_str("------\n");
            if let Some(hint) = step.exit_code.and_then(exit_hint) {
                let _ = writeln!(context, "exit code {}: {hint}", step.exit_code.unwrap_or(0));
            }
        }
        if let Some((file, source, range)) = excerpt {
            context.push_str(&diagnostic::excerpt(file, source, range));
        }
        BuildFailure { context, message }
    }
}

/// What a shell's exit code usually means, when it says more than
/// "failed".
fn exit_hint(code: i32) -> Option<String> {
    let signal = |n: i32| match n {
        2 => Some("SIGINT"),
        6 => Some("SIGABRT"),
        9 => Some("SIGKILL (out of memory?)"),
        11 => Some("SIGSEGV"),
        15 => Some("SIGTERM"),
        _ => None,
    };
    match code {
        126 => Some("the command is not executable".to_string()),
        127 => Some("the command was not found (is it in the image, on PATH?)".to_string()),
        c if c > 128 => signal(c - 128).map(|s| format!("killed by {s}")),
        _ => None,
    }
}

/// Prints `err` as `error: ...` with its cause chain on stderr; returns
/// the exit code.
pub fn print_error(err: &anyhow::Error) -> i32 {
    if let Some(failure) = err.downcast_ref::<BuildFailure>() {
        eprint!("{}", failure.context);
    }
    eprintln!("error: {err:#}");
    if err.downcast_ref::<UsageError>().is_some() {
        USAGE
    } else {
        1
    }
}
