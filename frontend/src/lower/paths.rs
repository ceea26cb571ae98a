//! Path rules of the reference (Go's `path.Clean`/`path.Join` and
//! BuildKit's `NormalizePath`): how WORKDIR and COPY destinations combine
//! with the current working directory. Linux paths only.

/// Go's `path.Clean`: lexical cleanup, `""` becomes `"."`.
pub fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|last| *last != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            _ => parts.push(part),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

/// Go's `path.Join`: joins non-empty elements and cleans the result.
pub fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => String::new(),
        (true, false) => clean(b),
        (false, true) => clean(a),
        (false, false) => clean(&format!("{a}/{b}")),
    }
}

/// BuildKit's `NormalizePath(parent, new, "linux", keep_slash)`: a relative
/// `new` is joined onto `parent` (cleaned); an absolute one is kept as
/// written. With `keep_slash`, a trailing `/` or `/.` survives, because it
/// tells COPY that the destination is a directory.
pub fn normalize(parent: &str, new: &str, keep_slash: bool) -> String {
    let parent = match parent {
        "" => "/".to_string(),
        p if !p.starts_with('/') => join("/", p),
        p => p.to_string(),
    };
    let mut out = match new {
        "" => parent.clone(),
        n if n.starts_with('/') => n.to_string(),
        n => join(&parent, n),
    };
    if keep_slash {
        if new.ends_with('/') && !out.ends_with('/') {
            out.push('/');
        } else if new.ends_with("/.") {
            if out != "/" {
                out.push('/');
            }
            out.push('.');
        }
    }
    out
}

/// Destination of COPY/ADD relative to the working directory `cwd`.
pub fn relative_to_workdir(cwd: &str, dest: &str) -> String {
    if dest.starts_with('/') {
        return normalize("/", dest, true);
    }
    let dest = if dest.is_empty() || dest == "." {
        "./"
    } else {
        dest
    };
    normalize(cwd, dest, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_matches_go() {
        for (input, want) in [
            ("", "."),
            ("/", "/"),
            ("a/b/../c", "a/c"),
            ("/../a", "/a"),
            ("../a", "../a"),
            ("a/../..", ".."),
            ("//a//b/", "/a/b"),
            ("./", "."),
        ] {
            assert_eq!(clean(input), want, "clean({input:?})");
        }
    }

    #[test]
    fn normalize_keeps_absolute_paths_and_trailing_slashes() {
        assert_eq!(normalize("/app", "src", false), "/app/src");
        assert_eq!(normalize("/app", "../x", false), "/x");
        assert_eq!(normalize("/app", "/abs/./p", false), "/abs/./p");
        assert_eq!(normalize("/app", "dir/", true), "/app/dir/");
        assert_eq!(normalize("/", "./", true), "/");
        assert_eq!(normalize("/app", "./", true), "/app/");
        assert_eq!(normalize("/app", "x/.", true), "/app/x/.");
        assert_eq!(normalize("", "x", false), "/x");
        assert_eq!(normalize("rel", "x", false), "/rel/x");
    }

    #[test]
    fn copy_destinations() {
        assert_eq!(relative_to_workdir("/app", "."), "/app/");
        assert_eq!(relative_to_workdir("/app", ""), "/app/");
        assert_eq!(relative_to_workdir("/app", "bin/"), "/app/bin/");
        assert_eq!(relative_to_workdir("/app", "/usr/bin"), "/usr/bin");
        assert_eq!(relative_to_workdir("/", "x"), "/x");
    }
}
