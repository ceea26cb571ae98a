//! Docker-semantics `.dockerignore` matching.
//!
//! This reproduces what Docker (BuildKit, through moby's `patternmatcher` and
//! its `ignorefile` reader, and fsutil's context walk) does with an ignore
//! file. It is *not* gitignore:
//!
//! - Patterns are paths relative to the context root, cleaned lexically
//!   (`./a//b/../c/` is `a/c`; a leading `/` is dropped). `*.md` matches
//!   `README.md` but not `docs/a.md`; `**/*.md` matches both.
//! - `*` and `?` never match `/`; `**` matches any number of directories,
//!   including none; `[...]` classes take `^` (not `!`) for negation and `\`
//!   escapes the next character.
//! - A pattern that matches a directory excludes everything below it, and
//!   `dir/` means the same as `dir` (it matches files too).
//! - Lines are evaluated in order and the last matching line wins; a line
//!   starting with `!` re-includes what earlier lines excluded.
//!
//! Use [`parse_ignore_file`] to read the file and [`Matcher`] to match. A
//! directory walker should use [`Matcher::match_dir`] and
//! [`Matcher::matches_with`], which give each path the result of its parent
//! directory so that every path costs one pass over the patterns, and
//! [`Matcher::can_skip_excluded_dir`] to decide whether an excluded
//! directory still has to be walked because a `!` line may re-include
//! something below it. When something below an excluded directory is
//! re-included, Docker still sends the directory itself (as a parent of
//! what it contains).
//!
//! ```
//! use kiln::context::dockerignore::Matcher;
//!
//! let m = Matcher::from_ignore_file("target\n*.md\n!README.md\n")?;
//! assert!(m.matches("target/debug/kiln"));
//! assert!(m.matches("CHANGELOG.md") && !m.matches("README.md"));
//! assert!(!m.matches("docs/guide.md"));
//!
//! // A walker checks each entry against its directory's result.
//! let target = m.match_dir("target", None);
//! assert!(target.is_excluded() && m.can_skip_excluded_dir("target"));
//! let docs = m.match_dir("docs", None);
//! assert!(!m.matches_with("docs/guide.md", Some(&docs)));
//! # Ok::<(), kiln::context::dockerignore::Error>(())
//! ```
//!
//! Some consequences of Docker's rules that surprise people, reproduced here
//! on purpose:
//!
//! - `#` starts a comment only in the first column; ` # x` is a pattern.
//! - `.` and `/` on their own exclude nothing; `..` patterns never match.
//! - `/!a` and `./!a` are cleaned to `!a`, an exception, not a pattern for a
//!   file named `!a` (write `\!a` for that).
//! - During the walk a `!dir` exception only re-includes paths below `dir`
//!   if it was considered when `dir` itself was checked: with `a/b`
//!   followed by `!a`, `a/b` stays excluded (moby's standalone
//!   `MatchesOrParentMatches` would re-include it; see
//!   [`Matcher::matches_or_parent_matches`]).
//! - An excluded directory is skipped whole when every exception is a plain
//!   path outside it; `!b/*/**` counts as the plain path `b` there, so it
//!   cannot re-include `b/a/x` once `b/a` is excluded.
//! - Patterns are really regular expressions in disguise: `[[:digit:]]`,
//!   `\d` and `[^...]` mean what they mean in Go's `regexp`, `[*]` does not
//!   match `*`, `|` is alternation and `{2}` repeats.

mod glob;
mod goregex;
mod path;
#[cfg(test)]
mod tests;

use std::fmt;

/// Why an ignore file or a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A line that is only `!` (after trimming and cleaning).
    IllegalExclusion {
        /// The pattern as given.
        pattern: String,
        /// Its position in the list given to [`Matcher::new`].
        index: usize,
    },
    /// A pattern that Docker cannot use (an unclosed `[`, a trailing `\`,
    /// a range like `[z-a]`, ...).
    BadPattern {
        /// The pattern as given.
        pattern: String,
        /// Its position in the list given to [`Matcher::new`].
        index: usize,
    },
    /// A line of the ignore file is 64 KiB or longer, which Docker's line
    /// reader cannot hold.
    LineTooLong {
        /// 1-based line number.
        line: usize,
    },
}

impl Error {
    /// The offending pattern, as given.
    pub fn pattern(&self) -> Option<&str> {
        match self {
            Error::IllegalExclusion { pattern, .. } | Error::BadPattern { pattern, .. } => {
                Some(pattern)
            }
            Error::LineTooLong { .. } => None,
        }
    }
}

/// The messages are Docker's own.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::IllegalExclusion { .. } => f.write_str("illegal exclusion pattern: \"!\""),
            Error::BadPattern { .. } => f.write_str("syntax error in pattern"),
            Error::LineTooLong { line } => write!(f, "bufio.Scanner: token too long (line {line})"),
        }
    }
}

impl std::error::Error for Error {}

/// Longest line (in bytes, `\r` included, `\n` excluded) Docker can read.
const MAX_LINE: usize = 64 * 1024 - 1;

/// Reads an ignore file into patterns the way Docker does.
///
/// A byte order mark at the start is dropped, as is one `\r` at the end of
/// each line. Lines whose first character is `#` are comments; other lines
/// are trimmed of Unicode white space and skipped if empty. A leading `!`
/// marks an exception and white space after it is trimmed too. The rest is
/// cleaned like a path (see the module documentation) and loses a leading
/// `/` unless it is all that is left. Exceptions keep their `!`; a lone `!`
/// is kept too, and refused by [`Matcher::new`].
///
/// Docker reads the file as bytes; callers decide what to do with a file
/// that is not UTF-8.
pub fn parse_ignore_file(contents: &str) -> Result<Vec<String>, Error> {
    let mut patterns = Vec::new();
    for (number, raw) in contents.split('\n').enumerate() {
        if raw.len() > MAX_LINE {
            return Err(Error::LineTooLong { line: number + 1 });
        }
        let mut line = raw.strip_suffix('\r').unwrap_or(raw);
        if number == 0 {
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        if line.starts_with('#') {
            continue;
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (exception, body) = match line.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, line),
        };
        let mut pattern = String::with_capacity(body.len() + 1);
        if exception {
            pattern.push('!');
        }
        if !body.is_empty() {
            let cleaned = path::clean(body);
            match cleaned.strip_prefix('/') {
                Some(relative) if !relative.is_empty() => pattern.push_str(relative),
                _ => pattern.push_str(&cleaned),
            }
        }
        patterns.push(pattern);
    }
    Ok(patterns)
}

/// One compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    text: String,
    exclusion: bool,
    compiled: glob::Compiled,
}

impl Pattern {
    /// The cleaned pattern, without its `!`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this is a `!` exception, which re-includes what it matches.
    pub fn is_exclusion(&self) -> bool {
        self.exclusion
    }

    /// Whether the pattern itself matches `path` (parents not considered).
    fn is_match(&self, path: &str) -> bool {
        match &self.compiled {
            glob::Compiled::Exact => path == self.text,
            glob::Compiled::Prefix(prefix) => path.as_bytes().starts_with(prefix),
            glob::Compiled::Suffix(suffix) => {
                let path = path.as_bytes();
                // `**/name` also matches `name` itself.
                path.ends_with(suffix) || (suffix.first() == Some(&b'/') && path == &suffix[1..])
            }
            glob::Compiled::Regex(re) => re.is_match(path),
        }
    }
}

/// The result for a directory, to pass when checking its entries.
///
/// Besides whether the directory is excluded it records which patterns
/// matched it (or one of its parents), which is what lets each entry be
/// decided with one pass over the patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirMatch {
    excluded: bool,
    /// One bit per pattern.
    matched: Box<[u64]>,
}

impl DirMatch {
    /// Whether the directory itself is excluded.
    pub fn is_excluded(&self) -> bool {
        self.excluded
    }
}

/// A compiled list of ignore patterns.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
    /// Whether every exception is a plain path once a trailing `/**` or
    /// `/*` is removed, which is when excluded directories may be skipped.
    literal_exceptions: bool,
    /// Those plain paths, each followed by `/`.
    exception_prefixes: Vec<String>,
}

impl Matcher {
    /// Compiles patterns (as returned by [`parse_ignore_file`]; a leading
    /// `!` marks an exception). Each is trimmed and cleaned again, and empty
    /// ones are skipped, as Docker does.
    ///
    /// Docker only notices some bad patterns (such as `[z-a]`) when it
    /// first evaluates them, and not at all if it never needs to; this
    /// reports them here, with Docker's message.
    pub fn new<I>(patterns: I) -> Result<Matcher, Error>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        // Docker checks every pattern's syntax first and builds regular
        // expressions afterwards, which decides which error is reported.
        let mut checked = Vec::new();
        for (index, given) in patterns.into_iter().enumerate() {
            let given = given.as_ref();
            let trimmed = given.trim();
            if trimmed.is_empty() {
                continue;
            }
            let mut text = path::clean(trimmed);
            let exclusion = text.starts_with('!');
            if exclusion {
                if text.len() == 1 {
                    return Err(Error::IllegalExclusion {
                        pattern: given.to_owned(),
                        index,
                    });
                }
                text.remove(0);
            }
            if !glob::is_valid(&text) {
                return Err(Error::BadPattern {
                    pattern: given.to_owned(),
                    index,
                });
            }
            checked.push((index, given.to_owned(), exclusion, text));
        }

        let mut matcher = Matcher {
            literal_exceptions: true,
            ..Matcher::default()
        };
        for (index, given, exclusion, text) in checked {
            let compiled = glob::compile(&text).map_err(|_| Error::BadPattern {
                pattern: given,
                index,
            })?;
            if exclusion {
                matcher.exclusions = true;
                let prefix = text.strip_suffix("/**").unwrap_or(&text);
                let prefix = prefix.strip_suffix("/*").unwrap_or(prefix);
                if prefix.contains(['*', '[', ']', '?', '^', '\\']) {
                    matcher.literal_exceptions = false;
                }
                matcher.exception_prefixes.push(format!("{prefix}/"));
            }
            matcher.patterns.push(Pattern {
                text,
                exclusion,
                compiled,
            });
        }
        Ok(matcher)
    }

    /// Reads an ignore file and compiles it.
    pub fn from_ignore_file(contents: &str) -> Result<Matcher, Error> {
        Matcher::new(parse_ignore_file(contents)?)
    }

    /// The compiled patterns, in order.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// Whether there are no patterns (nothing is excluded).
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether any pattern is a `!` exception.
    pub fn has_exclusions(&self) -> bool {
        self.exclusions
    }

    /// Whether `path` (relative to the context root, `/`-separated, clean)
    /// is left out of the context: the decision Docker's context walk
    /// makes, checking every parent directory first and skipping excluded
    /// directories where [`Matcher::can_skip_excluded_dir`] allows.
    pub fn matches(&self, path: &str) -> bool {
        if self.patterns.is_empty() {
            return false;
        }
        let mut parent: Option<DirMatch> = None;
        for (end, _) in path.match_indices('/') {
            let dir = &path[..end];
            let result = self.match_dir(dir, parent.as_ref());
            if result.excluded && self.can_skip_excluded_dir(dir) {
                return true;
            }
            parent = Some(result);
        }
        self.matches_with(path, parent.as_ref())
    }

    /// Whether `path` is excluded, given the result for its parent
    /// directory (`None` for entries of the context root).
    ///
    /// With `None` and a nested path, parent directories are checked
    /// against each pattern as in [`Matcher::matches_or_parent_matches`].
    pub fn matches_with(&self, path: &str, parent: Option<&DirMatch>) -> bool {
        self.evaluate(path, parent, None)
    }

    /// Like [`Matcher::matches_with`], for a directory whose entries will be
    /// checked next: the result is to be passed for each of them.
    pub fn match_dir(&self, path: &str, parent: Option<&DirMatch>) -> DirMatch {
        let mut matched = vec![0u64; self.patterns.len().div_ceil(64)].into_boxed_slice();
        let excluded = self.evaluate(path, parent, Some(&mut matched));
        DirMatch { excluded, matched }
    }

    /// Whether everything below the excluded directory `dir` (relative to
    /// the context root) is left out of the context without being checked.
    ///
    /// Docker skips an excluded directory when there are no exceptions, or
    /// when every exception is a plain path once a trailing `/**` and then
    /// a trailing `/*` are removed, and none of those paths lies below
    /// `dir`. Otherwise it walks the directory and checks its entries. A
    /// walker must follow this answer to build Docker's context: skipping
    /// is not always invisible, since an exception like `!b/*/**` counts as
    /// the plain path `b` here and so does not keep an excluded `b/a`
    /// walked, which leaves out `b/a/x` although the exception matches it.
    pub fn can_skip_excluded_dir(&self, dir: &str) -> bool {
        if !self.exclusions {
            return true;
        }
        if !self.literal_exceptions {
            return false;
        }
        !self.exception_prefixes.iter().any(|prefix| {
            prefix.len() > dir.len()
                && prefix.starts_with(dir)
                && prefix.as_bytes()[dir.len()] == b'/'
        })
    }

    /// moby's `MatchesOrParentMatches`: checks `path` on its own, matching
    /// each pattern against the path and each of its parent directories.
    /// Docker uses this for single files (and lints), not for the context
    /// walk; the two differ when exceptions name parents of excluded paths.
    pub fn matches_or_parent_matches(&self, path: &str) -> bool {
        self.evaluate(path, None, None)
    }

    /// One pass over the patterns in order; the last one that matches
    /// decides. A pattern that cannot change the outcome (a `!` line while
    /// nothing is excluded, another line while already excluded) is not
    /// evaluated, and then does not count as matching for the entries below
    /// a directory either.
    fn evaluate(
        &self,
        path: &str,
        parent: Option<&DirMatch>,
        mut record: Option<&mut [u64]>,
    ) -> bool {
        let parent_bits = parent.map(|p| &*p.matched);
        if let Some(bits) = parent_bits {
            debug_assert_eq!(
                bits.len(),
                self.patterns.len().div_ceil(64),
                "DirMatch from another Matcher"
            );
        }
        let mut ancestors: Option<Vec<String>> = None;
        let mut excluded = false;
        for (i, pattern) in self.patterns.iter().enumerate() {
            let (word, bit) = (i / 64, 1u64 << (i % 64));
            let mut hit = parent_bits.is_some_and(|bits| bits[word] & bit != 0);
            if !hit {
                if pattern.exclusion != excluded {
                    continue;
                }
                hit = pattern.is_match(path);
                if !hit && parent_bits.is_none() {
                    let ancestors = ancestors.get_or_insert_with(|| ancestor_dirs(path));
                    hit = ancestors.iter().any(|dir| pattern.is_match(dir));
                }
            }
            if hit {
                if let Some(bits) = record.as_deref_mut() {
                    bits[word] |= bit;
                }
                excluded = !pattern.exclusion;
            }
        }
        excluded
    }
}

/// The parent directories of `path`, outermost first, as Docker derives
/// them: from the cleaned directory part of the path.
fn ancestor_dirs(path: &str) -> Vec<String> {
    if !path.contains('/') {
        return Vec::new();
    }
    let dir = path::dir(path);
    if dir == "." {
        return Vec::new();
    }
    let mut dirs: Vec<String> = dir
        .match_indices('/')
        .map(|(end, _)| dir[..end].to_owned())
        .collect();
    dirs.push(dir);
    dirs
}
