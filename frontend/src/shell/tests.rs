//! Behaviour the BuildKit vector files do not cover: options, matched and
//! unmatched sets, error wording, the backtick escape, heredoc markers and
//! the word-list quirk. Expected values were checked against the reference
//! implementation.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::*;

/// Variables for one case.
type Vars = &'static [(&'static str, &'static str)];
/// Word, variables, expected text (or error cause).
type Case = (&'static str, Vars, &'static str);
/// Variable names.
type Names = &'static [&'static str];

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

fn expand(lex: Lex, word: &str, vars: &[(&str, &str)]) -> Expanded {
    lex.process_word(word, &env(vars))
        .unwrap_or_else(|e| panic!("{word:?}: {e}"))
}

fn error(lex: Lex, word: &str, vars: &[(&str, &str)]) -> String {
    match lex.process_word(word, &env(vars)) {
        Ok(got) => panic!("{word:?}: expected an error, got {got:?}"),
        Err(e) => e.message,
    }
}

fn plain() -> Lex {
    Lex::new('\\')
}

#[test]
fn shell_raw_quotes_keep_quote_characters() {
    let lex = Lex {
        raw_quotes: true,
        ..plain()
    };
    let got = expand(lex, r#"a 'b c' "d $v" e\ f"#, &[("v", "V")]);
    assert_eq!(got.result, r#"a 'b c' "d V" e f"#);
    assert_eq!(got.words, ["a", "'b c'", "\"d V\"", "e f"]);
}

#[test]
fn shell_raw_escapes_keep_escape_characters() {
    let lex = Lex {
        raw_escapes: true,
        ..plain()
    };
    // Inside double quotes a kept escape before an ordinary character is
    // written twice; a trailing escape survives.
    let got = expand(lex, r#"a\ b "c\d\"" \"#, &[]);
    assert_eq!(got.result, r#"a\ b c\\d\" \"#);
    assert_eq!(got.words, [r"a\ b", r#"c\\d\""#, r"\"]);
}

#[test]
fn shell_skip_unset_env_leaves_references_as_written() {
    let lex = Lex {
        skip_unset_env: true,
        ..plain()
    };
    let got = expand(
        lex,
        "$u ${u} ${u:-d} ${u/a/b} ${u//a/b} ${u#p} $v ${u?x}",
        &[("v", "V")],
    );
    // `//` is rebuilt as `/`, and `?` does not fail.
    assert_eq!(
        got.result,
        "$u ${u} ${u:-d} ${u/a/b} ${u/a/b} ${u#p} V ${u?x}"
    );
    assert_eq!(got.matched, set(&["v"]));
    assert_eq!(got.unmatched, set(&["u"]));
}

#[test]
fn shell_skip_process_quotes_makes_quotes_ordinary() {
    let lex = Lex {
        skip_process_quotes: true,
        ..plain()
    };
    let got = expand(lex, r#"'a b' "c $v""#, &[("v", "d")]);
    assert_eq!(got.result, r#"'a b' "c d""#);
    assert_eq!(got.words, ["'a", "b'", "\"c", "d\""]);
}

#[test]
fn shell_backtick_escape() {
    let lex = Lex::new('`');
    let got = expand(lex, r#"a`$b ``c `" "x`"y`$v`z" C:\dir"#, &[("v", "V")]);
    assert_eq!(got.result, r#"a$b `c " x"y$v`z C:\dir"#);
    assert_eq!(got.words, ["a$b", "`c", "\"", "x\"y$v`z", r"C:\dir"]);
    // Patterns still escape with a backslash.
    let got = expand(lex, r"${v%\*}", &[("v", "ab*")]);
    assert_eq!(got.result, "ab");
}

#[test]
fn shell_matched_and_unmatched_sets() {
    let cases: &[(&str, Vars, &str, Names, Names)] = &[
        ("x", &[("DUMMY", "d")], "x", &[], &[]),
        ("x ${UNUSED}", &[("DUMMY", "d")], "x ", &[], &["UNUSED"]),
        (
            "${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}",
            &[("FOO", "xxx"), ("BAR", "")],
            "xxx  ccc",
            &["FOO", "BAR"],
            &["BAZ"],
        ),
        (
            "${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}",
            &[("FOO", "xxx"), ("BAR", "")],
            "xxx bbb ccc",
            &["FOO", "BAR"],
            &["BAZ"],
        ),
        (
            "${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}",
            &[("FOO", "xxx"), ("BAR", "")],
            "aaa bbb ",
            &["FOO", "BAR"],
            &["BAZ"],
        ),
        (
            "${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}",
            &[("FOO", "xxx"), ("BAR", "")],
            "aaa  ",
            &["FOO", "BAR"],
            &["BAZ"],
        ),
        ("${BAR?bbb}", &[("BAR", "")], "", &["BAR"], &[]),
        (
            "${FOO#$BAR}",
            &[("FOO", "xxyy"), ("BAR", "x")],
            "xyy",
            &["FOO", "BAR"],
            &[],
        ),
        ("${FOO///}", &[], "", &[], &["FOO"]),
        (
            "${ABC:-.}${FOO%x}${ABC:-.}",
            &[("FOO", "xxyy")],
            ".xxyy.",
            &["FOO"],
            &["ABC"],
        ),
    ];
    for (word, vars, result, matched, unmatched) in cases {
        let got = expand(plain(), word, vars);
        assert_eq!(got.result, *result, "{word}");
        assert_eq!(got.matched, set(matched), "{word}");
        assert_eq!(got.unmatched, set(unmatched), "{word}");
    }
}

#[test]
fn shell_trim_and_replace_operators() {
    let cases: &[Case] = &[
        (
            r"${FOO#()[]{\}^$.\*\?|\\}",
            &[("FOO", r"()[]{}^$.*?|\x")],
            "x",
        ),
        (r"${FOO%%\**}", &[("FOO", "xx**")], "xx"),
        ("${FOO#*x*y}", &[("FOO", "xxyy")], "y"),
        ("${FOO#*}", &[("FOO", "xxyy")], "xxyy"),
        ("${FOO##*x}", &[("FOO", "xxyy")], "yy"),
        ("${FOO##}", &[("FOO", "xxyy")], "xxyy"),
        (r"${FOO#?\?}", &[("FOO", "???y")], "?y"),
        (r"${FOO%%\**\*}", &[("FOO", "a***yy*")], "a"),
        ("${FOO%}", &[("FOO", "xxyy")], "xxyy"),
        (
            "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
            &[("FOO", "/foo*/*/*.txt"), ("NEEDLE", r"\*/")],
            "/foo.*/*.txt - /foo..*.txt",
        ),
        (
            "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
            &[("FOO", "/tmp/tmp/bar.txt"), ("NEEDLE", "/tmp")],
            "/tmp/bar.txt - /bar.txt",
        ),
        (
            "${FOO/$N/$R} - ${FOO//$N/$R}",
            &[("FOO", "/a/foo/b/c.txt"), ("N", "/?/"), ("R", "/")],
            "/foo/b/c.txt - /foo/c.txt",
        ),
        (
            r"${FOO//\//\/}",
            &[("FOO", "/tmp/foo.txt")],
            r"\/tmp\/foo.txt",
        ),
        ("${FOO/$BAR/ww}", &[("FOO", "xxyy"), ("BAR", "")], "wwxxyy"),
        ("${FOO///}", &[("FOO", "xxyy")], "xxyy"),
        // `$0` in the replacement is the match, but only for `//`.
        (
            "${FOO//x/[$R]}",
            &[("FOO", "axbx"), ("R", "$0")],
            "a[x]b[x]",
        ),
        ("${FOO/x/[$R]}", &[("FOO", "axbx"), ("R", "$0")], "a[$0]bx"),
        ("${FOO%?}", &[("FOO", "한국어")], "한국"),
    ];
    for (word, vars, result) in cases {
        assert_eq!(expand(plain(), word, vars).result, *result, "{word}");
    }
    for word in ["${FOO//ww}", "${FOO//}", "${FOO:#}", "${FOO:%%}", "${FOO=}"] {
        error(plain(), word, &[("FOO", "xxyy")]);
    }
}

#[test]
fn shell_mandatory_variables() {
    let no_empty = "${VAR:?message here$ARG}";
    let no_unset = "${VAR?message here$ARG}";
    let set_ = [("VAR", "plain"), ("ARG", "x")];
    let empty = [("VAR", ""), ("ARG", "x")];
    let unset = [("ARG", "x")];
    assert_eq!(expand(plain(), no_empty, &set_).result, "plain");
    assert!(error(plain(), no_empty, &empty).ends_with("VAR: message herex"));
    assert!(error(plain(), no_empty, &unset).ends_with("VAR: message herex"));
    assert_eq!(expand(plain(), no_unset, &set_).result, "plain");
    assert_eq!(expand(plain(), no_unset, &empty).result, "");
    assert!(error(plain(), no_unset, &unset).ends_with("VAR: message herex"));
}

#[test]
fn shell_error_messages() {
    let cases: &[Case] = &[
        ("${v:?}", &[("v", "")], "v: is not allowed to be empty"),
        ("${v?}", &[], "v: is not allowed to be unset"),
        ("${v:?oops $w}", &[("w", "W")], "v: oops W"),
        ("${v:#x}", &[], "unsupported modifier (:#) in substitution"),
        ("${v:=x}", &[], "unsupported modifier (:=) in substitution"),
        ("${v:}}", &[], "unsupported modifier (:}) in substitution"),
        ("${.}", &[], "unsupported modifier (.) in substitution"),
        // The end of the word prints as U+FFFD.
        (
            "he${PWD",
            &[],
            "unsupported modifier (\u{fffd}) in substitution",
        ),
        ("${", &[], "syntax error: missing '}'"),
        ("${v:-abc", &[], "syntax error: missing '}'"),
        // A failure inside an operand that ran to the end of the word is
        // reported as the missing brace.
        ("${v:-'a'", &[], "syntax error: missing '}'"),
        (
            "${v:-${w:#}}",
            &[],
            "unsupported modifier (:#) in substitution",
        ),
        ("${}", &[], "syntax error: bad substitution"),
        ("${:-x}", &[], "syntax error: bad substitution"),
        ("${v/a", &[], "syntax error: missing '/' in ${}"),
        (
            "'abc",
            &[],
            "unexpected end of statement while looking for matching single-quote",
        ),
        (
            "\"abc",
            &[],
            "unexpected end of statement while looking for matching double-quote",
        ),
        (
            r"${v#\x}",
            &[("v", "a")],
            r"invalid pattern (\x) in substitution: invalid escape '\x'",
        ),
        (
            "${v#$p}",
            &[("v", "a"), ("p", "ab\\")],
            "invalid pattern (ab\\) in substitution: invalid escape '\\\u{fffd}'",
        ),
        (
            "${v%$p}",
            &[("v", "a"), ("p", "ab\\")],
            r"invalid pattern (\ba) in substitution: invalid escape '\b'",
        ),
    ];
    for (word, vars, cause) in cases {
        let want = format!("failed to process {}: {cause}", go_quote(word));
        assert_eq!(error(plain(), word, vars), want, "{word}");
    }
}

#[test]
fn shell_error_quotes_word_like_go() {
    let word = "\"\t\u{1}\u{a0}\u{2028}😀\u{7f}é\\\u{7}\u{b}\u{378}\u{1fbff}";
    assert_eq!(
        error(plain(), word, &[]),
        "failed to process \"\\\"\\t\\x01\\u00a0\\u2028😀\\x7fé\\\\\\a\\v\\u0378\\U0001fbff\": \
         unexpected end of statement while looking for matching double-quote"
    );
}

#[test]
fn shell_names_and_special_parameters() {
    let vars = [("é1", "E"), ("a_1", "A"), ("٣", "three")];
    let cases = [
        ("$é1.", "E."),
        ("$a_1b", ""),
        ("${a_1}b", "Ab"),
        ("$٣x", "threex"),
        ("${٣}", "three"),
        ("$@@", "@"),
        ("$12a", "a"),
        ("$", "$"),
        ("$ x", "$ x"),
        ("\u{feff}a$", "a$"),
    ];
    for (word, result) in cases {
        assert_eq!(expand(plain(), word, &vars).result, result, "{word}");
    }
}

#[test]
fn shell_word_splitting() {
    let vars = [("space", "abc  def"), ("empty", "")];
    let cases: &[(&str, &[&str])] = &[
        ("a '' b", &["a", "b"]),
        ("'' \"\" $empty", &[]),
        ("x$space\"$space\"", &["xabc", "defabc  def"]),
        ("a\u{a0}b\u{2003}c", &["a", "b", "c"]),
        (" \t a  \n", &["a"]),
        // `<<` and blanks after it stay with the heredoc word.
        ("cat <<  EOF <<-'X' a<b", &["cat", "<<  EOF", "<<-X", "a<b"]),
        // Expanding a `${name<op>…}` form drops the start of the current
        // word from the list, as the reference does.
        ("ab${x:-c}d e", &["cd", "e"]),
        ("ab\"c${x:-}\" e", &["c", "e"]),
        ("ab${x}d", &["abd"]),
    ];
    for (word, words) in cases {
        assert_eq!(
            plain().process_words(word, &env(&vars)).unwrap(),
            *words,
            "{word}"
        );
    }
    assert_eq!(expand(plain(), "ab${x:-c}d e", &[]).result, "abcd e");
}

/// The parser finds heredoc names by expanding with raw and with cooked
/// quotes and comparing quote counts.
#[test]
fn shell_heredoc_detection_flags() {
    let scan = Lex {
        raw_quotes: true,
        raw_escapes: true,
        skip_unset_env: true,
        ..plain()
    };
    let words = scan
        .process_words(r#"cat <<"EOF" <<-\E2 $X > ${out:-f}"#, &env(&[]))
        .unwrap();
    assert_eq!(
        words,
        ["cat", "<<\"EOF\"", r"<<-\E2", "$X", ">", "${out:-f}"]
    );

    let cooked = Lex {
        skip_unset_env: true,
        ..plain()
    };
    let raw = Lex {
        raw_quotes: true,
        ..cooked
    };
    let vars = env(&[]);
    assert_eq!(cooked.process_words("\"EOF\"", &vars).unwrap(), ["EOF"]);
    assert_eq!(raw.process_words("\"EOF\"", &vars).unwrap(), ["\"EOF\""]);
    assert_eq!(raw.process_words("E'O'F", &vars).unwrap(), ["E'O'F"]);
}

#[test]
fn shell_env_impls() {
    let list = env(&[("a", "1"), ("b", "2"), ("a", "3")]);
    assert_eq!(Env::get(&list, "a"), Some("3"));
    assert_eq!(Env::get(list.as_slice(), "c"), None);
    assert_eq!(Env::keys(&list), ["a", "b"]);

    let map: HashMap<String, String> = list.iter().cloned().collect();
    assert_eq!(Env::get(&map, "b"), Some("2"));
    assert_eq!(Env::keys(&map), ["a", "b"]);

    let tree: BTreeMap<String, String> = [("z".to_string(), String::new())].into();
    assert_eq!(Env::get(&tree, "z"), Some(""));
    assert_eq!(Env::keys(&tree), ["z"]);

    let lex = plain();
    assert_eq!(lex.process_word("$a$z", &map).unwrap().result, "3");
    assert_eq!(lex.process_word("${z-unset}", &tree).unwrap().result, "");
    assert_eq!(lex.process_word("$a", &&list).unwrap().result, "3");
}

/// Words with nothing to expand skip the scanner; both paths must agree.
#[test]
fn shell_plain_fast_path_matches_scanner() {
    let vars = env(&[]);
    let lex = plain();
    for word in ["", "a", " a\u{a0}b\tc  ", "/usr/bin:/bin", "--x=y,z", "é ä"] {
        assert!(lex.is_plain(word), "{word:?}");
        let fast = lex.process_word(word, &vars).unwrap();
        let (result, words) = expand::Expander::new(&lex, &vars, word).run().unwrap();
        assert_eq!((fast.result, fast.words), (result, words), "{word:?}");
    }
    for word in ["$a", "'a'", "\"a\"", "a\\ b", "<<a", "\u{feff}a"] {
        assert!(!lex.is_plain(word), "{word:?}");
    }
    assert!(!Lex::new('`').is_plain("a`b"));
}
