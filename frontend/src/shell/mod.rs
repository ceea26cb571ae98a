//! Shell-word expansion with the reference's rules (BuildKit `shell.Lex`).
//!
//! API contract (other modules code against it): see the doc comments.
//! The implementation replaces the `unimplemented!` bodies below.

use std::collections::BTreeSet;

use crate::Result;

/// Variables visible to an expansion (ARG/ENV in scope).
pub trait Env {
    /// The value of `key`, `None` when unset (set-but-empty is `Some("")`).
    fn get(&self, key: &str) -> Option<&str>;
    /// All variable names, in a stable order.
    fn keys(&self) -> Vec<&str>;
}

/// Expansion options, as BuildKit's `Lex` fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lex {
    /// `\` or `` ` `` (the `# escape=` directive).
    pub escape: char,
    /// Keep quote characters in the output.
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Do not treat quotes specially at all.
    pub skip_process_quotes: bool,
    /// Leave references to unset variables as written (`$x` stays `$x`).
    pub skip_unset_env: bool,
}

/// Result of expanding one word.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expanded {
    /// The expanded text, spaces between words kept.
    pub result: String,
    /// The expanded text split into words (quotes respected).
    pub words: Vec<String>,
    /// Variables referenced and found.
    pub matched: BTreeSet<String>,
    /// Variables referenced but not set.
    pub unmatched: BTreeSet<String>,
}

impl Lex {
    pub fn new(escape: char) -> Self {
        Lex {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_process_quotes: false,
            skip_unset_env: false,
        }
    }

    /// Expands `word` (BuildKit `ProcessWordWithMatches`).
    pub fn process_word(&self, word: &str, env: &dyn Env) -> Result<Expanded> {
        let _ = (word, env);
        unimplemented!("shell expansion lands with the shell module")
    }

    /// Expands `word` and splits it into words (BuildKit `ProcessWords`).
    pub fn process_words(&self, word: &str, env: &dyn Env) -> Result<Vec<String>> {
        Ok(self.process_word(word, env)?.words)
    }
}
