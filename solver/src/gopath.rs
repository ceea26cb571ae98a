//! Slash-separated paths with the semantics of Go's `path` and
//! `path/filepath` packages on Unix, which BuildKit (and fsutil under it)
//! applies to every path of a COPY/ADD and of a file action: `path.Clean`,
//! `Split`, `Dir`, `Base`, fsutil's wildcard test and split, and
//! `filepath.Match`.
//!
//! This is the one implementation shared by the copy engine
//! ([`crate::fileop`]) and the CLI's build-context digests, which must agree
//! byte for byte on what a source names. The functions work on bytes (paths
//! need not be UTF-8); the `*_str` ones are conveniences for `&str` callers
//! with the same results (an operation on valid UTF-8 only cuts at `/`, so
//! its result is valid UTF-8 too).

use std::fmt;

// ------------------------------------------------------------------ paths

/// Go's `path.Clean`: the shortest lexically equivalent path. Repeated
/// separators collapse, `.` elements vanish, `..` removes the element
/// before it (or vanishes at the root of a rooted path), trailing
/// separators go; an empty result is `.`.
pub fn clean(path: &[u8]) -> Vec<u8> {
    let rooted = path.first() == Some(&b'/');
    let mut parts: Vec<&[u8]> = Vec::new();
    // Leading `..` elements of a relative path, which nothing removes.
    let mut fixed = 0;
    for part in path.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                if parts.len() > fixed {
                    parts.pop();
                } else if !rooted {
                    parts.push(b"..");
                    fixed += 1;
                }
            }
            other => parts.push(other),
        }
    }
    let mut out = Vec::with_capacity(path.len() + 1);
    if rooted {
        out.push(b'/');
    }
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(part);
    }
    if out.is_empty() {
        out.push(b'.');
    }
    out
}

/// [`clean`] on a `&str`.
pub fn clean_str(path: &str) -> String {
    utf8(clean(path.as_bytes()))
}

/// A COPY/ADD source as BuildKit sees it: `path.Clean("/" + src)` without
/// the leading `/`, so `..` can never climb out of the root (`""` is the
/// root itself).
pub fn clean_source(src: &[u8]) -> Vec<u8> {
    let mut rooted = Vec::with_capacity(src.len() + 1);
    rooted.push(b'/');
    rooted.extend_from_slice(src);
    let mut cleaned = clean(&rooted);
    cleaned.remove(0);
    cleaned
}

/// The components of `path` taken as rooted and cleaned lexically (the
/// elements of `path.Clean("/" + path)`): no empty, `.` or `..` left.
pub fn clean_components(path: &[u8]) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = Vec::new();
    for comp in path.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// BuildKit's `cleanPath` for the `src` and `dest` of a copy: rooted and
/// clean, but a trailing `/` or `/.` (meaning "a directory") is kept.
pub fn clean_action_path(s: &str) -> String {
    let mut cleaned = clean_str(&format!("/{s}"));
    if s.ends_with("/.") {
        if cleaned != "/" {
            cleaned.push('/');
        }
        cleaned.push('.');
    } else if s.ends_with('/') && cleaned != "/" {
        cleaned.push('/');
    }
    cleaned
}

/// Go's `path.Split`: everything up to and including the last `/`, and
/// the rest.
pub fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => path.split_at(i + 1),
        None => (b"", path),
    }
}

/// [`split`] on a `&str`.
pub fn split_str(path: &str) -> (&str, &str) {
    path.split_at(split(path.as_bytes()).0.len())
}

/// Go's `path.Dir`: everything but the last element, cleaned.
pub fn dir(path: &[u8]) -> Vec<u8> {
    clean(split(path).0)
}

/// [`dir`] on a `&str`.
pub fn dir_str(path: &str) -> String {
    utf8(dir(path.as_bytes()))
}

/// Go's `path.Base`: the last element, trailing separators removed; `.`
/// for an empty path and `/` for one of separators only.
pub fn base(path: &[u8]) -> &[u8] {
    if path.is_empty() {
        return b".";
    }
    let mut end = path.len();
    while end > 0 && path[end - 1] == b'/' {
        end -= 1;
    }
    if end == 0 {
        return b"/";
    }
    let trimmed = &path[..end];
    match trimmed.iter().rposition(|&b| b == b'/') {
        Some(i) => &trimmed[i + 1..],
        None => trimmed,
    }
}

/// `a` and `b` joined by one `/` (none when either is empty or `a` already
/// ends with one). Unlike Go's `path.Join` the result is not cleaned: this
/// builds the path of a directory entry from its parent's.
pub fn join(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len() + b.len() + 1);
    out.extend_from_slice(a);
    if !a.is_empty() && !b.is_empty() && !a.ends_with(b"/") {
        out.push(b'/');
    }
    out.extend_from_slice(b);
    out
}

/// [`join`] on `&str`s.
pub fn join_str(a: &str, b: &str) -> String {
    utf8(join(a.as_bytes(), b.as_bytes()))
}

/// The bytes of a path as text for messages and filters (invalid UTF-8
/// becomes U+FFFD).
pub fn lossy(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

/// Bytes cut from valid UTF-8 at `/` (or joined from it with `/`, `.`) as
/// a `String`; never lossy in practice.
fn utf8(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| lossy(e.as_bytes()))
}

// -------------------------------------------------------------- wildcards

/// fsutil's `containsWildcards`: a `*`, `?` or `[` not escaped by `\`.
pub fn contains_wildcards(path: &[u8]) -> bool {
    let mut i = 0;
    while i < path.len() {
        match path[i] {
            b'\\' => i += 1,
            b'*' | b'?' | b'[' => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

/// fsutil's `splitWildcards`: `path`, cleaned, cut before its first
/// component holding a wildcard. The part before is a plain path (`/` for
/// a rooted path whose first component is a wildcard, `""` for a relative
/// one); the rest is a `filepath.Match` pattern, `""` when there is no
/// wildcard. An empty path (the root in [`clean_source`] form) gives two
/// empty parts.
pub fn split_wildcards(path: &[u8]) -> (Vec<u8>, Vec<u8>) {
    if path.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let cleaned = clean(path);
    let mut fixed: Vec<&[u8]> = Vec::new();
    let mut wild: Vec<&[u8]> = Vec::new();
    for part in cleaned.split(|&b| b == b'/') {
        if wild.is_empty() && !contains_wildcards(part) {
            fixed.push(part);
        } else {
            wild.push(part);
        }
    }
    let mut fixed = fixed.join(&b'/');
    if fixed.is_empty() && cleaned[0] == b'/' {
        // Only the root's empty component came before the wildcard.
        fixed.push(b'/');
    }
    (fixed, wild.join(&b'/'))
}

/// [`split_wildcards`] on a `&str`.
pub fn split_wildcards_str(path: &str) -> (String, String) {
    let (fixed, wild) = split_wildcards(path.as_bytes());
    (utf8(fixed), utf8(wild))
}

/// The most `/`-separated components a path matched by `pattern` can have:
/// `*` and `?` never match `/`, but a character class can.
pub fn max_components(pattern: &[u8]) -> usize {
    let slashes = pattern.iter().filter(|&&b| b == b'/').count();
    let classes = pattern.iter().filter(|&&b| b == b'[').count();
    slashes + classes + 1
}

/// A malformed pattern: Go's `filepath.ErrBadPattern`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadPattern;

impl fmt::Display for BadPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("syntax error in pattern")
    }
}

impl std::error::Error for BadPattern {}

/// Go's `filepath.Match` on Unix: `*` is any run of non-`/` bytes, `?` one
/// character other than `/`, `[...]` a class (`^` negates, `a-z` ranges,
/// `\` escapes), `\c` the character `c`. Like Go, the whole pattern is
/// checked for syntax even when the name does not match, and a malformed
/// pattern is an error (fsutil takes that as "no match").
pub fn go_match(pattern: &[u8], name: &[u8]) -> Result<bool, BadPattern> {
    let mut pat = pattern;
    let mut name = name;
    'outer: while !pat.is_empty() {
        let (star, chunk, rest) = scan_chunk(pat);
        pat = rest;
        if star && chunk.is_empty() {
            // A trailing * matches the rest unless it holds a '/'.
            return Ok(!name.contains(&b'/'));
        }
        // Look for a match at the current position; for the last chunk it
        // must use up the name, or the star could still do better.
        if let Some(t) = match_chunk(chunk, name)? {
            if t.is_empty() || !pat.is_empty() {
                name = t;
                continue;
            }
        }
        if star {
            // Look for a match skipping i+1 bytes; a star cannot skip '/'.
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

/// The leading stars of `pat`, the chunk up to the next star outside a
/// class, and the rest.
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

/// Go's `utf8.DecodeRune`: one character and its length; an invalid or
/// truncated sequence is U+FFFD of length 1, the empty string U+FFFD of
/// length 0.
fn decode(s: &[u8]) -> (u32, usize) {
    if s.is_empty() {
        return (0xFFFD, 0);
    }
    let len = match s[0] {
        0x00..=0x7F => return (u32::from(s[0]), 1),
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return (0xFFFD, 1),
    };
    match s.get(..len).and_then(|b| std::str::from_utf8(b).ok()) {
        Some(c) => (u32::from(c.chars().next().expect("one char")), len),
        None => (0xFFFD, 1),
    }
}

/// Match `chunk` (no `*`) at the start of `s`: the rest of `s` on a
/// match, `None` on a mismatch, an error for a malformed chunk (checked to
/// its end even after a mismatch).
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

/// One possibly escaped character of a class, and the rest of the chunk
/// (which must not end there).
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

    fn s(b: Vec<u8>) -> String {
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn gopath_clean_like_go() {
        for (i, o) in [
            ("", "."),
            (".", "."),
            ("/", "/"),
            ("a/b/../c", "a/c"),
            ("/../..//x/./y/", "/x/y"),
            ("../a", "../a"),
            ("../../a/../b", "../../b"),
            ("a/../..", ".."),
            ("/a/..", "/"),
        ] {
            assert_eq!(s(clean(i.as_bytes())), o, "clean({i:?})");
            assert_eq!(clean_str(i), o, "clean_str({i:?})");
        }
    }

    #[test]
    fn gopath_clean_source_stays_inside() {
        let c = |p: &str| s(clean_source(p.as_bytes()));
        assert_eq!(c("."), "");
        assert_eq!(c("/"), "");
        assert_eq!(c("./"), "");
        assert_eq!(c("../x"), "x");
        assert_eq!(c("../../a/../../b/c/"), "b/c");
        assert_eq!(c("/abs/path"), "abs/path");
        assert_eq!(c("a//b/./c"), "a/b/c");
        assert_eq!(c(""), "");
        assert_eq!(clean_components(b"/../a/./b/../c/"), vec![&b"a"[..], b"c"]);
    }

    #[test]
    fn gopath_action_paths_keep_dir_markers() {
        assert_eq!(clean_action_path("a/b/"), "/a/b/");
        assert_eq!(clean_action_path("a/b/."), "/a/b/.");
        assert_eq!(clean_action_path("/"), "/");
        assert_eq!(clean_action_path("."), "/");
        assert_eq!(clean_action_path("./"), "/");
        assert_eq!(clean_action_path("/."), "/.");
        assert_eq!(clean_action_path("../../x"), "/x");
    }

    #[test]
    fn gopath_split_dir_base_join() {
        assert_eq!(dir_str("/a/b"), "/a");
        assert_eq!(dir_str("/a/b/"), "/a/b");
        assert_eq!(dir_str("a"), ".");
        assert_eq!(split_str("/a/b/."), ("/a/b/", "."));
        assert_eq!(split_str("a"), ("", "a"));
        assert_eq!(split(b"a/b"), (&b"a/"[..], &b"b"[..]));
        assert_eq!(base(b"/a/b/"), b"b");
        assert_eq!(base(b"/"), b"/");
        assert_eq!(base(b""), b".");
        assert_eq!(base(b"a"), b"a");
        assert_eq!(join(b"a", b"b"), b"a/b");
        assert_eq!(join(b"", b"b"), b"b");
        assert_eq!(join(b"a", b""), b"a");
        assert_eq!(join(b"/", b"b"), b"/b");
        assert_eq!(join_str("a/", "b"), "a/b");
        assert_eq!(lossy(b"a\xffb"), "a\u{FFFD}b");
    }

    #[test]
    fn gopath_split_wildcards() {
        let sw = |p: &str| {
            let (a, b) = split_wildcards(p.as_bytes());
            (s(a), s(b))
        };
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        // Rooted, as the copy engine has them (cleaned first).
        assert_eq!(sw("/a/b*/c"), pair("/a", "b*/c"));
        assert_eq!(sw("/*.txt"), pair("/", "*.txt"));
        assert_eq!(sw("/a/b"), pair("/a/b", ""));
        assert_eq!(sw("/a/./b/"), pair("/a/b", ""));
        assert_eq!(sw("/"), pair("/", ""));
        assert_eq!(sw("/a\\*b"), pair("/a\\*b", ""));
        assert_eq!(split_wildcards_str("/x/*/y"), pair("/x", "*/y"));
        // Relative, as the build context has them (clean_source form).
        assert_eq!(sw(""), pair("", ""));
        assert_eq!(sw("a/b/c"), pair("a/b/c", ""));
        assert_eq!(sw("a/*.txt"), pair("a", "*.txt"));
        assert_eq!(sw("a/b?/c/d"), pair("a", "b?/c/d"));
        assert_eq!(sw("*"), pair("", "*"));
        assert_eq!(sw(r"a\*b/c"), pair(r"a\*b/c", ""));
        assert!(contains_wildcards(b"[ab]"));
        assert!(contains_wildcards(b"x[ab]"));
        assert!(!contains_wildcards(br"x\[ab]"));
        assert!(!contains_wildcards(br"\[ab\]"));
    }

    #[test]
    fn gopath_go_match_cases() {
        // Go's path/filepath matchTests (Unix).
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
            assert_eq!(
                &go_match(p.as_bytes(), n.as_bytes()),
                want,
                "match({p:?}, {n:?})"
            );
        }
        // A class can match the separator, so it can add a component.
        assert_eq!(go_match(b"a[/]b", b"a/b"), Ok(true));
        assert_eq!(max_components(b"a[/]b"), 3);
        assert_eq!(max_components(b"*/x"), 2);
        assert_eq!(BadPattern.to_string(), "syntax error in pattern");
    }

    #[test]
    fn gopath_decode_like_go() {
        // Go's utf8.DecodeRune agrees with a strict UTF-8 decoder: invalid,
        // overlong, surrogate and truncated sequences are (U+FFFD, 1).
        assert_eq!(decode(b""), (0xFFFD, 0));
        assert_eq!(decode(b"a"), (0x61, 1));
        assert_eq!(decode("é!".as_bytes()), (0xE9, 2));
        assert_eq!(decode("☺".as_bytes()), (0x263A, 3));
        assert_eq!(decode("😀".as_bytes()), (0x1F600, 4));
        for bad in [
            &b"\x80"[..],
            b"\xC0\x80",
            b"\xC1\xBF",
            b"\xE0\x80\x80",
            b"\xED\xA0\x80",
            b"\xF4\x90\x80\x80",
            b"\xF5\x80\x80\x80",
            b"\xE2\x98",
            b"\xFF",
        ] {
            assert_eq!(decode(bad), (0xFFFD, 1), "{bad:?}");
        }
    }
}
