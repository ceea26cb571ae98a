//! Where scanned text goes: a plain string for the operands of `${…}`
//! forms, or the top-level sink that also splits the word into fields.

use super::unicode::is_space;

/// Receives scanned text, told how each piece was written so word
/// splitting can tell separating whitespace from protected whitespace.
pub(super) trait Sink {
    /// An ordinary character: whitespace separates words.
    fn literal(&mut self, ch: char);
    /// A character protected by the escape character (or a kept escape
    /// character itself): never separates words.
    fn escaped(&mut self, ch: char);
    /// The value of a `$` expansion: whitespace inside it separates words.
    fn expansion(&mut self, text: &str);
    /// Quoted text or a `<<` heredoc marker: kept whole in the current word.
    fn quoted(&mut self, text: &str);
    /// Throws away the word being built (see [`Fields::discard_partial`]).
    fn discard_partial_word(&mut self) {}
}

/// Operands of `${name<op>word}` are plain text: nothing splits them.
impl Sink for String {
    fn literal(&mut self, ch: char) {
        self.push(ch);
    }

    fn escaped(&mut self, ch: char) {
        self.push(ch);
    }

    fn expansion(&mut self, text: &str) {
        self.push_str(text);
    }

    fn quoted(&mut self, text: &str) {
        self.push_str(text);
    }
}

/// The top-level sink: the expanded text (whitespace kept) and, alongside,
/// the words it splits into.
///
/// A word is only emitted when it has at least one character, so quoted
/// empty strings (`''`, `""`, an empty `"$x"`) never produce a word of
/// their own, exactly as in the reference.
#[derive(Debug, Default)]
pub(super) struct Fields {
    pub(super) text: String,
    words: Vec<String>,
    current: String,
}

impl Fields {
    pub(super) fn with_capacity(len: usize) -> Self {
        Fields {
            text: String::with_capacity(len),
            words: Vec::new(),
            current: String::with_capacity(len),
        }
    }

    /// The finished words; a trailing partial word counts.
    pub(super) fn into_parts(mut self) -> (String, Vec<String>) {
        self.end_word();
        (self.text, self.words)
    }

    fn split_char(&mut self, ch: char) {
        if is_space(ch) {
            self.end_word();
        } else {
            self.current.push(ch);
        }
    }

    fn end_word(&mut self) {
        if !self.current.is_empty() {
            // Copy out and keep the buffer: one exact-size allocation per
            // word instead of regrowing a fresh buffer each time.
            self.words.push(self.current.clone());
            self.current.clear();
        }
    }
}

impl Sink for Fields {
    fn literal(&mut self, ch: char) {
        self.text.push(ch);
        self.split_char(ch);
    }

    fn escaped(&mut self, ch: char) {
        self.text.push(ch);
        self.current.push(ch);
    }

    fn expansion(&mut self, text: &str) {
        self.text.push_str(text);
        for ch in text.chars() {
            self.split_char(ch);
        }
    }

    fn quoted(&mut self, text: &str) {
        self.text.push_str(text);
        self.current.push_str(text);
    }

    /// BuildKit keeps the word under construction in one buffer shared by
    /// every nesting level, and each `${name<op>…}` operand scan resets
    /// it. So when such a form is expanded, whatever the current word held
    /// before it is lost from the word list (not from the text): the words
    /// of `ab${x:-c}d` are `["cd"]` while the text is `abcd`. Reproduced on
    /// purpose; heredoc detection and EXPOSE depend on the word list.
    fn discard_partial_word(&mut self) {
        self.current.clear();
    }
}
