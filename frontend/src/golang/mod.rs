//! Go-compatible renderings the reference's output depends on: BuildKit
//! prints AST dumps, error messages and image history with Go's `fmt` and
//! `strconv`, and kiln must read the same byte for byte.

mod fmt;
mod print_table;
mod quote;

pub use fmt::{duration, healthcheck, list, rfc3339_utc};
pub use quote::{go_quote, go_quote_list, go_to_lower, is_go_printable};
pub(crate) use quote::{is_latin1_space, is_separator_space, push_go_quoted};
