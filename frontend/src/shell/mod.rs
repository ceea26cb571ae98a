//! Shell-word expansion with the reference's rules (BuildKit `shell.Lex`).
//!
//! Dockerfile instructions expand `$` references in their arguments the
//! way BuildKit does. That is a small, fixed subset of POSIX shell, and
//! BuildKit's quirks are part of the contract, so this module follows them
//! exactly (the conformance vectors in `tests/shell_vectors.rs` pin it).
//!
//! # Quoting and escapes
//!
//! * `'…'` keeps everything literal; nothing can be escaped inside, and a
//!   missing closing quote is an error.
//! * `"…"` expands `$` references; the escape character protects only `"`,
//!   `$` and itself there, and is literal before anything else (`"a\tb"`
//!   stays `a\tb`).
//! * Outside quotes the escape character (`\`, or `` ` `` after
//!   `# escape=`) makes the next character literal (`\$x` is `$x`, `\t` is
//!   `t`); at the very end of the word it is dropped.
//! * [`Lex::raw_quotes`] keeps quote characters in the output;
//!   [`Lex::raw_escapes`] keeps escape characters (inside double quotes a
//!   kept escape before an ordinary character comes out twice);
//!   [`Lex::skip_process_quotes`] makes quotes ordinary characters.
//!
//! # Parameters
//!
//! * `$name` and `${name}`: a name is a letter or `_` then letters,
//!   digits and `_` (Unicode letters and decimal digits count); a run of
//!   digits (`$1`, `$001`) or one of `@ * # ? - $ ! 0` is also a name and
//!   ends there. Such names are never set in a Dockerfile. A `$` followed
//!   by no name is literal (`$.` stays `$.`). Unset expands to nothing,
//!   or stays as written with [`Lex::skip_unset_env`].
//! * `${v-w}` `w` if unset; `${v:-w}` also if empty.
//! * `${v+w}` `w` if set; `${v:+w}` only if non-empty.
//! * `${v?w}` error `v: w` if unset (`v: is not allowed to be unset` when
//!   `w` is empty); `${v:?w}` also if empty (`… to be empty`).
//! * `${v#p}` `${v##p}` drop the shortest/longest prefix matching the
//!   shell pattern `p`; `${v%p}` `${v%%p}` the suffix. `:#`, `:%` are
//!   errors.
//! * `${v/p/r}` replaces the first match of `p` (greedy) with `r`;
//!   `${v//p/r}` every match (there `$0` in `r` is the match and `$$` a
//!   dollar).
//! * Operands (`w`, `p`, `r`) are expanded recursively up to the closing
//!   `}` (or `/`); `\}` and `\/` put those characters inside them. Pattern
//!   operands keep their escapes for the pattern syntax (see `pattern`).
//! * Anything else (`${}`, `${:x}`, `${v:=x}`, `${v`, …) is an error.
//!
//! # Words
//!
//! Besides the expanded text, expansion splits the word into words, for
//! instructions that take a list (EXPOSE) and for heredoc detection.
//! Unquoted whitespace, including whitespace inside an expanded value,
//! separates words; quoted or escaped whitespace does not; empty words
//! (`''`, an empty value) vanish. `<<` and the blanks after it stay with
//! the next word (`<< EOF` is one word). One inherited oddity: expanding a
//! `${name<op>…}` form forgets the part of the current word before it
//! (see `words::Fields`).
//!
//! Errors read `failed to process "<word>": <cause>`, as the reference's.

mod expand;
mod pattern;
mod unicode;
mod words;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::{Error, Result};

pub(crate) use crate::golang::go_quote;

/// Variables visible to an expansion (ARG/ENV in scope).
pub trait Env {
    /// The value of `key`, `None` when unset (set-but-empty is `Some("")`).
    fn get(&self, key: &str) -> Option<&str>;
    /// All variable names, in a stable order.
    fn keys(&self) -> Vec<&str>;
}

impl<E: Env + ?Sized> Env for &E {
    fn get(&self, key: &str) -> Option<&str> {
        (**self).get(key)
    }

    fn keys(&self) -> Vec<&str> {
        (**self).keys()
    }
}

/// Keys in sorted order.
impl Env for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<&str> {
        HashMap::get(self, key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = HashMap::keys(self).map(String::as_str).collect();
        keys.sort_unstable();
        keys
    }
}

impl Env for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<&str> {
        BTreeMap::get(self, key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        BTreeMap::keys(self).map(String::as_str).collect()
    }
}

/// An ordered `(key, value)` list: a later entry for a key wins; keys come
/// in order of first appearance.
impl Env for [(String, String)] {
    fn get(&self, key: &str) -> Option<&str> {
        self.iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = Vec::with_capacity(self.len());
        for (key, _) in self {
            if !keys.contains(&key.as_str()) {
                keys.push(key);
            }
        }
        keys
    }
}

impl Env for Vec<(String, String)> {
    fn get(&self, key: &str) -> Option<&str> {
        Env::get(self.as_slice(), key)
    }

    fn keys(&self) -> Vec<&str> {
        Env::keys(self.as_slice())
    }
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
        if self.is_plain(word) {
            return Ok(Expanded {
                result: word.to_string(),
                words: word.split_whitespace().map(str::to_string).collect(),
                ..Expanded::default()
            });
        }
        let mut expander = expand::Expander::new(self, env, word);
        match expander.run() {
            Ok((result, words)) => Ok(Expanded {
                result,
                words,
                matched: expander.matched,
                unmatched: expander.unmatched,
            }),
            Err(cause) => Err(Error::new(format!(
                "failed to process {}: {cause}",
                go_quote(word)
            ))),
        }
    }

    /// True when `word` has nothing to expand, quote or escape, so it
    /// expands to itself and splits on whitespace only (most words do).
    fn is_plain(&self, word: &str) -> bool {
        let Ok(escape) = u8::try_from(self.escape) else {
            return false;
        };
        !word.starts_with('\u{feff}')
            && !word
                .bytes()
                .any(|b| matches!(b, b'$' | b'\'' | b'"' | b'<') || b == escape)
    }

    /// Expands `word` and splits it into words (BuildKit `ProcessWords`).
    pub fn process_words(&self, word: &str, env: &dyn Env) -> Result<Vec<String>> {
        Ok(self.process_word(word, env)?.words)
    }
}
