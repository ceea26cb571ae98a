//! Tests for Docker's ignore semantics. The tables follow moby's
//! `patternmatcher` and `ignorefile` tests (same cases, same expected
//! results); the rest pin down behaviour that differs from gitignore and
//! the quirks of the reference implementation.

use super::*;

fn matcher(patterns: &[&str]) -> Matcher {
    Matcher::new(patterns).unwrap_or_else(|e| panic!("{patterns:?}: {e}"))
}

/// Checks `path` with every entry point, which must all agree here: the
/// walk-consistent `matches`, an explicit walk through `match_dir`, the
/// standalone `matches_or_parent_matches`, and `matches_with` without a
/// parent result.
fn check_all(m: &Matcher, path: &str, want: bool, what: &str) {
    assert_eq!(m.matches(path), want, "matches: {what}");
    assert_eq!(m.matches_or_parent_matches(path), want, "or-parent: {what}");
    assert_eq!(m.matches_with(path, None), want, "no parent: {what}");
    let mut parent = None;
    for (end, _) in path.match_indices('/') {
        parent = Some(m.match_dir(&path[..end], parent.as_ref()));
    }
    assert_eq!(m.matches_with(path, parent.as_ref()), want, "walk: {what}");
}

/// moby `TestMatches`: one pattern, one path.
#[test]
fn single_pattern_table() {
    let cases: &[(&str, &str, bool)] = &[
        ("**", "file", true),
        ("**", "file/", true),
        ("**/", "file", true),
        ("**/", "file/", true),
        ("**", "/", true),
        ("**/", "/", true),
        ("**", "dir/file", true),
        ("**/", "dir/file", true),
        ("**", "dir/file/", true),
        ("**/", "dir/file/", true),
        ("**/**", "dir/file", true),
        ("**/**", "dir/file/", true),
        ("dir/**", "dir/file", true),
        ("dir/**", "dir/file/", true),
        ("dir/**", "dir/dir2/file", true),
        ("dir/**", "dir/dir2/file/", true),
        ("**/dir", "dir", true),
        ("**/dir", "dir/file", true),
        ("**/dir2/*", "dir/dir2/file", true),
        ("**/dir2/*", "dir/dir2/file/", true),
        ("**/dir2/**", "dir/dir2/dir3/file", true),
        ("**/dir2/**", "dir/dir2/dir3/file/", true),
        ("**file", "file", true),
        ("**file", "dir/file", true),
        ("**/file", "dir/file", true),
        ("**file", "dir/dir/file", true),
        ("**/file", "dir/dir/file", true),
        ("**/file*", "dir/dir/file", true),
        ("**/file*", "dir/dir/file.txt", true),
        ("**/file*txt", "dir/dir/file.txt", true),
        ("**/file*.txt", "dir/dir/file.txt", true),
        ("**/file*.txt*", "dir/dir/file.txt", true),
        ("**/**/*.txt", "dir/dir/file.txt", true),
        ("**/**/*.txt2", "dir/dir/file.txt", false),
        ("**/*.txt", "file.txt", true),
        ("**/**/*.txt", "file.txt", true),
        ("a**/*.txt", "a/file.txt", true),
        ("a**/*.txt", "a/dir/file.txt", true),
        ("a**/*.txt", "a/dir/dir/file.txt", true),
        ("a/*.txt", "a/dir/file.txt", false),
        ("a/*.txt", "a/file.txt", true),
        ("a/*.txt**", "a/file.txt", true),
        ("a[b-d]e", "ae", false),
        ("a[b-d]e", "ace", true),
        ("a[b-d]e", "aae", false),
        ("a[^b-d]e", "aze", true),
        (".*", ".foo", true),
        (".*", "foo", false),
        ("abc.def", "abcdef", false),
        ("abc.def", "abc.def", true),
        ("abc.def", "abcZdef", false),
        ("abc?def", "abcZdef", true),
        ("abc?def", "abcdef", false),
        (r"a\\", r"a\", true),
        ("**/foo/bar", "foo/bar", true),
        ("**/foo/bar", "dir/foo/bar", true),
        ("**/foo/bar", "dir/dir2/foo/bar", true),
        ("abc/**", "abc", false),
        ("abc/**", "abc/def", true),
        ("abc/**", "abc/def/ghi", true),
        ("**/.foo", ".foo", true),
        ("**/.foo", "bar.foo", false),
        ("a(b)c/def", "a(b)c/def", true),
        ("a(b)c/def", "a(b)c/xyz", false),
        ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
        (
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            true,
        ),
        (
            "dist/*.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            true,
        ),
        (r"a\*b", "a*b", true),
    ];
    for &(pattern, path, want) in cases {
        let m = matcher(&[pattern]);
        check_all(
            &m,
            path,
            want,
            &format!("pattern {pattern:?}, path {path:?}"),
        );
    }
}

/// moby `TestMatches`: several patterns.
#[test]
fn multi_pattern_table() {
    let whl = "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl";
    let cases: &[(&[&str], &str, bool)] = &[
        (&["**", "!util/docker/web"], "util/docker/web/foo", false),
        (
            &["**", "!util/docker/web", "util/docker/web/foo"],
            "util/docker/web/foo",
            true,
        ),
        (
            &[
                "**",
                "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            ],
            whl,
            false,
        ),
        (&["**", "!dist/*.whl"], whl, false),
        // moby's small single-purpose tests.
        (&["*"], "fileutils.go", true),
        (&["*.go"], "fileutils.go", true),
        (&["!fileutils.go", "*.go"], "fileutils.go", true),
        (&["*.go", "!fileutils.go"], "fileutils.go", false),
        (&["docs", "!docs/README.md"], "docs/README.md", false),
        (&["docs/", "!docs/README.md"], "docs/README.md", false),
        (&["docs/*", "!docs/README.md"], "docs/README.md", false),
        (&[], "any/path/there", false),
    ];
    for &(patterns, path, want) in cases {
        let m = matcher(patterns);
        check_all(
            &m,
            path,
            want,
            &format!("patterns {patterns:?}, path {path:?}"),
        );
    }
}

/// moby `TestMatch`, itself taken from Go's `filepath.Match` tests.
#[test]
fn filepath_match_table() {
    let cases: &[(&str, &str, bool)] = &[
        ("abc", "abc", true),
        ("*", "abc", true),
        ("*c", "abc", true),
        ("a*", "a", true),
        ("a*", "abc", true),
        ("a*", "ab/c", true),
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
        (r"a\*b", "a*b", true),
        (r"a\*b", "ab", false),
        ("a?b", "a☺b", true),
        ("a[^a]b", "a☺b", true),
        ("a???b", "a☺b", false),
        ("a[^a][^a][^a]b", "a☺b", false),
        ("[a-ζ]*", "α", true),
        ("*[a-ζ]", "A", false),
        ("a?b", "a/b", false),
        ("a*b", "a/b", false),
        (r"[\]a]", "]", true),
        (r"[\-]", "-", true),
        (r"[x\-]", "x", true),
        (r"[x\-]", "-", true),
        (r"[x\-]", "z", false),
        (r"[\-x]", "x", true),
        (r"[\-x]", "-", true),
        (r"[\-x]", "a", false),
        ("*x", "xxx", true),
    ];
    for &(pattern, path, want) in cases {
        let m = matcher(&[pattern]);
        check_all(
            &m,
            path,
            want,
            &format!("pattern {pattern:?}, path {path:?}"),
        );
    }
}

#[test]
fn malformed_patterns_are_errors() {
    for pattern in [
        "[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]", "[", "[^", "[^bc", "a[", "[^]", "a[]",
        "x/[", "!a\\",
    ] {
        let err = Matcher::new([pattern]).expect_err(pattern);
        assert_eq!(
            err,
            Error::BadPattern {
                pattern: pattern.to_owned(),
                index: 0
            }
        );
        assert_eq!(err.to_string(), "syntax error in pattern");
        assert_eq!(err.pattern(), Some(pattern));
    }
}

#[test]
fn regex_level_errors_are_reported_at_construction() {
    // Valid for `filepath.Match` but not as Docker's regular expression;
    // Docker only fails once it first evaluates the pattern.
    for pattern in [
        "[Local-Only]/",
        "[z-a]",
        r"\y",
        r"a\1",
        "[[:nope:]]",
        r"\é",
        "a{1001}*",
    ] {
        let err = Matcher::new(["ok", pattern]).expect_err(pattern);
        assert_eq!(
            err,
            Error::BadPattern {
                pattern: pattern.to_owned(),
                index: 1
            }
        );
    }
}

#[test]
fn large_expressions_that_go_accepts() {
    // Beyond the `regex` crate's default size limit.
    let m = matcher(&[r"\pL{400}"]);
    assert!(m.matches(&"é".repeat(400)));
    assert!(!m.matches(&"é".repeat(399)));
}

#[test]
fn syntax_is_checked_for_all_patterns_before_regexes_are_built() {
    let err = Matcher::new(["[z-a]", "ok", "!"]).unwrap_err();
    assert!(
        matches!(err, Error::IllegalExclusion { index: 2, .. }),
        "{err:?}"
    );
    let err = Matcher::new(["[z-a]", "["]).unwrap_err();
    assert!(matches!(err, Error::BadPattern { index: 1, .. }), "{err:?}");
}

#[test]
fn lone_exclamation_mark_is_an_error() {
    // `!./` cleans to `!.`, an exception for the path `.`.
    assert!(Matcher::new(["!./"]).unwrap().has_exclusions());
    for pattern in ["!", " ! ", "!/", "./!"] {
        let err = Matcher::new(["a", pattern]).expect_err(pattern);
        assert_eq!(
            err,
            Error::IllegalExclusion {
                pattern: pattern.to_owned(),
                index: 1
            }
        );
        assert_eq!(err.to_string(), r#"illegal exclusion pattern: "!""#);
    }
}

/// moby `TestCompile`: the kind of matcher and Docker's exact expression.
#[test]
fn compile_table() {
    use glob::Kind::*;
    let cases: &[(&str, glob::Kind, &str)] = &[
        ("*", Regex, r"^[^/]*$"),
        ("file*", Regex, r"^file[^/]*$"),
        ("*file", Regex, r"^[^/]*file$"),
        ("a*/b", Regex, r"^a[^/]*/b$"),
        ("**", Suffix, ""),
        ("**/**", Regex, r"^(.*/)?.*$"),
        ("dir/**", Prefix, ""),
        ("**/dir", Suffix, ""),
        ("**/dir2/*", Regex, r"^(.*/)?dir2/[^/]*$"),
        ("**/dir2/**", Regex, r"^(.*/)?dir2/.*$"),
        ("**file", Suffix, ""),
        ("**/file*txt", Regex, r"^(.*/)?file[^/]*txt$"),
        ("**/**/*.txt", Regex, r"^(.*/)?(.*/)?[^/]*\.txt$"),
        ("a[b-d]e", Regex, r"^a[b-d]e$"),
        (".*", Regex, r"^\.[^/]*$"),
        ("abc.def", Exact, ""),
        ("abc?def", Regex, r"^abc[^/]def$"),
        ("**/foo/bar", Suffix, ""),
        ("a(b)c/def", Exact, ""),
        ("a.|)$(}+{bc", Exact, ""),
        (
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            Exact,
            "",
        ),
        // Not in moby's table: `|`, `{` and `}` are not escaped.
        ("a|b*", Regex, r"^a|b[^/]*$"),
        ("?{2}", Regex, r"^[^/]{2}$"),
        ("**.md", Suffix, ""),
        ("**/a/**", Regex, r"^(.*/)?a/.*$"),
    ];
    for &(pattern, kind, source) in cases {
        let plan = glob::plan(&path::clean(pattern));
        assert_eq!(plan.kind, kind, "{pattern}");
        if kind == Regex {
            assert_eq!(plan.source, source, "{pattern}");
        }
    }
}

#[test]
fn patterns_are_trimmed_cleaned_and_counted() {
    let m = matcher(&["docs", "config", "", "   "]);
    assert_eq!(m.patterns().len(), 2);
    assert!(!m.has_exclusions());

    for patterns in [
        ["docs", "!docs/README.md"],
        ["docs", "  !docs/README.md"],
        ["docs", "!docs/README.md  "],
    ] {
        let m = matcher(&patterns);
        assert!(m.has_exclusions(), "{patterns:?}");
        assert_eq!(m.patterns()[1].as_str(), "docs/README.md");
        assert!(m.patterns()[1].is_exclusion());
    }

    let m = matcher(&["./a//b/../c/", "x/./y/.."]);
    let texts: Vec<_> = m.patterns().iter().map(Pattern::as_str).collect();
    assert_eq!(texts, ["a/c", "x"]);
    assert!(Matcher::new(Vec::<String>::new()).unwrap().is_empty());
}

/// moby `TestReadAll` for the ignore-file reader.
#[test]
fn reader_table() {
    assert_eq!(parse_ignore_file("").unwrap(), Vec::<String>::new());
    let contents =
        "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! ";
    assert_eq!(
        parse_ignore_file(contents).unwrap(),
        [
            "test1",
            "test2",
            "a/file/here",
            "lastfile",
            "!inverted/abs/path",
            "!",
            "!"
        ]
    );
}

#[test]
fn reader_details() {
    let cases: &[(&str, &[&str])] = &[
        // A byte order mark is dropped from the first line only.
        ("\u{feff}a\n\u{feff}b", &["a", "\u{feff}b"]),
        ("\u{feff}# comment\nx", &["x"]),
        // CRLF line ends; only one `\r` belongs to the line end, the rest
        // is white space.
        ("a\r\nb\r\r\n c \r", &["a", "b", "c"]),
        // `#` is a comment only in the first column.
        ("#x\n #y\n\t# z", &["#y", "# z"]),
        // Cleaning; one leading `/` dropped; `/`, `.` and `..` survive.
        (
            "./a\n/b/\na//b/./c/../d\n/\n//\n.\n./\n..\n../x\n/../y",
            &["a", "b", "a/b/d", "/", "/", ".", ".", "..", "../x", "y"],
        ),
        // Exceptions are cleaned after the `!` and its white space.
        (
            "!./a/\n! /b\n!\t../c\n!/\n!.",
            &["!a", "!b", "!../c", "!/", "!."],
        ),
        // Only leading and trailing white space goes, Unicode included.
        (" a b \n\u{a0}c\u{3000}\n\u{85}d", &["a b", "c", "d"]),
        // A path that cleans to `!...` becomes an exception.
        ("/!a\n./!b\n\\!c", &["!a", "!b", "\\!c"]),
    ];
    for &(contents, want) in cases {
        assert_eq!(parse_ignore_file(contents).unwrap(), want, "{contents:?}");
    }
}

#[test]
fn reader_line_length_limit() {
    let ok = "a".repeat(MAX_LINE);
    assert_eq!(parse_ignore_file(&ok).unwrap(), [ok.as_str()]);
    assert_eq!(parse_ignore_file(&format!("{ok}\n")).unwrap().len(), 1);

    let long = "a".repeat(MAX_LINE + 1);
    let err = parse_ignore_file(&format!("x\n{long}\ny")).unwrap_err();
    assert_eq!(err, Error::LineTooLong { line: 2 });
    assert!(err.to_string().contains("token too long"));
    assert_eq!(err.pattern(), None);
    // The `\r` of a CRLF line end counts.
    let err = parse_ignore_file(&format!("{ok}\r\n")).unwrap_err();
    assert_eq!(err, Error::LineTooLong { line: 1 });
}

#[test]
fn from_ignore_file() {
    let m = Matcher::from_ignore_file("# build output\n/target\n*.md\n!README.md\n").unwrap();
    assert!(m.matches("target"));
    assert!(m.matches("target/debug/kiln"));
    assert!(m.matches("CHANGELOG.md"));
    assert!(!m.matches("README.md"));
    assert!(!m.matches("src/target"));
    assert!(matches!(
        Matcher::from_ignore_file("ok\n!\n"),
        Err(Error::IllegalExclusion { index: 1, .. })
    ));
}

/// Where Docker and gitignore disagree.
#[test]
fn docker_is_not_gitignore() {
    // `*.md` is anchored at the context root.
    let m = matcher(&["*.md"]);
    assert!(m.matches("README.md"));
    assert!(!m.matches("docs/a.md"));

    // `**/*.md` matches at any depth, the root included.
    let m = matcher(&["**/*.md"]);
    assert!(m.matches("README.md"));
    assert!(m.matches("docs/a.md"));
    assert!(m.matches("docs/x/y/a.md"));
    assert!(!m.matches("docs/a.mdx"));

    // A pattern without `/` is not matched against base names.
    let m = matcher(&["node_modules"]);
    assert!(m.matches("node_modules/x/y.js"));
    assert!(!m.matches("web/node_modules/y.js"));

    // `dir` and `dir/` are the same, and both match files too.
    for pattern in ["build", "build/"] {
        let m = matcher(&[pattern]);
        assert!(m.matches("build"), "{pattern}");
        assert!(m.matches("build/out/a.o"), "{pattern}");
        assert!(!m.matches("build.rs"), "{pattern}");
    }

    // A leading `/`, `./` and `..` elements are cleaned away (by the
    // reader for `/`); `..` patterns outside the context never match.
    let m = Matcher::from_ignore_file("/a\n./b\nc/../d\n../e").unwrap();
    assert!(m.matches("a") && m.matches("b") && m.matches("d"));
    assert!(!m.matches("c") && !m.matches("e"));

    // An exception re-includes a file inside an excluded directory (git
    // cannot re-include below an excluded directory), and the directory
    // must then be walked.
    let m = matcher(&["docs", "!docs/README.md"]);
    assert!(m.matches("docs"));
    assert!(m.matches("docs/other.md"));
    assert!(!m.matches("docs/README.md"));
    assert!(!m.can_skip_excluded_dir("docs"));

    // The last matching line wins.
    let m = matcher(&["*.log", "!keep.log", "*.log"]);
    assert!(m.matches("keep.log"));

    // `[!...]` is not a negation: `!` is just a member of the class.
    let m = matcher(&["[!a]"]);
    assert!(m.matches("!"));
    assert!(m.matches("a"));
    assert!(!m.matches("b"));
    let m = matcher(&["[^a]"]);
    assert!(m.matches("b"));
    assert!(!m.matches("a"));

    // `#` only starts a comment in the first column; a trailing space is
    // trimmed (no `\ ` escape needed or possible).
    let m = Matcher::from_ignore_file(" #notes\nfoo \n").unwrap();
    assert!(m.matches("#notes"));
    assert!(m.matches("foo"));
}

#[test]
fn dot_and_slash_match_nothing() {
    for contents in [".", "/", "./", "//"] {
        let m = Matcher::from_ignore_file(contents).unwrap();
        for path in ["a", "a/b", ".a", ".dockerignore"] {
            assert!(!m.matches(path), "{contents:?} {path:?}");
        }
    }
    // By contrast `*` and `**` do exclude everything.
    assert!(matcher(&["*"]).matches("a/b"));
    assert!(matcher(&["**"]).matches("a/b"));
}

#[test]
fn cleaned_exclamation_marks_become_exceptions() {
    // `/!a` and `./!a` clean to `!a`; `\!a` is a pattern for a file `!a`.
    let m = Matcher::from_ignore_file("*\n/!keep").unwrap();
    assert!(!m.matches("keep"));
    let m = Matcher::from_ignore_file("*\n\\!keep").unwrap();
    assert!(m.matches("keep"));
    assert!(m.matches("!keep"));
    let m = matcher(&["\\!keep"]);
    assert!(m.matches("!keep"));
    assert!(!m.matches("keep"));
}

/// The context walk passes each directory's result down; moby's
/// standalone check instead matches every pattern against every parent.
/// They disagree when an exception that names a parent was skipped while
/// that parent was checked (nothing was excluded yet at that point).
#[test]
fn walk_and_standalone_check_can_disagree() {
    let m = matcher(&["a/b", "!a"]);
    assert!(!m.matches("a"));
    assert!(m.matches("a/b"));
    assert!(m.matches("a/b/c"));
    assert!(!m.matches_or_parent_matches("a/b"));
    assert!(!m.matches_or_parent_matches("a/b/c"));

    let m = matcher(&["a", "!a/b", "a"]);
    assert!(m.matches("a"));
    assert!(!m.matches("a/b"));
    assert!(!m.matches("a/b/c"));
    assert!(m.matches_or_parent_matches("a/b"));
}

/// Docker's patterns are regular expressions with glob syntax on top, and
/// some regular expression syntax shows through.
#[test]
fn regex_syntax_shows_through() {
    // `|` is alternation (moby fails to escape it), splitting the anchors.
    // `^a|b[^/]*$`: the first branch is not anchored at the end.
    let m = matcher(&["a|b*"]);
    assert!(m.matches("a") && m.matches("b") && m.matches("bz"));
    assert!(m.matches("ab") && m.matches("xb"));
    assert!(!m.matches("xa") && !m.matches("x/a"));
    assert!(matcher(&["x*|"]).matches("anything/at/all"));
    // But a pattern with no glob character is compared literally.
    let m = matcher(&["a|b"]);
    assert!(m.matches("a|b"));
    assert!(!m.matches("a"));

    // `{n}` repeats.
    let m = matcher(&["?{2}"]);
    assert!(m.matches("ab"));
    assert!(!m.matches("a") && !m.matches("?{2}"));
    let m = matcher(&["*{,2}"]);
    assert!(m.matches("x{,2}"));

    // Glob characters inside a class are rewritten too: `[*]` is not `*`.
    let m = matcher(&["[*]"]);
    assert!(!m.matches("*"));
    assert!(m.matches("[]"));
    assert!(m.matches("^^]"));

    // Escapes and classes are Go's.
    let m = matcher(&[r"log\d*"]);
    assert!(m.matches("log1") && m.matches("log2.txt"));
    assert!(!m.matches("logd"));
    let m = matcher(&["v[[:digit:]]*"]);
    assert!(m.matches("v1.2"));
    assert!(!m.matches("vx"));
    assert!(!m.matches("[]"));
    let m = matcher(&[r"\Qa*b\E*"]);
    assert!(m.matches("a[^/]*bxyz"));

    // `^` is an anchor once the pattern is a regular expression...
    assert!(matcher(&["^a*"]).matches("ab"));
    assert!(!matcher(&["a^*"]).matches("a^b"));
    // ...but a literal otherwise.
    assert!(matcher(&["a^b"]).matches("a^b"));

    // `**` only makes a suffix match in first position, where it matches
    // inside names too.
    let m = matcher(&["**file"]);
    assert!(m.matches("dir/xfile"));
    let m = matcher(&["dir/**file"]);
    assert!(!m.matches("dir/xfile"));
    assert!(m.matches("dir/a/file"));

    // `.` in Docker's expressions does not match a newline, and `/**`
    // prefix patterns do not care.
    assert!(!matcher(&["**/*.o"]).matches("a\nb/c.o"));
    assert!(matcher(&["**/c.o"]).matches("a\nb/c.o"));
    assert!(matcher(&["a/**"]).matches("a/\n"));
    assert!(!matcher(&["*/**"]).matches("a/\n"));
}

#[test]
fn byte_order_mark_quirks() {
    // The scanner that builds Docker's regular expression skips a leading
    // byte order mark, the literal comparisons do not.
    assert!(matcher(&["\u{feff}a*"]).matches("ab"));
    assert!(!matcher(&["\u{feff}a"]).matches("a"));
    assert!(matcher(&["\u{feff}a"]).matches("\u{feff}a"));
    // A suffix pattern loses two bytes of the mark and never matches.
    assert!(!matcher(&["\u{feff}**/a"]).matches("x/a"));
    assert!(!matcher(&["\u{feff}**/a"]).matches("a"));
}

#[test]
fn walking_api() {
    let m = matcher(&["build", "!build/keep", "*.tmp", "**/cache"]);
    let build = m.match_dir("build", None);
    assert!(build.is_excluded());
    assert!(m.matches_with("build/x.o", Some(&build)));
    assert!(!m.matches_with("build/keep", Some(&build)));
    let keep = m.match_dir("build/keep", Some(&build));
    assert!(!keep.is_excluded());
    assert!(!m.matches_with("build/keep/a.o", Some(&keep)));

    let src = m.match_dir("src", None);
    assert!(!src.is_excluded());
    assert!(
        !m.matches_with("src/x.tmp", Some(&src)),
        "*.tmp is root-only"
    );
    assert!(m.matches_with("x.tmp", None));
    let cache = m.match_dir("src/cache", Some(&src));
    assert!(cache.is_excluded());
    assert!(m.matches_with("src/cache/blob", Some(&cache)));

    // More than 64 patterns exercise several words of the parent result.
    let mut patterns: Vec<String> = (0..70).map(|i| format!("dir{i}")).collect();
    patterns.push("!dir69/keep".to_owned());
    let m = Matcher::new(&patterns).unwrap();
    let dir = m.match_dir("dir69", None);
    assert!(dir.is_excluded());
    assert!(m.matches_with("dir69/drop", Some(&dir)));
    assert!(!m.matches_with("dir69/keep", Some(&dir)));
    assert!(m.matches("dir69/drop/x"));
    assert!(!m.matches("dir69/keep/x"));
    assert!(!m.matches("dir70"));
}

#[test]
fn skipping_excluded_directories() {
    // Without exceptions, any excluded directory can be skipped.
    let m = matcher(&["a", "**/b"]);
    assert!(m.can_skip_excluded_dir("a"));
    assert!(m.can_skip_excluded_dir("x/b"));

    // Plain exceptions only keep their own ancestors walked.
    let m = matcher(&["*", "!a/b/c", "!d/*", "!e/**"]);
    assert!(!m.can_skip_excluded_dir("a"));
    assert!(!m.can_skip_excluded_dir("a/b"));
    assert!(!m.can_skip_excluded_dir("a/b/c"));
    assert!(m.can_skip_excluded_dir("a/b/c/d"));
    assert!(m.can_skip_excluded_dir("a/bb"));
    assert!(m.can_skip_excluded_dir("ab"));
    assert!(!m.can_skip_excluded_dir("d"));
    assert!(m.can_skip_excluded_dir("d/x"));
    assert!(!m.can_skip_excluded_dir("e"));
    assert!(m.can_skip_excluded_dir("f"));

    // Any exception with a wildcard (beyond a trailing `/*` or `/**`)
    // forces every excluded directory to be walked.
    for exception in ["!**/keep", "!a/*.c", "!a/?", "!a/[bc]", "!a\\b", "!x/*/y"] {
        let m = matcher(&["*", exception]);
        assert!(!m.can_skip_excluded_dir("zzz"), "{exception}");
    }
}

/// A walk through `match_dir`/`matches_with` that skips excluded
/// directories when allowed sees exactly what `matches` reports; and
/// skipping only ever hides paths when an exception ends in `/*/**` (see
/// `skipping_can_hide_re_included_paths`). Checked on random pattern lists
/// over a small tree.
#[test]
fn walking_with_skips_agrees_with_matches() {
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }
    const NAMES: [&str; 3] = ["a", "b", "c"];
    const PIECES: [&str; 9] = ["a", "b", "c", "a", "b", "*", "**", "a*", "?"];
    const DEPTH: usize = 4;

    fn walk(
        m: &Matcher,
        dir: &str,
        parent: Option<&DirMatch>,
        depth: usize,
        out: &mut Vec<(String, bool)>,
    ) {
        for name in NAMES {
            let path = if dir.is_empty() {
                name.to_owned()
            } else {
                format!("{dir}/{name}")
            };
            if depth == DEPTH {
                out.push((path.clone(), m.matches_with(&path, parent)));
                continue;
            }
            let result = m.match_dir(&path, parent);
            out.push((path.clone(), result.is_excluded()));
            if result.is_excluded() && m.can_skip_excluded_dir(&path) {
                skipped(&path, depth + 1, out);
            } else {
                walk(m, &path, Some(&result), depth + 1, out);
            }
        }
    }
    fn skipped(dir: &str, depth: usize, out: &mut Vec<(String, bool)>) {
        for name in NAMES {
            let path = format!("{dir}/{name}");
            out.push((path.clone(), true));
            if depth < DEPTH {
                skipped(&path, depth + 1, out);
            }
        }
    }
    /// The parent-result chain without any skipping.
    fn unskipped(m: &Matcher, path: &str) -> bool {
        let mut parent = None;
        for (end, _) in path.match_indices('/') {
            parent = Some(m.match_dir(&path[..end], parent.as_ref()));
        }
        m.matches_with(path, parent.as_ref())
    }

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut hidden = 0;
    for _ in 0..1500 {
        let count = 1 + rng.below(5);
        let patterns: Vec<String> = (0..count)
            .map(|_| {
                let depth = 1 + rng.below(3);
                let mut p: Vec<&str> = (0..depth)
                    .map(|_| PIECES[rng.below(PIECES.len())])
                    .collect();
                if rng.below(3) == 0 {
                    p.push(["*", "**"][rng.below(2)]);
                }
                let p = p.join("/");
                if rng.below(2) == 0 {
                    format!("!{p}")
                } else {
                    p
                }
            })
            .collect();
        let quirk = patterns
            .iter()
            .any(|p| p.starts_with('!') && p.ends_with("/*/**"));
        let m = Matcher::new(&patterns).unwrap();
        let mut walked = Vec::new();
        walk(&m, "", None, 1, &mut walked);
        for (path, excluded) in walked {
            assert_eq!(m.matches(&path), excluded, "{patterns:?} {path}");
            if excluded != unskipped(&m, &path) {
                assert!(quirk, "{patterns:?} {path}");
                hidden += 1;
            }
        }
    }
    assert!(hidden > 0, "the random lists should hit the quirk");
}

/// fsutil decides whether an excluded directory can be skipped after
/// trimming `/**` and then `/*` from each exception, so `!b/*/**` looks like
/// the plain path `b` and does not keep `b/a` walked. Docker then leaves out
/// `b/a/x` although the exception re-includes it.
#[test]
fn skipping_can_hide_re_included_paths() {
    let m = matcher(&["b/a", "!b/*/**"]);
    let b = m.match_dir("b", None);
    let ba = m.match_dir("b/a", Some(&b));
    assert!(ba.is_excluded());
    assert!(m.can_skip_excluded_dir("b/a"));
    // Not sent by Docker...
    assert!(m.matches("b/a/x"));
    // ...though the patterns alone would re-include it.
    assert!(!m.matches_with("b/a/x", Some(&ba)));
    assert!(!m.matches_or_parent_matches("b/a/x"));
}
