//! Whole-file parser tests (BuildKit's parser tests, rewritten).

use super::*;

fn parse_ok(text: &str) -> Parsed {
    parse(text).unwrap_or_else(|e| panic!("parse failed: {e} at {:?}\n{text}", e.range))
}

fn parse_err(text: &str) -> Error {
    match parse(text) {
        Ok(p) => panic!("expected an error, got:\n{}", p.dump()),
        Err(e) => e,
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn heredoc(name: &str, content: &str, expand: bool, chomp: bool, fd: u32) -> Heredoc {
    Heredoc {
        name: name.to_string(),
        file_descriptor: fd,
        expand,
        chomp,
        content: content.to_string(),
    }
}

#[test]
fn dumps_a_simple_file() {
    let p =
        parse_ok("FROM alpine AS base\nCOPY --from=x a b\nRUN [\"echo\", \"hi\"]\nONBUILD RUN x\n");
    assert_eq!(
        p.dump(),
        "(from \"alpine\" \"AS\" \"base\")\n(copy [\"--from=x\"] \"a\" \"b\")\n(run \"echo\" \"hi\")\n(onbuild (run \"x\"))\n"
    );
    assert_eq!(p.escape, '\\');
    assert!(p.warnings.is_empty());
    assert!(p.nodes[2].json);
    assert_eq!(p.nodes[3].name(), "onbuild");
}

#[test]
fn line_numbers() {
    // BuildKit's testfile-line/Dockerfile.
    let text = "# ESCAPE=\\\n\n\n\nFROM brimstone/ubuntu:14.04\n\n\n# TORUN -v /var/run/docker.sock:/var/run/docker.sock\n\n\nENV GOPATH \\\n/go\n\n\n\n# Install the packages we need, clean up after them and us\nRUN apt-get update \\\n\t&& dpkg -l | awk '/^ii/ {print $2}' > /tmp/dpkg.clean \\\n\n\n    && apt-get --no-install-recommends install -y git golang ca-certificates \\\n    && apt-get clean \\\n    && rm -rf /var/lib/apt/lists \\\n\n\t&& go get -v github.com/brimstone/consuldock \\\n    && mv $GOPATH/bin/consuldock /usr/local/bin/consuldock \\\n\n\t&& dpkg -l | awk '/^ii/ {print $2}' > /tmp/dpkg.dirty \\\n\t&& apt-get remove --purge -y $(diff /tmp/dpkg.clean /tmp/dpkg.dirty | awk '/^>/ {print $2}') \\\n\t&& rm /tmp/dpkg.* \\\n\t&& rm -rf $GOPATH\n\n\n\n\n";
    let p = parse_ok(text);
    let lines: Vec<_> = p.nodes.iter().map(|n| (n.start_line, n.end_line)).collect();
    assert_eq!(lines, [(5, 5), (11, 12), (17, 31)]);
    assert_eq!(p.nodes[1].range(), SourceRange::lines(11, 12));
    assert_eq!(p.directives.escape.as_deref(), Some("\\"));
    assert_eq!(p.directives.escape_line, Some(1));
    // The empty lines inside the RUN continuation produce one warning.
    assert_eq!(p.warnings.len(), 1);
    assert_eq!(p.warnings[0].range, SourceRange::line(31));
    // Comments directly above an instruction, blank lines in between
    // allowed.
    assert_eq!(p.nodes[0].prev_comments, Vec::<String>::new());
    assert_eq!(
        p.nodes[1].prev_comments,
        strings(&["TORUN -v /var/run/docker.sock:/var/run/docker.sock"])
    );
    assert_eq!(
        p.nodes[2].prev_comments,
        strings(&["Install the packages we need, clean up after them and us"])
    );
}

#[test]
fn warns_on_empty_continuation_lines() {
    let text = "\nFROM alpine:3.6\n\nRUN valid \\\n    continuation\n\nRUN something \\\n\n    following \\\n\n    more\n\nRUN another \\\n\n    thing\n\nRUN non-indented \\\n# this is a comment\n   after-comment\n\nRUN indented \\\n    # this is an indented comment\n    comment\n\t";
    let p = parse_ok(text);
    assert_eq!(p.warnings.len(), 2);
    let w = &p.warnings[0];
    assert_eq!(w.rule, "NoEmptyContinuation");
    assert_eq!(
        w.message,
        "Empty continuation line found in: RUN something     following     more"
    );
    assert_eq!(
        w.url,
        "https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/"
    );
    assert_eq!(w.range, SourceRange::line(11));
    assert_eq!(
        p.warnings[1].message,
        "Empty continuation line found in: RUN another     thing"
    );
    assert_eq!(p.warnings[1].range, SourceRange::line(15));
    assert_eq!(p.nodes[4].args, strings(&["non-indented    after-comment"]));
    assert_eq!(p.nodes[5].args, strings(&["indented     comment"]));
    assert_eq!((p.nodes[5].start_line, p.nodes[5].end_line), (21, 23));
}

#[test]
fn continuation_details() {
    // Continued lines keep their leading white space; the escape and the
    // spaces after it go.
    let p = parse_ok("RUN a \\  \n   b\\\n\tc\n");
    assert_eq!(p.nodes[0].args, strings(&["a    b\tc"]));
    assert_eq!(p.nodes[0].original, "RUN a    b\tc");
    // An escaped escape does not continue the line.
    let p = parse_ok("RUN a \\\\\nRUN b\n");
    assert_eq!(p.dump(), "(run \"a \\\\\\\\\")\n(run \"b\")\n");
    // A continuation at the end of the file just ends the instruction.
    let p = parse_ok("FROM x\nRUN a \\");
    assert_eq!(p.nodes[1].args, strings(&["a"]));
    let p = parse_ok("FROM x\nRUN a \\\n\n");
    assert_eq!(p.nodes[1].args, strings(&["a"]));
    assert_eq!(p.warnings.len(), 1);
    // A lone escape on the first line starts an instruction.
    let p = parse_ok("\\\nFROM x\n");
    assert_eq!(p.dump(), "(from \"x\")\n");
    assert_eq!(p.nodes[0].start_line, 1);
    // A comment line never continues.
    let p = parse_ok("# comment \\\nFROM x\n");
    assert_eq!(p.nodes[0].start_line, 2);
    // Only spaces and tabs may follow the escape.
    let p = parse_ok("RUN a \\\u{b}\nRUN b\n");
    assert_eq!(p.nodes.len(), 2);
}

#[test]
fn crlf_and_leading_white_space() {
    let p = parse_ok("FROM x\r\n  RUN a \\\r\n    b\r\n\t\u{a0}USER u\r\r\n");
    assert_eq!(p.dump(), "(from \"x\")\n(run \"a     b\")\n(user \"u\")\n");
}

#[test]
fn comments_between_instructions() {
    let p = parse_ok("# one\n#\n# two\n\n# three\nFROM x\n  # four\nRUN y\n");
    // An empty `#` line resets the collected comments; blank lines do not.
    assert_eq!(p.nodes[0].prev_comments, strings(&["two", "three"]));
    // The reference drops only the first byte of an indented comment.
    assert_eq!(p.nodes[1].prev_comments, strings(&["# four"]));
}

#[test]
fn escape_directive() {
    let p = parse_ok("# escape=`\nFROM x\nRUN a `\n  b\nCOPY c:\\ d\n");
    assert_eq!(p.escape, '`');
    assert_eq!(
        p.dump(),
        "(from \"x\")\n(run \"a   b\")\n(copy \"c:\\\\\" \"d\")\n"
    );
    let p = parse_ok("# syntax = docker/dockerfile\n# escape = `\n\nFROM `\n    image\n");
    assert_eq!(p.dump(), "(from \"image\")\n");
    assert_eq!(p.directives.syntax.as_deref(), Some("docker/dockerfile"));
    assert_eq!(p.directives.syntax_line, Some(1));
    assert_eq!(p.directives.escape_line, Some(2));
    // Case-insensitive names; indented directive lines count here.
    assert_eq!(
        parse_ok("  # ESCAPE = `\nRUN x `\n y\n").nodes[0].args,
        strings(&["x  y"])
    );
    // Too late: after an instruction, an empty line or another comment.
    for text in [
        "FROM x\n# escape=`\nRUN a `\n",
        "\n# escape=`\nFROM x\nRUN a `\n",
        "# hi\n# escape=`\nFROM x\nRUN a `\n",
        "# unknown=1\n# escape=`\nFROM x\nRUN a `\n",
        "#!/bin/sh\n# escape=`\nFROM x\nRUN a `\n",
    ] {
        let p = parse_ok(text);
        assert_eq!(p.escape, '\\', "{text}");
        assert_eq!(
            p.nodes.last().map(|n| n.args.clone()),
            Some(strings(&["a `"])),
            "{text}"
        );
    }
    // A BOM before the first directive is ignored.
    assert_eq!(parse_ok("\u{feff}# escape=`\nFROM x\n").escape, '`');
    // Directive lines are not documentation comments.
    assert_eq!(
        parse_ok("# escape=`\n# doc\nFROM x\n").nodes[0].prev_comments,
        strings(&["doc"])
    );
}

#[test]
fn directive_errors() {
    let e = parse_err("# escape=x\nFROM x\n");
    assert_eq!(e.message, "invalid escape token 'x' does not match ` or \\");
    assert_eq!(e.range, Some(SourceRange::line(1)));
    let e = parse_err("# syntax=a\n# escape=\\\n# Syntax=b\nFROM x\n");
    assert_eq!(e.message, "only one syntax parser directive can be used");
    assert_eq!(e.range, Some(SourceRange::line(3)));
    assert_eq!(
        parse_err("#check=a\n#check=b\nFROM x\n").message,
        "only one check parser directive can be used"
    );
    // A trailing space after `=` is the (invalid) value.
    assert_eq!(
        parse_err("# escape= \nFROM x\n").message,
        "invalid escape token ' ' does not match ` or \\"
    );
}

#[test]
fn syntax_and_check_directives() {
    let p = parse_ok("#!/usr/bin/env buildctl\n# syntax=docker/dockerfile:1.7 // x\n# check=skip=JSONArgsRecommended;error=true\nFROM x\n");
    let d = &p.directives;
    assert_eq!(d.syntax.as_deref(), Some("docker/dockerfile:1.7 // x"));
    assert_eq!(d.syntax_ref(), Some("docker/dockerfile:1.7"));
    assert_eq!(d.syntax_line, Some(2));
    assert_eq!(
        d.check_options(),
        Some("skip=JSONArgsRecommended;error=true")
    );
    assert_eq!(d.check_line, Some(3));
    assert_eq!(d.escape, None);
    // For the instruction parser the shebang line ends the directive
    // block, so all three lines are ordinary comments there.
    assert_eq!(p.nodes[0].prev_comments.len(), 3);
    let p = parse_ok("FROM x\n");
    assert_eq!(p.directives, Directives::default());
}

#[test]
fn file_level_errors() {
    for (text, line) in [
        ("", 1),
        ("\n\n", 2),
        ("# Hello\n# These are just comments\n\n", 3),
    ] {
        let e = parse_err(text);
        assert_eq!(e.message, "file with no instructions");
        assert_eq!(e.range, Some(SourceRange::line(line)), "{text:?}");
    }
    let e = parse_err("FROM busybox\n\nENV PATH\n");
    assert_eq!(e.message, "ENV must have two arguments");
    assert_eq!(e.range, Some(SourceRange::line(3)));
    let e = parse_err("FROM x\nCMD [ \"echo\", \\\n  [ \"nested json\" ] ]\n");
    assert_eq!(
        e.message,
        "when using JSON array syntax, arrays must be comprised of strings only"
    );
    assert_eq!(e.range, Some(SourceRange::lines(2, 3)));
    let e = parse_err("FROM x\nLABEL a=b c\n");
    assert_eq!(
        e.message,
        "Syntax error - can't find = in \"c\". Must be of the form: name=value"
    );
}

#[test]
fn overlong_lines() {
    let label = "a".repeat(64 * 1024);
    let e = parse_err(&format!("\n\t\tFROM image\n\t\tLABEL test={label}\n"));
    assert_eq!(
        e.message,
        "dockerfile line greater than max allowed size of 65535"
    );
    assert_eq!(e.range, Some(SourceRange::line(3)));
    // The limit is on the line without its newline.
    let fits = format!("FROM x\nLABEL a={}\n", "b".repeat(MAX_LINE_LEN - 8));
    assert_eq!(parse_ok(&fits).nodes.len(), 2);
    let e = parse_err(&format!("LABEL a={}\nFROM x\n", "b".repeat(MAX_LINE_LEN)));
    assert_eq!(e.message, "file with no instructions");
}

#[test]
fn unknown_instructions_are_kept() {
    let p = parse_ok("FROM x\nFOO bar baz\nbogus\n");
    assert_eq!(p.dump(), "(from \"x\")\n(foo \"\")\n(bogus \"\")\n");
    assert_eq!(p.nodes[1].keyword, "FOO");
    assert_eq!(p.nodes[1].original, "FOO bar baz");
}

#[test]
fn env_and_label_forms() {
    let p = parse_ok("FROM x\nENV A B C\nENV A=1 B=\"2 3\"\nLABEL \"k\"=v\nARG a=1 b\n");
    assert_eq!(
        p.dump(),
        "(from \"x\")\n(env \"A\" \"B C\" \"\")\n(env \"A\" \"1\" \"=\" \"B\" \"\\\"2 3\\\"\" \"=\")\n(label \"\\\"k\\\"\" \"v\" \"=\")\n(arg \"a=1\" \"b\")\n"
    );
}

#[test]
fn performance_input_parses() {
    // Not a timing assertion (see bench/): just a large file end to end.
    let mut text = String::from("FROM alpine\n");
    for i in 0..1000 {
        text.push_str(&format!(
            "RUN --mount=type=cache,target=/c{i} apt-get install -y pkg{i} \\\n    && echo done\nENV K{i}=v{i} L{i}=\"x y\"\nCOPY [\"a{i}\", \"/b\"]\n"
        ));
    }
    let p = parse_ok(&text);
    assert_eq!(p.nodes.len(), 3001);
    assert_eq!(p.nodes[3000].end_line, 4001);
}

// Heredocs (need the shell lexer).

#[test]
fn extracts_heredocs() {
    let text = r#"
FROM alpine:3.6

ENV NAME=me

RUN ls

USER <<INVALID
INVALID

RUN <<EMPTY
EMPTY

RUN 3<<EMPTY2
EMPTY2

RUN "<<NOHEREDOC"

RUN <<INDENT
	foo
	bar
INDENT

RUN <<-UNINDENT
	baz
	quux
UNINDENT

RUN <<-UNINDENT2
	baz
	quux
	UNINDENT2

RUN <<-EXPAND
	expand $NAME
EXPAND

RUN <<-'NOEXPAND'
	don't expand $NAME
NOEXPAND

RUN <<COPY
echo hello world
echo foo bar
COPY

RUN <<COMMENT
# internal comment
echo hello world
echo foo bar # trailing comment
COMMENT

RUN --mount=type=cache,target=/foo <<MOUNT
echo hello
MOUNT

COPY <<FILE1 <<FILE2 /dest
content 1
FILE1
content 2
FILE2

COPY <<EOF /quotes
"foo"
'bar'
EOF

COPY <<X <<Y /dest
Y
X
X
Y

RUN <<COMPLEX python3
print('hello world')
COMPLEX

COPY <<file.txt /dest
hello world
file.txt

RUN <<eo'f'
echo foo
eof

RUN <<eo\'f
echo foo
eo'f

RUN <<'e'o\'f
echo foo
eo'f

RUN <<'one two'
echo bar
one two

RUN <<$EOF
$EOF

RUN <<  EOF
EOF

RUN <<  EOF  > foo
EOF
	"#;
    let h = heredoc;
    let expected: Vec<Vec<Heredoc>> = vec![
        vec![],
        vec![],
        vec![],
        vec![],
        vec![h("EMPTY", "", true, false, 0)],
        vec![h("EMPTY2", "", true, false, 3)],
        vec![],
        vec![h("INDENT", "\tfoo\n\tbar\n", true, false, 0)],
        vec![h("UNINDENT", "\tbaz\n\tquux\n", true, true, 0)],
        vec![h("UNINDENT2", "\tbaz\n\tquux\n", true, true, 0)],
        vec![h("EXPAND", "\texpand $NAME\n", true, true, 0)],
        vec![h("NOEXPAND", "\tdon't expand $NAME\n", false, true, 0)],
        vec![h(
            "COPY",
            "echo hello world\necho foo bar\n",
            true,
            false,
            0,
        )],
        vec![h(
            "COMMENT",
            "# internal comment\necho hello world\necho foo bar # trailing comment\n",
            true,
            false,
            0,
        )],
        vec![h("MOUNT", "echo hello\n", true, false, 0)],
        vec![
            h("FILE1", "content 1\n", true, false, 0),
            h("FILE2", "content 2\n", true, false, 0),
        ],
        vec![h("EOF", "\"foo\"\n'bar'\n", true, false, 0)],
        vec![h("X", "Y\n", true, false, 0), h("Y", "X\n", true, false, 0)],
        vec![h("COMPLEX", "print('hello world')\n", true, false, 0)],
        vec![h("file.txt", "hello world\n", true, false, 0)],
        vec![h("eof", "echo foo\n", false, false, 0)],
        vec![h("eo'f", "echo foo\n", true, false, 0)],
        vec![h("eo'f", "echo foo\n", false, false, 0)],
        vec![h("one two", "echo bar\n", false, false, 0)],
        vec![h("$EOF", "", true, false, 0)],
        vec![h("EOF", "", true, false, 0)],
        vec![h("EOF", "", true, false, 0)],
    ];
    let p = parse_ok(text);
    // USER does not take heredocs, so its "body" is an instruction.
    assert_eq!(p.nodes.len(), expected.len() + 1);
    for (i, want) in expected.iter().enumerate() {
        assert_eq!(
            &p.nodes[i + 1].heredocs,
            want,
            "node {} ({})",
            i + 1,
            p.nodes[i + 1].original
        );
    }
    // Heredoc bodies count in the line range.
    let copy = &p.nodes[16];
    assert_eq!((copy.start_line, copy.end_line), (57, 61));
    assert_eq!(copy.args, strings(&["<<FILE1", "<<FILE2", "/dest"]));
}

#[test]
fn json_form_has_no_heredocs() {
    let p =
        parse_ok("\nFROM alpine:3.6\n\nRUN [\"whoami\"]\nRUN [\"<<EOF\"]\nRUN [\"<<'EOF'\"]\n\t");
    assert_eq!(p.nodes.len(), 4);
    assert!(p.nodes.iter().all(|n| n.heredocs.is_empty()));
}

#[test]
fn heredoc_helpers() {
    for word in [
        "<<EOF",
        "<<'EOF'",
        r#"<<"EOF""#,
        "<<-EOF",
        "<<-'EOF'",
        r#"<<-"EOF""#,
        r#"<<EO"F""#,
        "<< EOF",
        "<<- EOF",
    ] {
        let doc = parse_heredoc(word)
            .unwrap()
            .unwrap_or_else(|| panic!("{word}"));
        assert_eq!(doc.name, "EOF", "{word}");
    }
    for word in ["<<'EOF", "<<\"EOF", "<<EOF'", "<<EOF\""] {
        assert!(parse_heredoc(word).is_err(), "{word}");
    }
    for word in ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh"] {
        assert_eq!(parse_heredoc(word).unwrap(), None, "{word}");
    }
    let doc = parse_heredoc("12<<-\"A\"B").unwrap().unwrap();
    assert_eq!(
        (
            doc.name.as_str(),
            doc.file_descriptor,
            doc.chomp,
            doc.expand
        ),
        ("AB", 12, true, false)
    );
}

#[test]
fn heredocs_from_lines() {
    let cases: &[(&str, &[&str])] = &[
        ("RUN <<EOF", &["EOF"]),
        ("RUN <<-EOF", &["EOF"]),
        // `<<-` followed by a space is not an opener (the shell lexer only
        // joins white space directly after `<<`).
        ("RUN <<- EOF", &[]),
        ("RUN << -EOF", &["-EOF"]),
        ("RUN <<'EOF'", &["EOF"]),
        ("RUN 4<<EOF", &["EOF"]),
        ("RUN <<EOF <<EOF2", &["EOF", "EOF2"]),
        ("RUN '<<EOF'", &[]),
        (r#"RUN "<<EOF""#, &[]),
        ("RUN 'unterminated <<EOF", &[]),
    ];
    for (line, names) in cases {
        let docs = heredoc::heredocs_from_line(line).unwrap();
        let got: Vec<_> = docs.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(&got, names, "{line}");
    }
}

#[test]
fn heredoc_edge_cases() {
    // Unterminated.
    let e = parse_err("FROM x\nRUN <<EOF\necho hi\n");
    assert_eq!(e.message, "unterminated heredoc");
    assert_eq!(e.range, Some(SourceRange::lines(2, 3)));
    let e = parse_err("FROM x\nCOPY <<A <<B /d\na\nA\nb\n");
    assert_eq!(e.message, "unterminated heredoc");
    assert_eq!(e.range, Some(SourceRange::lines(2, 5)));
    // A line the shell lexer rejects opens no heredoc (and is no error).
    let p = parse_ok("FROM x\nRUN <<\"EOF\nRUN <<E\\\"OF\"\nx\n");
    assert!(p.nodes.iter().all(|n| n.heredocs.is_empty()));
    assert_eq!(p.nodes.len(), 4);
    // CRLF bodies: the terminator matches without its line ending, the
    // body keeps them.
    let p = parse_ok("FROM x\r\nRUN <<EOF\r\na\r\nEOF\r\nRUN b\r\n");
    assert_eq!(p.nodes[1].heredocs[0].content, "a\r\n");
    assert_eq!(p.nodes[2].args, strings(&["b"]));
    // `<<-` strips tabs only to find the terminator.
    let p = parse_ok("FROM x\nRUN <<-EOF\n\t\tbody\n\t\tEOF\n");
    assert_eq!(p.nodes[1].heredocs[0].content, "\t\tbody\n");
    assert_eq!(
        chomp_heredoc_content(&p.nodes[1].heredocs[0].content),
        "body\n"
    );
    // ONBUILD wrapping RUN/COPY/ADD takes heredocs (kept on the ONBUILD
    // node, as the reference does); other instructions do not.
    let p = parse_ok("FROM x\nONBUILD RUN <<EOF\nbody\nEOF\nONBUILD USER <<EOF\nEOF\n");
    assert_eq!(
        p.nodes[1].heredocs,
        vec![heredoc("EOF", "body\n", true, false, 0)]
    );
    assert_eq!(p.nodes[1].end_line, 4);
    assert_eq!(p.nodes[1].nested.as_ref().map(|n| n.start_line), Some(2));
    assert_eq!(
        p.dump(),
        "(from \"x\")\n(onbuild (run \"<<EOF\"))\n(onbuild (user \"<<EOF\"))\n(eof \"\")\n"
    );
    // The heredoc words are read with `\` as escape whatever the
    // directive says.
    let p = parse_ok("# escape=`\nFROM x\nRUN <<E\\OF\nbody\nEOF\n");
    assert_eq!(p.nodes[1].heredocs[0].name, "EOF");
    // Heredoc bodies are not comment-stripped nor continued.
    let p = parse_ok("FROM x\nRUN <<EOF\n# c \\\n\nEOF\n");
    assert_eq!(p.nodes[1].heredocs[0].content, "# c \\\n\n");
    // The instruction line itself is continued first: here `EOF` joins
    // the RUN line and the heredoc never ends.
    let e = parse_err("FROM x\nRUN <<EOF \\\n# c\n\nEOF\n");
    assert_eq!(e.message, "unterminated heredoc");
    assert_eq!(e.range, Some(SourceRange::lines(2, 5)));
}
