//! Dockerfile text -> AST nodes (see `node.rs` for the node shape).
//!
//! Implemented in the parser module files; `parse` is the entry point.

mod node;

pub use node::{Heredoc, Node};
