//! The reference AST dump, the format of the conformance vectors:
//!
//! ```text
//! (from "alpine")
//! (copy ["--from=build" "--chown=1"] "a" "b")
//! (onbuild (run "echo hi"))
//! ```
//!
//! One line per instruction: the lower-cased keyword, the flags as Go's
//! `%q` prints a string slice, then each argument Go-quoted; ONBUILD's
//! trigger is dumped in parentheses in place of arguments.

use super::node::Node;
use crate::golang::{go_quote_list, go_to_lower, push_go_quoted};

impl Node {
    /// This instruction in the reference dump format, without parentheses.
    pub fn dump(&self) -> String {
        let mut out = go_to_lower(&self.keyword);
        if !self.flags.is_empty() {
            out.push(' ');
            out.push_str(&go_quote_list(&self.flags));
        }
        for arg in &self.args {
            out.push(' ');
            push_go_quoted(&mut out, arg);
        }
        if let Some(child) = &self.nested {
            out.push_str(" (");
            out.push_str(&child.dump());
            out.push(')');
        }
        // The reference trims the result (this only matters for an empty
        // keyword).
        out.trim().to_string()
    }
}

/// The dump of a whole file: one parenthesised line per node, ending with
/// a newline (byte for byte the vectors' `result` files).
pub fn dump(nodes: &[Node]) -> String {
    let mut out = String::new();
    for node in nodes {
        out.push('(');
        out.push_str(&node.dump());
        out.push_str(")\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(keyword: &str, flags: &[&str], args: &[&str]) -> Node {
        Node {
            keyword: keyword.into(),
            flags: flags.iter().map(|s| s.to_string()).collect(),
            args: args.iter().map(|s| s.to_string()).collect(),
            ..Node::default()
        }
    }

    #[test]
    fn dumps_nodes() {
        assert_eq!(node("FROM", &[], &["alpine"]).dump(), r#"from "alpine""#);
        assert_eq!(
            node("Copy", &["--from=a", "--chown=\"x\""], &["a b", "c"]).dump(),
            r#"copy ["--from=a" "--chown=\"x\""] "a b" "c""#
        );
        assert_eq!(node("CMD", &[], &[]).dump(), "cmd");
        assert_eq!(node("FOO", &[], &[""]).dump(), r#"foo """#);
        assert_eq!(node("", &[], &[""]).dump(), r#""""#);
        assert_eq!(
            node("RUN", &[], &["a\tb\u{0}é"]).dump(),
            r#"run "a\tb\x00é""#
        );
        let mut onbuild = node("ONBUILD", &[], &[]);
        onbuild.nested = Some(Box::new(node("RUN", &["--x"], &["echo hi"])));
        assert_eq!(onbuild.dump(), r#"onbuild (run ["--x"] "echo hi")"#);
        assert_eq!(
            dump(&[node("FROM", &[], &["a"]), onbuild]),
            "(from \"a\")\n(onbuild (run [\"--x\"] \"echo hi\"))\n"
        );
        assert_eq!(dump(&[]), "");
    }
}
