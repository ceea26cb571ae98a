//! Slash-separated path helpers with Go's `path` package semantics, which
//! BuildKit applies to every path of a file action.

/// Go's `path.Clean`: the shortest lexically equivalent path. `..` above the
/// root of a rooted path is dropped; an empty result is `.`.
pub(crate) fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                if matches!(out.last(), Some(&last) if last != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// BuildKit's `cleanPath` for the `src` and `dest` of a copy: rooted and
/// clean, but a trailing `/` or `/.` (meaning "a directory") is kept.
pub(crate) fn clean_action_path(s: &str) -> String {
    let mut cleaned = clean(&format!("/{s}"));
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
pub(crate) fn split(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(i) => (&path[..=i], &path[i + 1..]),
        None => ("", path),
    }
}

/// Go's `path.Dir`: everything but the last element, cleaned.
pub(crate) fn dir(path: &str) -> String {
    let (d, _) = split(path);
    clean(d)
}

/// `a` joined with `b` by one `/` (either may be empty).
pub(crate) fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ if a.ends_with('/') => format!("{a}{b}"),
        _ => format!("{a}/{b}"),
    }
}

/// The components of `path` taken as rooted and cleaned lexically (Go's
/// `path.Clean("/" + path)`, on bytes): no empty, `.` or `..` left.
pub(crate) fn clean_components(path: &[u8]) -> Vec<&[u8]> {
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

/// Go's `path.Base` on bytes.
pub(crate) fn base_bytes(path: &[u8]) -> &[u8] {
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

/// `a` joined with `b` by one `/` (either may be empty), on bytes.
pub(crate) fn join_bytes(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = a.to_vec();
    if !a.is_empty() && !b.is_empty() && !a.ends_with(b"/") {
        out.push(b'/');
    }
    out.extend_from_slice(b);
    out
}

/// Bytes of a path shown in messages and given to filters.
pub(crate) fn lossy(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fileop_gopath_clean_like_go() {
        for (i, o) in [
            ("", "."),
            ("/", "/"),
            ("a/b/../c", "a/c"),
            ("/../..//x/./y/", "/x/y"),
            ("../a", "../a"),
            ("a/../..", ".."),
            ("/a/..", "/"),
        ] {
            assert_eq!(clean(i), o, "clean({i:?})");
        }
    }

    #[test]
    fn fileop_gopath_action_paths_keep_dir_markers() {
        assert_eq!(clean_action_path("a/b/"), "/a/b/");
        assert_eq!(clean_action_path("a/b/."), "/a/b/.");
        assert_eq!(clean_action_path("/"), "/");
        assert_eq!(clean_action_path("."), "/");
        assert_eq!(clean_action_path("./"), "/");
        assert_eq!(clean_action_path("/."), "/.");
        assert_eq!(clean_action_path("../../x"), "/x");
        assert_eq!(dir("/a/b"), "/a");
        assert_eq!(dir("/a/b/"), "/a/b");
        assert_eq!(split("/a/b/."), ("/a/b/", "."));
        assert_eq!(clean_components(b"/../a/./b/../c/"), vec![&b"a"[..], b"c"]);
        assert_eq!(base_bytes(b"/a/b/"), b"b");
        assert_eq!(base_bytes(b"/"), b"/");
        assert_eq!(join_bytes(b"a", b"b"), b"a/b");
        assert_eq!(join_bytes(b"", b"b"), b"b");
    }
}
