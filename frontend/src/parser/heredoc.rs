//! Heredocs: `RUN <<EOF`, `COPY <<a.txt <<b.txt /dest/`, `RUN 3<<-"END"`.
//!
//! Only RUN, COPY and ADD in shell form (and ONBUILD wrapping one of them)
//! take heredocs. The instruction line is split into shell words (quotes
//! and escapes kept, `\` as escape whatever the `# escape=` directive
//! says); every word of the form `[fd]<<[-]name` opens a heredoc. The
//! bodies follow the instruction, one after the other, each ending at a
//! line equal to its name (after leading tabs are removed for `<<-`).
//!
//! A delimiter with any quoted part (`<<'EOF'`, `<<E"O"F`) turns expansion
//! of the body off; quotes and escapes are removed from the name.

use super::node::{Heredoc, Node};
use crate::shell::{Env, Lex};
use crate::{Error, Result};

/// An environment without variables (heredoc words are not expanded).
struct NoEnv;

impl Env for NoEnv {
    fn get(&self, _key: &str) -> Option<&str> {
        None
    }

    fn keys(&self) -> Vec<&str> {
        Vec::new()
    }
}

fn lexer(raw_quotes: bool, raw_escapes: bool) -> Lex {
    Lex {
        raw_quotes,
        raw_escapes,
        skip_unset_env: true,
        ..Lex::new('\\')
    }
}

/// Whether heredocs are looked for after this instruction.
pub(super) fn can_contain_heredoc(node: &Node) -> bool {
    let target = match (node.name().as_str(), &node.nested) {
        ("onbuild", Some(child)) => child,
        _ => node,
    };
    matches!(target.name().as_str(), "run" | "copy" | "add") && !target.json
}

/// The heredocs opened on an instruction line, bodies still empty.
pub(super) fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>> {
    // A line the shell lexer rejects (an unterminated quote) opens none.
    let words = lexer(true, true)
        .process_words(line, &NoEnv)
        .unwrap_or_default();
    let mut docs = Vec::new();
    for word in words {
        if let Some(doc) = parse_heredoc(&word)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// Parses one word as a heredoc opener (`<<EOF`, `<<-"EOF"`, `3<<EOF`,
/// `<< EOF`). `Ok(None)` when the word is not one; an error when its
/// delimiter is malformed (an unterminated quote).
pub fn parse_heredoc(word: &str) -> Result<Option<Heredoc>> {
    let digits = word.bytes().take_while(u8::is_ascii_digit).count();
    let Some(after) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, after) = match after.strip_prefix('-') {
        Some(after) => (true, after),
        None => (false, after),
    };
    let delimiter = after.trim_start_matches(['\t', '\n', '\u{c}', '\r', ' ']);
    if delimiter.is_empty() || delimiter.contains('<') {
        return Ok(None);
    }
    // The reference ignores overflow (and gets the largest value).
    let file_descriptor = word[..digits]
        .parse::<u64>()
        .map_or(if digits == 0 { 0 } else { u32::MAX }, |fd| {
            u32::try_from(fd).unwrap_or(u32::MAX)
        });

    let mut words = lexer(false, false).process_words(delimiter, &NoEnv)?;
    // `<<EOF sh` is two words: not a heredoc.
    if words.len() != 1 {
        return Ok(None);
    }
    let Some(name) = words.pop() else {
        return Ok(None);
    };
    let raw = lexer(true, false).process_words(delimiter, &NoEnv)?;
    if raw.len() != 1 {
        return Err(Error::new(format!(
            "internal lexing of heredoc produced inconsistent results: {delimiter}"
        )));
    }
    let quotes = |s: &str| s.chars().filter(|&c| c == '\'' || c == '"').count();
    let expand = quotes(&name) == quotes(&raw[0]);
    Ok(Some(Heredoc {
        name,
        file_descriptor,
        expand,
        chomp,
        content: String::new(),
    }))
}

/// Removes leading tabs from every line of a `<<-` heredoc body.
pub fn chomp_heredoc_content(content: &str) -> String {
    content
        .split_inclusive('\n')
        .map(|line| line.trim_start_matches('\t'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chomps_leading_tabs() {
        assert_eq!(
            chomp_heredoc_content("\thello\n\tworld\n"),
            "hello\nworld\n"
        );
        assert_eq!(chomp_heredoc_content("\t\ta\n b\n\t"), "a\n b\n");
        assert_eq!(chomp_heredoc_content("a\tb"), "a\tb");
    }

    #[test]
    fn words_that_are_not_heredocs() {
        // Decided before the shell lexer is involved.
        for word in [
            "", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<< ", "a<<EOF", "<<E<F",
        ] {
            assert_eq!(parse_heredoc(word).unwrap(), None, "{word:?}");
        }
    }
}
