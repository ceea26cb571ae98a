//! Byte-level path helpers with the semantics of Go's `path` and
//! `path/filepath` on Unix, which is what BuildKit applies to COPY/ADD
//! sources: `path.Clean`, the wildcard test and split of fsutil's copy, and
//! `filepath.Match`.

/// Go's `path.Clean` on bytes: repeated separators collapse, `.` elements
/// vanish, `..` removes the element before it (or vanishes at the root of a
/// rooted path), trailing separators go; an empty result is `.`.
pub(crate) fn clean(path: &[u8]) -> Vec<u8> {
    let rooted = path.first() == Some(&b'/');
    let mut parts: Vec<&[u8]> = Vec::new();
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

/// A COPY/ADD source as BuildKit sees it: `path.Clean("/" + src)` without
/// the leading `/`, so `..` can never climb out of the context (`""` is the
/// context root).
pub(crate) fn clean_source(src: &[u8]) -> Vec<u8> {
    let mut rooted = Vec::with_capacity(src.len() + 1);
    rooted.push(b'/');
    rooted.extend_from_slice(src);
    let mut cleaned = clean(&rooted);
    cleaned.remove(0);
    cleaned
}

/// fsutil's `containsWildcards`: an unescaped `*`, `?` or `[`.
pub(crate) fn contains_wildcards(name: &[u8]) -> bool {
    let mut i = 0;
    while i < name.len() {
        match name[i] {
            b'\\' => i += 1,
            b'*' | b'?' | b'[' => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

/// fsutil's `splitWildcards` on a clean relative path: the components
/// before the first one with a wildcard, and the rest (empty when there is
/// no wildcard).
pub(crate) fn split_wildcards(path: &[u8]) -> (Vec<u8>, Vec<u8>) {
    if path.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let mut fixed: Vec<&[u8]> = Vec::new();
    let mut wild: Vec<&[u8]> = Vec::new();
    for part in path.split(|&b| b == b'/') {
        if wild.is_empty() && !contains_wildcards(part) {
            fixed.push(part);
        } else {
            wild.push(part);
        }
    }
    (fixed.join(&b'/'), wild.join(&b'/'))
}

/// The most `/`-separated components a path matched by `pattern` can have:
/// `*` and `?` never match `/`, but a character class can.
pub(crate) fn max_components(pattern: &[u8]) -> usize {
    let slashes = pattern.iter().filter(|&&b| b == b'/').count();
    let classes = pattern.iter().filter(|&&b| b == b'[').count();
    slashes + classes + 1
}

/// Go's `utf8.DecodeRune`: the rune and its length, `(0xFFFD, 1)` for an
/// invalid or truncated sequence.
fn decode_rune(s: &[u8]) -> (u32, usize) {
    const ERROR: (u32, usize) = (0xFFFD, 1);
    let b0 = s[0];
    if b0 < 0x80 {
        return (u32::from(b0), 1);
    }
    let (len, min, init) = match b0 {
        0xC2..=0xDF => (2, 0x80, b0 & 0x1F),
        0xE0..=0xEF => (3, 0x800, b0 & 0x0F),
        0xF0..=0xF4 => (4, 0x1_0000, b0 & 0x07),
        _ => return ERROR,
    };
    if s.len() < len {
        return ERROR;
    }
    let mut r = u32::from(init);
    for &b in &s[1..len] {
        if b & 0xC0 != 0x80 {
            return ERROR;
        }
        r = (r << 6) | u32::from(b & 0x3F);
    }
    if r < min || r > 0x10_FFFF || (0xD800..=0xDFFF).contains(&r) {
        return ERROR;
    }
    (r, len)
}

/// Go's `filepath.Match` on Unix, with its error folded into "no match"
/// (fsutil ignores the error). `*` matches any run of non-`/` bytes, `?` one
/// non-`/` character, `[...]` a class (`^` negates, `\` escapes), `\`
/// escapes the next character.
pub(crate) fn go_match(pattern: &[u8], name: &[u8]) -> bool {
    matches!(go_match_inner(pattern, name), Ok(true))
}

struct BadPattern;

fn go_match_inner(mut pattern: &[u8], mut name: &[u8]) -> Result<bool, BadPattern> {
    'pattern: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // A trailing `*` matches the rest of the name unless it has a `/`.
            return Ok(!name.contains(&b'/'));
        }
        let (t, ok) = match_chunk(chunk, name)?;
        if ok && (t.is_empty() || !pattern.is_empty()) {
            name = t;
            continue;
        }
        if star {
            let mut i = 0;
            while i < name.len() && name[i] != b'/' {
                let (t, ok) = match_chunk(chunk, &name[i + 1..])?;
                if ok {
                    if pattern.is_empty() && !t.is_empty() {
                        i += 1;
                        continue;
                    }
                    name = t;
                    continue 'pattern;
                }
                i += 1;
            }
        }
        // Before failing, check that the rest of the pattern is well formed.
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            match_chunk(chunk, b"")?;
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

fn scan_chunk(mut pattern: &[u8]) -> (bool, &[u8], &[u8]) {
    let mut star = false;
    while pattern.first() == Some(&b'*') {
        pattern = &pattern[1..];
        star = true;
    }
    let mut in_range = false;
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'\\' if i + 1 < pattern.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    (star, &pattern[..i], &pattern[i..])
}

fn match_chunk<'a>(mut chunk: &[u8], mut s: &'a [u8]) -> Result<(&'a [u8], bool), BadPattern> {
    let mut failed = false;
    while !chunk.is_empty() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match chunk[0] {
            b'[' => {
                let mut r = 0u32;
                if !failed {
                    let (rune, n) = decode_rune(s);
                    r = rune;
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
                    let (_, n) = decode_rune(s);
                    s = &s[n..];
                }
                chunk = &chunk[1..];
            }
            c => {
                let literal = if c == b'\\' {
                    chunk = &chunk[1..];
                    match chunk.first() {
                        Some(&b) => b,
                        None => return Err(BadPattern),
                    }
                } else {
                    c
                };
                if !failed {
                    if literal != s[0] {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
        }
    }
    if failed {
        Ok((b"", false))
    } else {
        Ok((s, true))
    }
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
    let (r, n) = decode_rune(chunk);
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
    fn clean_source_stays_inside() {
        let c = |s: &str| String::from_utf8(clean_source(s.as_bytes())).unwrap();
        assert_eq!(c("."), "");
        assert_eq!(c("/"), "");
        assert_eq!(c("./"), "");
        assert_eq!(c("../x"), "x");
        assert_eq!(c("../../a/../../b/c/"), "b/c");
        assert_eq!(c("/abs/path"), "abs/path");
        assert_eq!(c("a//b/./c"), "a/b/c");
        assert_eq!(c(""), "");
    }

    #[test]
    fn wildcard_split() {
        let s = |p: &str| {
            let (a, b) = split_wildcards(p.as_bytes());
            (String::from_utf8(a).unwrap(), String::from_utf8(b).unwrap())
        };
        assert_eq!(s("a/b/c"), ("a/b/c".into(), "".into()));
        assert_eq!(s("a/*.txt"), ("a".into(), "*.txt".into()));
        assert_eq!(s("a/b?/c/d"), ("a".into(), "b?/c/d".into()));
        assert_eq!(s("*"), ("".into(), "*".into()));
        assert_eq!(s(r"a\*b/c"), (r"a\*b/c".into(), "".into()));
        assert!(contains_wildcards(b"[ab]"));
        assert!(!contains_wildcards(br"\[ab\]"));
    }

    #[test]
    fn go_match_cases() {
        // Go's path/filepath matchTests (Unix).
        let cases: &[(&str, &str, bool)] = &[
            ("abc", "abc", true),
            ("*", "abc", true),
            ("*c", "abc", true),
            ("a*", "a", true),
            ("a*", "abc", true),
            ("a*", "ab/c", false),
            ("a*/b", "abc/b", true),
            ("a*/b", "a/c/b", false),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false),
            ("a*b?c*x", "abxbbxdbxebxczzx", true),
            ("a*b?c*x", "abxbbxdbxebxczzy", false),
            ("ab[c]", "abc", true),
            ("ab[b-d]", "abc", true),
            ("ab[e-g]", "abc", false),
            ("ab[^c]", "abc", false),
            ("ab[^b-d]", "abc", false),
            ("ab[^e-g]", "abc", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "ab", false),
            ("a?b", "a☺b", true),
            ("a[^a]b", "a☺b", true),
            ("a???b", "a☺b", false),
            ("a[^a][^a][^a]b", "a☺b", false),
            ("[a-ζ]*", "α", true),
            ("*[a-ζ]", "A", false),
            ("a?b", "a/b", false),
            ("a*b", "a/b", false),
            ("[\\]a]", "]", true),
            ("[\\-]", "-", true),
            ("[x\\-]", "x", true),
            ("[x\\-]", "-", true),
            ("[x\\-]", "z", false),
            ("[\\-x]", "x", true),
            ("[\\-x]", "-", true),
            ("[\\-x]", "a", false),
            ("[]a]", "]", false),
            ("[-]", "-", false),
            ("[x-]", "x", false),
            ("[x-]", "-", false),
            ("[x-]", "z", false),
            ("[-x]", "x", false),
            ("[-x]", "-", false),
            ("[-x]", "a", false),
            ("\\", "a", false),
            ("[a-b-c]", "a", false),
            ("[", "a", false),
            ("[^", "a", false),
            ("[^bc", "a", false),
            ("a[", "a", false),
            ("a[", "ab", false),
            ("a[", "x", false),
            ("a/b[", "x", false),
            ("*x", "xxx", true),
        ];
        for &(p, n, want) in cases {
            assert_eq!(go_match(p.as_bytes(), n.as_bytes()), want, "{p} {n}");
        }
        assert!(go_match(b"a[/]b", b"a/b"));
        assert_eq!(max_components(b"a[/]b"), 3);
        assert_eq!(max_components(b"*/x"), 2);
    }
}
