//! kiln-frontend: Dockerfile text -> build definition. Pure: no I/O.
//!
//! Three steps, three modules, each testable alone (as BuildKit's
//! `parser` / `instructions` / `dockerfile2llb`):
//!
//! 1. [`parser`]: text -> [`parser::Node`]s with line ranges, directives,
//!    heredocs. `Node::dump` prints the reference AST format.
//! 2. [`instructions`]: nodes -> typed commands grouped into stages.
//! 3. [`lower`]: stages + build args -> [`definition::BuildDefinition`], a DAG
//!    of ops with canonical digests and the image config of the target.
//!
//! [`shell`] implements the reference shell-word expansion used by all three.
//! Problems are [`Error`]s carrying a source range; non-fatal findings are
//! [`lint::Warning`]s collected along the way.

pub mod definition;
pub mod error;
pub mod golang;
pub mod instructions;
pub mod lint;
pub mod lower;
pub mod parser;
pub mod reference;
pub mod shell;
pub mod suggest;

pub use error::{Error, Result, SourceRange};
