//! Wildcard sources (`COPY *.txt /dst/`): Go's `filepath.Match` per path
//! component, resolved the way fsutil's `ResolveWildcards` does.
//!
//! The path is split at the first component holding a wildcard: the part
//! before it is resolved as a plain path (following symlinks when the copy
//! follows them), then the directory it names is walked in name order and
//! every entry whose path below it matches the rest of the pattern is a
//! match; a matching directory is not descended into. Hidden entries of the
//! source are neither matched nor walked.

use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;

use rustix::fs::FileType;

use super::error::{display, FileOpError};
use super::gopath;
use super::resolve::file_type;
use super::source::Source;

/// Whether a path holds `*`, `?` or `[` not escaped by `\`.
pub(crate) fn contains_wildcards(name: &str) -> bool {
    let b = name.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'*' | b'?' | b'[' => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

/// Split a rooted path into the part before the first component with a
/// wildcard and the rest (`""` when there is no wildcard).
pub(crate) fn split_wildcards(p: &str) -> (String, String) {
    let cleaned = gopath::clean(p);
    let mut before: Vec<&str> = Vec::new();
    let mut after: Vec<&str> = Vec::new();
    for part in cleaned.split('/') {
        if after.is_empty() && !contains_wildcards(part) {
            before.push(part);
        } else {
            after.push(part);
        }
    }
    let d1 = gopath::clean(&format!("/{}", before.join("/")));
    (d1, after.join("/"))
}

/// fsutil's `ResolveWildcards`: the matches of `src` (rooted) as paths
/// relative to the source root, in walk order.
pub(crate) fn resolve(
    source: &Source<'_>,
    src: &str,
    follow: bool,
) -> Result<Vec<Vec<u8>>, FileOpError> {
    let (d1, d2) = split_wildcards(src);
    if d2.is_empty() {
        return Ok(vec![d1.trim_start_matches('/').as_bytes().to_vec()]);
    }
    // Syntax errors make nothing match (fsutil ignores Match's error).
    if go_match(&d2, b"").is_err() {
        return Ok(Vec::new());
    }
    let base = source
        .lookup(d1.as_bytes(), follow)?
        .ok_or_else(|| FileOpError::NotFound { path: d1.clone() })?;
    let mut out = Vec::new();
    if !base.is_dir() {
        return Ok(out);
    }
    let depth = if d2.contains('[') {
        usize::MAX
    } else {
        d2.split('/').count()
    };
    let dir = base
        .open_dir()
        .map_err(|e| FileOpError::io("opening", d1.clone(), e))?;
    walk(source, &dir, &base.rel, b"", 1, depth, &d2, &mut out)?;
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn walk(
    source: &Source<'_>,
    dir: &std::os::fd::OwnedFd,
    dir_rel: &[u8],
    below: &[u8],
    level: usize,
    depth: usize,
    pattern: &str,
    out: &mut Vec<Vec<u8>>,
) -> Result<(), FileOpError> {
    for (name, rel, st) in source.read_dir(dir.as_fd(), dir_rel)? {
        let candidate = gopath::join_bytes(below, name.as_bytes());
        if go_match(pattern, &candidate).unwrap_or(false) {
            out.push(rel);
            continue;
        }
        if file_type(&st) == FileType::Directory && level < depth {
            let child = super::resolve::open_dir_at(dir.as_fd(), &name)
                .map_err(|e| FileOpError::io("opening", display(&gopath::lossy(&rel)), e))?;
            walk(
                source,
                &child,
                &rel,
                &candidate,
                level + 1,
                depth,
                pattern,
                out,
            )?;
        }
    }
    Ok(())
}

/// A bad pattern (Go's `filepath.ErrBadPattern`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BadPattern;

/// Go's `filepath.Match` on Unix: `*` is any run of non-`/` bytes, `?` one
/// character other than `/`, `[...]` a class (`^` negates, `a-z` ranges,
/// `\` escapes), `\c` the character `c`. The whole pattern is checked for
/// syntax even when the name does not match.
pub(crate) fn go_match(pattern: &str, name: &[u8]) -> Result<bool, BadPattern> {
    let mut pat = pattern.as_bytes();
    let mut name = name;
    'outer: while !pat.is_empty() {
        let (star, chunk, rest) = scan_chunk(pat);
        pat = rest;
        if star && chunk.is_empty() {
            // A trailing * matches the rest unless it holds a '/'.
            return Ok(!name.contains(&b'/'));
        }
        let first = match_chunk(chunk, name);
        if let Ok(Some(t)) = first {
            if t.is_empty() || !pat.is_empty() {
                name = t;
                continue;
            }
        }
        first?;
        if star {
            let mut i = 0;
            while i < name.len() && name[i] != b'/' {
                if let Some(t) = match_chunk(chunk, &name[i + 1..])? {
                    if !pat.is_empty() || t.is_empty() {
                        name = t;
                        continue 'outer;
                    }
                }
                i += 1;
            }
        }
        // No match: still report a syntax error in the rest.
        while !pat.is_empty() {
            let (_, chunk, rest) = scan_chunk(pat);
            pat = rest;
            match_chunk(chunk, b"")?;
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

fn scan_chunk(mut pat: &[u8]) -> (bool, &[u8], &[u8]) {
    let mut star = false;
    while let Some(b'*') = pat.first() {
        pat = &pat[1..];
        star = true;
    }
    let mut in_range = false;
    let mut i = 0;
    while i < pat.len() {
        match pat[i] {
            b'\\' if i + 1 < pat.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    (star, &pat[..i], &pat[i..])
}

/// Decode one UTF-8 character as Go does: invalid bytes are U+FFFD of
/// length 1, the empty string U+FFFD of length 0.
fn decode(s: &[u8]) -> (u32, usize) {
    if s.is_empty() {
        return (0xFFFD, 0);
    }
    let len = match s[0] {
        0x00..=0x7F => return (s[0] as u32, 1),
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return (0xFFFD, 1),
    };
    match s.get(..len).and_then(|b| std::str::from_utf8(b).ok()) {
        Some(c) => (c.chars().next().expect("one char") as u32, len),
        None => (0xFFFD, 1),
    }
}

/// Match `chunk` (no `*`) at the start of `s`: the rest of `s` on a
/// match, `None` on a mismatch, an error for a malformed chunk.
fn match_chunk<'s>(mut chunk: &[u8], mut s: &'s [u8]) -> Result<Option<&'s [u8]>, BadPattern> {
    let mut failed = false;
    while !chunk.is_empty() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match chunk[0] {
            b'[' => {
                let mut r = 0u32;
                if !failed {
                    let (c, n) = decode(s);
                    r = c;
                    s = &s[n..];
                }
                chunk = &chunk[1..];
                let negated = chunk.first() == Some(&b'^');
                if negated {
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut ranges = 0;
                loop {
                    if chunk.first() == Some(&b']') && ranges > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let (lo, rest) = get_esc(chunk)?;
                    chunk = rest;
                    let mut hi = lo;
                    if chunk[0] == b'-' {
                        let (h, rest) = get_esc(&chunk[1..])?;
                        hi = h;
                        chunk = rest;
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    ranges += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            b'?' => {
                if !failed {
                    if s[0] == b'/' {
                        failed = true;
                    }
                    let (_, n) = decode(s);
                    s = &s[n..];
                }
                chunk = &chunk[1..];
            }
            c => {
                let c = if c == b'\\' {
                    chunk = &chunk[1..];
                    match chunk.first() {
                        Some(&c) => c,
                        None => return Err(BadPattern),
                    }
                } else {
                    c
                };
                if !failed {
                    if c != s[0] {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
        }
    }
    Ok(if failed { None } else { Some(s) })
}

fn get_esc(mut chunk: &[u8]) -> Result<(u32, &[u8]), BadPattern> {
    if chunk.is_empty() || chunk[0] == b'-' || chunk[0] == b']' {
        return Err(BadPattern);
    }
    if chunk[0] == b'\\' {
        chunk = &chunk[1..];
        if chunk.is_empty() {
            return Err(BadPattern);
        }
    }
    let (r, n) = decode(chunk);
    if r == 0xFFFD && n == 1 {
        return Err(BadPattern);
    }
    let rest = &chunk[n..];
    if rest.is_empty() {
        return Err(BadPattern);
    }
    Ok((r, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fileop_wildcard_go_match_cases() {
        // Cases from Go's path/filepath match tests.
        let cases: &[(&str, &str, Result<bool, BadPattern>)] = &[
            ("abc", "abc", Ok(true)),
            ("*", "abc", Ok(true)),
            ("*c", "abc", Ok(true)),
            ("a*", "a", Ok(true)),
            ("a*", "abc", Ok(true)),
            ("a*", "ab/c", Ok(false)),
            ("a*/b", "abc/b", Ok(true)),
            ("a*/b", "a/c/b", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Ok(false)),
            ("a*b?c*x", "abxbbxdbxebxczzx", Ok(true)),
            ("a*b?c*x", "abxbbxdbxebxczzy", Ok(false)),
            ("ab[c]", "abc", Ok(true)),
            ("ab[b-d]", "abc", Ok(true)),
            ("ab[e-g]", "abc", Ok(false)),
            ("ab[^c]", "abc", Ok(false)),
            ("ab[^b-d]", "abc", Ok(false)),
            ("ab[^e-g]", "abc", Ok(true)),
            ("a\\*b", "a*b", Ok(true)),
            ("a\\*b", "ab", Ok(false)),
            ("a?b", "a☺b", Ok(true)),
            ("a[^a]b", "a☺b", Ok(true)),
            ("a???b", "a☺b", Ok(false)),
            ("a[^a][^a][^a]b", "a☺b", Ok(false)),
            ("[a-ζ]*", "α", Ok(true)),
            ("*[a-ζ]", "A", Ok(false)),
            ("a?b", "a/b", Ok(false)),
            ("a*b", "a/b", Ok(false)),
            ("[\\]a]", "]", Ok(true)),
            ("[\\-]", "-", Ok(true)),
            ("[x\\-]", "x", Ok(true)),
            ("[x\\-]", "-", Ok(true)),
            ("[x\\-]", "z", Ok(false)),
            ("[\\-x]", "x", Ok(true)),
            ("[\\-x]", "-", Ok(true)),
            ("[\\-x]", "a", Ok(false)),
            ("[]a]", "]", Err(BadPattern)),
            ("[-]", "-", Err(BadPattern)),
            ("[x-]", "x", Err(BadPattern)),
            ("[x-]", "-", Err(BadPattern)),
            ("[x-]", "z", Err(BadPattern)),
            ("[-x]", "x", Err(BadPattern)),
            ("[-x]", "-", Err(BadPattern)),
            ("[-x]", "a", Err(BadPattern)),
            ("\\", "a", Err(BadPattern)),
            ("[a-b-c]", "a", Err(BadPattern)),
            ("[", "a", Err(BadPattern)),
            ("[^", "a", Err(BadPattern)),
            ("[^bc", "a", Err(BadPattern)),
            ("a[", "a", Err(BadPattern)),
            ("a[", "ab", Err(BadPattern)),
            ("a[", "x", Err(BadPattern)),
            ("a/b[", "x", Err(BadPattern)),
            ("*x", "xxx", Ok(true)),
        ];
        for (p, n, want) in cases {
            assert_eq!(&go_match(p, n.as_bytes()), want, "match({p:?}, {n:?})");
        }
    }

    #[test]
    fn fileop_wildcard_split() {
        assert_eq!(
            split_wildcards("/a/b*/c"),
            ("/a".to_string(), "b*/c".to_string())
        );
        assert_eq!(
            split_wildcards("/*.txt"),
            ("/".to_string(), "*.txt".to_string())
        );
        assert_eq!(split_wildcards("/a/b"), ("/a/b".to_string(), String::new()));
        assert_eq!(
            split_wildcards("/a\\*b"),
            ("/a\\*b".to_string(), String::new())
        );
        assert!(contains_wildcards("x[ab]"));
        assert!(!contains_wildcards("x\\[ab]"));
    }
}
