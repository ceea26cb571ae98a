//! The scanner behind [`Lex::process_word`](super::Lex::process_word).
//!
//! One cursor walks the word. `scan` handles a run of text up to an
//! optional stop character; it hands `$`, quotes and `<` to their own
//! readers, and those call back into `scan` for the operands of `${…}`
//! forms, all on the same cursor. Errors are the bare causes; the caller
//! wraps them in `failed to process "<word>": …`.

use std::borrow::Cow;
use std::collections::BTreeSet;

use super::pattern;
use super::unicode::{is_digit, is_letter};
use super::words::{Fields, Sink};
use super::{Env, Lex};

/// A failure's cause, worded as the reference words it.
pub(super) type Cause = String;

const MISSING_BRACE: &str = "syntax error: missing '}'";
const MISSING_SLASH: &str = "syntax error: missing '/' in ${}";

pub(super) struct Expander<'a> {
    lex: &'a Lex,
    env: &'a dyn Env,
    src: &'a str,
    /// Byte offset of the next character.
    pos: usize,
    pub(super) matched: BTreeSet<String>,
    pub(super) unmatched: BTreeSet<String>,
    /// How many `${…}` operand scans have started; see
    /// [`Sink::discard_partial_word`].
    operand_scans: usize,
}

impl<'a> Expander<'a> {
    pub(super) fn new(lex: &'a Lex, env: &'a dyn Env, word: &'a str) -> Self {
        // Go's text/scanner silently drops a byte-order mark at the very
        // start of its input.
        let pos = if word.starts_with('\u{feff}') { 3 } else { 0 };
        Expander {
            lex,
            env,
            src: word,
            pos,
            matched: BTreeSet::new(),
            unmatched: BTreeSet::new(),
            operand_scans: 0,
        }
    }

    /// Expands the whole word: its text and its words.
    pub(super) fn run(&mut self) -> Result<(String, Vec<String>), Cause> {
        let mut fields = Fields::with_capacity(self.src.len());
        self.scan(&mut fields, None, self.lex.raw_escapes)?;
        Ok(fields.into_parts())
    }

    // ---- cursor ----

    fn peek(&self) -> Option<char> {
        match *self.src.as_bytes().get(self.pos)? {
            ascii @ 0..=0x7f => Some(char::from(ascii)),
            _ => self.src[self.pos..].chars().next(),
        }
    }

    fn bump(&mut self) -> Option<char> {
        let ch = self.peek()?;
        self.pos += ch.len_utf8();
        Some(ch)
    }

    fn eat(&mut self, want: char) -> bool {
        let hit = self.peek() == Some(want);
        if hit {
            self.pos += want.len_utf8();
        }
        hit
    }

    // ---- text ----

    /// Scans into `out` until `stop` (consumed) or the end of the word.
    /// Running out of input while looking for `stop` is an error.
    fn scan<S: Sink>(
        &mut self,
        out: &mut S,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(), Cause> {
        let quotes = !self.lex.skip_process_quotes;
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.bump();
                return Ok(());
            }
            match ch {
                '$' => {
                    let scans = self.operand_scans;
                    let value = self.dollar()?;
                    self.settle_operand_scans(out, scans);
                    out.expansion(&value);
                }
                '<' => out.quoted(self.heredoc_marker()),
                '\'' if quotes => out.quoted(self.single_quoted()?),
                '"' if quotes => {
                    let scans = self.operand_scans;
                    let text = self.double_quoted(raw_escapes)?;
                    self.settle_operand_scans(out, scans);
                    out.quoted(&text);
                }
                _ => {
                    self.bump();
                    if ch != self.lex.escape {
                        out.literal(ch);
                        continue;
                    }
                    if raw_escapes {
                        out.escaped(ch);
                    }
                    // An escape at the very end escapes nothing and is
                    // dropped (kept above when escapes are raw).
                    match self.bump() {
                        Some(escaped) => out.escaped(escaped),
                        None => break,
                    }
                }
            }
        }
        match stop {
            Some(stop) => Err(format!(
                "unexpected end of statement while looking for matching {stop}"
            )),
            None => Ok(()),
        }
    }

    /// Applies the reference's shared-word-buffer quirk after a reader
    /// returns: if it scanned any `${…}` operand (at any depth), the word
    /// being built is lost.
    fn settle_operand_scans<S: Sink>(&self, out: &mut S, scans_before: usize) {
        if self.operand_scans != scans_before {
            out.discard_partial_word();
        }
    }

    /// The operand of a `${…}` form, up to `stop`. Whatever went wrong
    /// inside, hitting the end of the word is reported as `at_end`.
    fn operand(&mut self, stop: char, raw_escapes: bool, at_end: &str) -> Result<String, Cause> {
        self.operand_scans += 1;
        let mut text = String::new();
        match self.scan(&mut text, Some(stop), raw_escapes) {
            Ok(()) => Ok(text),
            Err(_) if self.peek().is_none() => Err(at_end.to_string()),
            Err(cause) => Err(cause),
        }
    }

    /// `'…'`: everything literal up to the next `'`; nothing escapes.
    fn single_quoted(&mut self) -> Result<&'a str, Cause> {
        let open = self.pos;
        self.bump();
        loop {
            match self.bump() {
                Some('\'') => break,
                Some(_) => {}
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    )
                }
            }
        }
        let src = self.src;
        Ok(if self.lex.raw_quotes {
            &src[open..self.pos]
        } else {
            &src[open + 1..self.pos - 1]
        })
    }

    /// `"…"`: `$` expands; the escape character protects only `"`, `$`
    /// and itself and is literal before anything else.
    fn double_quoted(&mut self, raw_escapes: bool) -> Result<String, Cause> {
        let escape = self.lex.escape;
        let mut text = String::new();
        self.bump();
        if self.lex.raw_quotes {
            text.push('"');
        }
        loop {
            let Some(ch) = self.peek() else {
                return Err(
                    "unexpected end of statement while looking for matching double-quote".into(),
                );
            };
            match ch {
                '"' => {
                    self.bump();
                    if self.lex.raw_quotes {
                        text.push('"');
                    }
                    return Ok(text);
                }
                '$' => text.push_str(&self.dollar()?),
                _ => {
                    self.bump();
                    if ch != escape {
                        text.push(ch);
                        continue;
                    }
                    if raw_escapes {
                        text.push(ch);
                    }
                    match self.peek() {
                        Some(next) if next == '"' || next == '$' || next == escape => {
                            self.bump();
                            text.push(next);
                        }
                        // Keep the escape character; the loop reports the
                        // missing closing quote.
                        None => {}
                        // A literal escape character. With raw escapes it
                        // was pushed above as well, so it comes out twice,
                        // as in the reference.
                        Some(_) => text.push(ch),
                    }
                }
            }
        }
    }

    /// `<<` plus any blanks after it, or a lone `<`. Reported as quoted
    /// text, so `<< EOF` stays one word for heredoc detection.
    fn heredoc_marker(&mut self) -> &'a str {
        let start = self.pos;
        self.bump();
        if self.eat('<') {
            while matches!(self.peek(), Some(' ' | '\t' | '\r')) {
                self.bump();
            }
        }
        &self.src[start..self.pos]
    }

    // ---- parameters ----

    /// Reads a parameter name: a run of digits (a positional parameter),
    /// one special-parameter character, or a letter/`_` followed by
    /// letters, digits and `_`. Empty when none of those follows.
    fn name(&mut self) -> &'a str {
        let start = self.pos;
        match self.peek() {
            Some(ch) if is_digit(ch) => {
                while self.peek().is_some_and(is_digit) {
                    self.bump();
                }
            }
            Some(ch) if is_special_parameter(ch) => {
                self.bump();
            }
            _ => {
                while self
                    .peek()
                    .is_some_and(|ch| is_letter(ch) || is_digit(ch) || ch == '_')
                {
                    self.bump();
                }
            }
        }
        &self.src[start..self.pos]
    }

    /// Looks `name` up and records it as matched or unmatched.
    fn lookup(&mut self, name: &str) -> Option<&'a str> {
        let value = self.env.get(name);
        let seen = if value.is_some() {
            &mut self.matched
        } else {
            &mut self.unmatched
        };
        if !seen.contains(name) {
            seen.insert(name.to_string());
        }
        value
    }

    /// Expands the `$…` at the cursor.
    fn dollar(&mut self) -> Result<Cow<'a, str>, Cause> {
        let start = self.pos;
        self.bump();
        if !self.eat('{') {
            return Ok(self.bare_parameter(start));
        }
        match self.peek() {
            None => return Err(MISSING_BRACE.into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            Some(_) => {}
        }
        let name = self.name();
        match self.bump() {
            Some('}') => Ok(match self.lookup(name) {
                Some(value) => Cow::Borrowed(value),
                None if self.lex.skip_unset_env => Cow::Borrowed(&self.src[start..self.pos]),
                None => Cow::Borrowed(""),
            }),
            Some('/') => self.substitution(name).map(Cow::Owned),
            Some(':') => {
                let op = self.bump();
                self.modifier(name, true, op)
            }
            op @ Some('-' | '+' | '?' | '#' | '%') => self.modifier(name, false, op),
            other => Err(unsupported_modifier(false, other)),
        }
    }

    /// `$name`; a `$` not followed by a name is literal.
    fn bare_parameter(&mut self, start: usize) -> Cow<'a, str> {
        let name = self.name();
        if name.is_empty() {
            return Cow::Borrowed("$");
        }
        match self.lookup(name) {
            Some(value) => Cow::Borrowed(value),
            None if self.lex.skip_unset_env => Cow::Borrowed(&self.src[start..self.pos]),
            None => Cow::Borrowed(""),
        }
    }

    /// `${name<op>word}` with `op` one of `-` `+` `?` `#` `%` (`##`, `%%`
    /// arrive as `#`/`%` with a word starting with the same character),
    /// each optionally after `:`, which makes an empty value count as
    /// unset. `:#` and `:%` are rejected.
    fn modifier(
        &mut self,
        name: &'a str,
        colon: bool,
        op: Option<char>,
    ) -> Result<Cow<'a, str>, Cause> {
        // Pattern operands keep their escapes: the pattern syntax needs them.
        let is_pattern = matches!(op, Some('#' | '%'));
        if colon && is_pattern {
            return Err(unsupported_modifier(colon, op));
        }
        let word = self.operand('}', is_pattern, MISSING_BRACE)?;
        let value = self.lookup(name);
        if value.is_none() && self.lex.skip_unset_env {
            let op = modifier_text(colon, op);
            return Ok(Cow::Owned(format!("${{{name}{op}{word}}}")));
        }
        let null = value.is_none() || (colon && value == Some(""));
        match op {
            Some('-') if null => Ok(Cow::Owned(word)),
            Some('-') => Ok(Cow::Borrowed(value.unwrap_or_default())),
            Some('+') if null => Ok(Cow::Borrowed("")),
            Some('+') => Ok(Cow::Owned(word)),
            Some('?') => match value {
                Some(value) if !null => Ok(Cow::Borrowed(value)),
                _ => {
                    let why = match (word.is_empty(), value) {
                        (false, _) => word.as_str(),
                        (true, None) => "is not allowed to be unset",
                        (true, Some(_)) => "is not allowed to be empty",
                    };
                    Err(format!("{name}: {why}"))
                }
            },
            Some(op @ ('#' | '%')) => {
                let (longest, pattern) = match word.strip_prefix(op) {
                    Some(rest) => (true, rest),
                    None => (false, word.as_str()),
                };
                let value = value.unwrap_or_default();
                if op == '#' {
                    pattern::trim_prefix(value, pattern, longest).map(Cow::Borrowed)
                } else {
                    pattern::trim_suffix(value, pattern, longest)
                }
            }
            _ => Err(unsupported_modifier(colon, op)),
        }
    }

    /// `${name/pattern/replacement}` and `${name//pattern/replacement}`.
    fn substitution(&mut self, name: &str) -> Result<String, Cause> {
        let every = self.eat('/');
        let pattern = self.operand('/', true, MISSING_SLASH)?;
        let replacement = self.operand('}', true, MISSING_BRACE)?;
        match self.lookup(name) {
            // The reference rebuilds the text with a single `/` even for
            // the `//` form.
            None if self.lex.skip_unset_env => Ok(format!("${{{name}/{pattern}/{replacement}}}")),
            value => pattern::substitute(value.unwrap_or_default(), &pattern, &replacement, every),
        }
    }
}

/// POSIX special parameters. Dockerfiles never set them, so they expand
/// to nothing, but they end a name after one character: `$@@` is `@`.
fn is_special_parameter(ch: char) -> bool {
    matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')
}

/// The modifier as the reference prints it; the end of the word shows as
/// U+FFFD (Go's `string(rune(-1))`).
fn modifier_text(colon: bool, op: Option<char>) -> String {
    let op = op.unwrap_or('\u{fffd}');
    if colon {
        format!(":{op}")
    } else {
        op.to_string()
    }
}

fn unsupported_modifier(colon: bool, op: Option<char>) -> Cause {
    format!(
        "unsupported modifier ({}) in substitution",
        modifier_text(colon, op)
    )
}
