//! Node -> instruction tests. Nodes are built by hand the way the reference
//! parser shapes them (see BuildKit's `parser/line_parsers.go`).

use std::time::Duration;

use super::*;
use crate::lint::Warning;
use crate::parser::{Heredoc, Node};
use crate::{Error, Result, SourceRange};

/// A node builder.
#[derive(Clone)]
struct N(Node);

fn n(keyword: &str) -> N {
    N(Node {
        keyword: keyword.to_string(),
        original: keyword.to_string(),
        start_line: 1,
        end_line: 1,
        ..Node::default()
    })
}

impl N {
    fn args(mut self, args: &[&str]) -> Self {
        self.0.args = args.iter().map(|s| s.to_string()).collect();
        if self.0.original == self.0.keyword {
            let mut original = self.0.keyword.clone();
            for part in self.0.flags.iter().chain(&self.0.args) {
                original.push(' ');
                original.push_str(part);
            }
            self.0.original = original;
        }
        self
    }
    fn flags(mut self, flags: &[&str]) -> Self {
        self.0.flags = flags.iter().map(|s| s.to_string()).collect();
        self
    }
    fn json(mut self) -> Self {
        self.0.json = true;
        self
    }
    fn original(mut self, text: &str) -> Self {
        self.0.original = text.to_string();
        self
    }
    fn lines(mut self, start: usize, end: usize) -> Self {
        self.0.start_line = start;
        self.0.end_line = end;
        self
    }
    fn comments(mut self, comments: &[&str]) -> Self {
        self.0.prev_comments = comments.iter().map(|s| s.to_string()).collect();
        self
    }
    fn heredoc(mut self, name: &str, content: &str, expand: bool, chomp: bool) -> Self {
        self.0.heredocs.push(Heredoc {
            name: name.to_string(),
            file_descriptor: 0,
            expand,
            chomp,
            content: content.to_string(),
        });
        self
    }
    fn nested(mut self, trigger: N) -> Self {
        self.0.nested = Some(Box::new(trigger.0));
        self
    }
    fn parse(&self) -> Result<Instruction> {
        parse_instruction(&self.0)
    }
    fn err(&self) -> String {
        match self.parse() {
            Ok(i) => panic!("expected an error, got {i:?}"),
            Err(e) => e.message,
        }
    }
    fn checked(&self) -> (Result<Instruction>, Vec<Warning>) {
        let mut warnings = Vec::new();
        let result = parse_instruction_checked(&self.0, &CheckConfig::default(), &mut warnings);
        (result, warnings)
    }
}

fn identity(s: &str) -> Result<String> {
    Ok(s.to_string())
}

/// Replaces `$X` with `x` and `$Y` with `y`, to see which fields expand.
fn fake_expand(s: &str) -> Result<String> {
    Ok(s.replace("$X", "x").replace("$Y", "y"))
}

macro_rules! variant {
    ($value:expr, $variant:ident) => {
        match $value {
            Instruction::$variant(inner) => inner,
            other => panic!("expected {}, got {other:?}", stringify!($variant)),
        }
    };
}

// ---------------------------------------------------------------- arguments

#[test]
fn commands_exactly_one_argument() {
    for cmd in ["MAINTAINER", "WORKDIR", "USER", "STOPSIGNAL"] {
        assert_eq!(n(cmd).err(), format!("{cmd} requires exactly one argument"));
        assert_eq!(
            n(cmd).args(&["a", "b"]).err(),
            format!("{cmd} requires exactly one argument")
        );
    }
}

#[test]
fn commands_at_least_one_argument() {
    for cmd in [
        "ENV",
        "LABEL",
        "ONBUILD",
        "HEALTHCHECK",
        "EXPOSE",
        "VOLUME",
        "ARG",
    ] {
        assert_eq!(
            n(cmd).err(),
            format!("{cmd} requires at least one argument")
        );
    }
    assert_eq!(
        n("SHELL").json().err(),
        "SHELL requires at least one argument"
    );
    assert_eq!(n("SHELL").err(), "SHELL requires at least one argument");
}

#[test]
fn commands_no_destination() {
    for cmd in ["ADD", "COPY"] {
        let message = format!(
            "{cmd} requires at least two arguments, but only one was provided. Destination could not be determined"
        );
        assert_eq!(n(cmd).args(&["arg1"]).err(), message);
        assert_eq!(n(cmd).err(), message);
        // Arguments are counted before flags are read.
        assert_eq!(n(cmd).flags(&["--bogus"]).args(&["a"]).err(), message);
    }
}

#[test]
fn commands_too_many_arguments() {
    for cmd in ["ENV", "LABEL"] {
        assert_eq!(
            n(cmd).args(&["arg1", "arg2", "arg3", ""]).err(),
            format!("Bad input to {cmd}, too many arguments")
        );
    }
}

#[test]
fn commands_blank_names() {
    for cmd in ["ENV", "LABEL"] {
        assert_eq!(
            n(cmd).args(&["", "arg2", "="]).err(),
            format!("{cmd} names can not be blank")
        );
    }
    assert_eq!(n("ARG").args(&["=x"]).err(), "ARG names can not be blank");
    assert_eq!(
        n("ARG").args(&["a", "=x"]).err(),
        "ARG names can not be blank"
    );
}

// ---------------------------------------------------------------- ENV, LABEL

#[test]
fn env_forms() {
    let env = variant!(n("ENV").args(&["name", "value", ""]).parse().unwrap(), Env);
    assert_eq!(
        env.vars,
        [KeyValue {
            key: "name".into(),
            value: "value".into(),
            legacy: true
        }]
    );
    let env = variant!(
        n("env")
            .args(&["a", "\"x y\"", "=", "b", "value\\ 2", "="])
            .parse()
            .unwrap(),
        Env
    );
    assert_eq!(env.vars.len(), 2);
    assert_eq!(env.vars[0].value, "\"x y\"", "kept as written");
    assert_eq!(env.vars[1].key, "b");
    assert!(!env.vars[1].legacy);
    assert_eq!(env.origin.keyword, "env");
    assert_eq!(
        n("ENV").flags(&["--x"]).args(&["a", "b", "="]).err(),
        "unknown flag: --x"
    );
}

#[test]
fn label_forms() {
    let label = variant!(
        n("LABEL")
            .args(&["a", "1", "=", "b.c", "two words", "="])
            .parse()
            .unwrap(),
        Label
    );
    assert_eq!(label.labels[1].key, "b.c");
    assert_eq!(label.labels[1].value, "two words");
    let label = variant!(n("LABEL").args(&["k", "v w", ""]).parse().unwrap(), Label);
    assert!(label.labels[0].legacy);
    // Flags are read before the pairs.
    assert_eq!(n("LABEL").flags(&["--x"]).err(), "unknown flag: --x");
}

// ---------------------------------------------------------------- MAINTAINER

#[test]
fn maintainer() {
    let (result, warnings) = n("MAINTAINER")
        .args(&["Jane <j@example.com>"])
        .lines(4, 4)
        .checked();
    let m = variant!(result.unwrap(), Maintainer);
    assert_eq!(m.maintainer, "Jane <j@example.com>");
    assert_eq!(
        warnings,
        [Warning::new(
            "MaintainerDeprecated",
            "Maintainer instruction is deprecated in favor of using label",
            SourceRange::line(4)
        )]
    );
    // The warning comes even when the instruction then fails.
    let (result, warnings) = n("MAINTAINER")
        .flags(&["--boo"])
        .args(&["joe@example.com"])
        .checked();
    assert_eq!(result.unwrap_err().message, "unknown flag: --boo");
    assert_eq!(warnings.len(), 1);
    // Without checks, nothing is raised.
    assert!(n("MAINTAINER").args(&["x"]).parse().is_ok());
}

// ---------------------------------------------------------------- ADD, COPY

#[test]
fn add_flags() {
    let add = variant!(
        n("ADD")
            .flags(&[
                "--chown=1000:1000",
                "--chmod=0644",
                "--link",
                "--keep-git-dir=false",
                "--checksum=sha256:abc",
                "--unpack=true",
                "--exclude=*.md",
                "--exclude=.git",
            ])
            .args(&["https://example.com/a.tar", "/dst/"])
            .parse()
            .unwrap(),
        Add
    );
    assert_eq!(add.chown, "1000:1000");
    assert_eq!(add.chmod, "0644");
    assert!(add.link);
    assert_eq!(add.keep_git_dir, Some(false));
    assert_eq!(add.checksum, "sha256:abc");
    assert_eq!(add.unpack, Some(true));
    assert_eq!(add.exclude, ["*.md", ".git"]);
    assert_eq!(add.files.source_paths, ["https://example.com/a.tar"]);
    assert_eq!(add.files.dest, "/dst/");

    let add = variant!(n("ADD").args(&["a", "b", "/c/"]).parse().unwrap(), Add);
    assert_eq!(add.keep_git_dir, None);
    assert_eq!(add.unpack, None);
    assert!(!add.link);
    assert_eq!(add.chown, "");
    assert_eq!(add.files.source_paths, ["a", "b"]);

    let add = variant!(
        n("ADD")
            .flags(&["--keep-git-dir"])
            .args(&["a", "b"])
            .parse()
            .unwrap(),
        Add
    );
    assert_eq!(add.keep_git_dir, Some(true));

    assert_eq!(
        n("ADD").flags(&["--from=x"]).args(&["a", "b"]).err(),
        "unknown flag: --from"
    );
    assert_eq!(
        n("ADD").flags(&["--parents"]).args(&["a", "b"]).err(),
        "unknown flag: --parents"
    );
    assert_eq!(
        n("ADD").flags(&["--checksum"]).args(&["a", "b"]).err(),
        "missing a value on flag: --checksum"
    );
    assert_eq!(
        n("ADD").flags(&["--unpack=yes"]).args(&["a", "b"]).err(),
        "expecting boolean value for flag --unpack, not: yes"
    );
}

#[test]
fn copy_flags() {
    let copy = variant!(
        n("COPY")
            .flags(&[
                "--from=build",
                "--chown=app",
                "--chmod=755",
                "--link=true",
                "--parents",
                "--exclude=a",
                "--exclude=b",
            ])
            .args(&["src1", "src2", "/dst"])
            .parse()
            .unwrap(),
        Copy
    );
    assert_eq!(copy.from, "build");
    assert_eq!(copy.chown, "app");
    assert_eq!(copy.chmod, "755");
    assert!(copy.link);
    assert!(copy.parents);
    assert_eq!(copy.exclude, ["a", "b"]);
    assert_eq!(copy.files.source_paths, ["src1", "src2"]);
    assert!(copy.files.source_contents.is_empty());

    let copy = variant!(
        n("COPY").json().args(&["a b", "/c d"]).parse().unwrap(),
        Copy
    );
    assert_eq!(copy.files.source_paths, ["a b"]);
    assert_eq!(copy.files.dest, "/c d");
    assert!(!copy.parents && !copy.link);

    for (flags, message) in [
        (
            &["--chmode=7"][..],
            "unknown flag: --chmode (did you mean chmod?)",
        ),
        (
            &["--from=a", "--from=b"][..],
            "duplicate flag specified: --from",
        ),
        (&["--from"][..], "missing a value on flag: --from"),
        (&["--checksum=x"][..], "unknown flag: --checksum"),
        (&["--chmod"][..], "missing a value on flag: --chmod"),
        (&["--keep-git-dir"][..], "unknown flag: --keep-git-dir"),
        (
            &["--link=nope"][..],
            "expecting boolean value for flag --link, not: nope",
        ),
        (&["from=x"][..], "arg should start with -- : from=x"),
    ] {
        assert_eq!(
            n("COPY").flags(flags).args(&["a", "b"]).err(),
            message,
            "{flags:?}"
        );
    }
}

#[test]
fn copy_heredocs() {
    let contents = |node: N| variant!(node.parse().unwrap(), Copy).files;
    let doc = |path: &str, data: &str, expand| SourceContent {
        path: path.into(),
        data: data.into(),
        expand,
    };

    let files = contents(
        n("COPY")
            .args(&["<<EOF", "/bar"])
            .heredoc("EOF", "", true, false),
    );
    assert_eq!(
        files,
        SourcesAndDest {
            dest: "/bar".into(),
            source_paths: vec![],
            source_contents: vec![doc("EOF", "", true)],
        }
    );
    let files = contents(n("COPY").args(&["<<EOF", "/bar"]).heredoc(
        "EOF",
        "TESTING\n",
        true,
        false,
    ));
    assert_eq!(files.source_contents, [doc("EOF", "TESTING\n", true)]);
    let files = contents(n("COPY").args(&["<<-EOF", "/bar"]).heredoc(
        "EOF",
        "\tTESTING\n",
        true,
        true,
    ));
    assert_eq!(files.source_contents, [doc("EOF", "TESTING\n", true)]);
    let files = contents(n("COPY").args(&["<<'EOF'", "/bar"]).heredoc(
        "EOF",
        "TESTING\n",
        false,
        false,
    ));
    assert_eq!(files.source_contents, [doc("EOF", "TESTING\n", false)]);
    let files = contents(
        n("COPY")
            .args(&["<<EOF1", "<<EOF2", "/bar"])
            .heredoc("EOF1", "this is the first file\n", true, false)
            .heredoc("EOF2", "this is the second file\n", true, false),
    );
    assert_eq!(
        files.source_contents,
        [
            doc("EOF1", "this is the first file\n", true),
            doc("EOF2", "this is the second file\n", true)
        ]
    );
    let files = contents(n("COPY").args(&["<<EOF", "foo.txt", "/bar"]).heredoc(
        "EOF",
        "this is inline\n",
        true,
        false,
    ));
    assert_eq!(files.source_paths, ["foo.txt"]);
    assert_eq!(
        files.source_contents,
        [doc("EOF", "this is inline\n", true)]
    );
    let files = contents(n("COPY").args(&["<<EOF", "/quotes"]).heredoc(
        "EOF",
        "\"quotes\"\n",
        true,
        false,
    ));
    assert_eq!(files.source_contents, [doc("EOF", "\"quotes\"\n", true)]);
    // A heredoc word with no body attached (JSON form) is an empty file.
    let files = contents(n("COPY").json().args(&["<<EOF", "/bar"]));
    assert_eq!(files.source_contents, [doc("EOF", "", true)]);

    // Delimiter spellings: partly quoted (no expansion), escaped, spaced,
    // with a descriptor; and words that only look like heredocs.
    let files = contents(
        n("COPY")
            .args(&[
                "<<E\"O\"F",
                "<<-  A\\B",
                "3<<C",
                "<<",
                "x<<D",
                "<<'E",
                "/dst",
            ])
            .heredoc("EOF", "1\n", false, false)
            .heredoc("AB", "\t2\n", true, true)
            .heredoc("C", "3\n", true, false),
    );
    assert_eq!(
        files.source_contents,
        [
            doc("EOF", "1\n", false),
            doc("AB", "2\n", true),
            doc("C", "3\n", true)
        ]
    );
    assert_eq!(files.source_paths, ["<<", "x<<D", "<<'E"]);

    assert_eq!(
        n("COPY")
            .args(&["/foo", "<<EOF"])
            .heredoc("EOF", "", true, false)
            .err(),
        "COPY cannot accept a heredoc as a destination"
    );
    assert_eq!(
        n("ADD").args(&["/foo", "<<-EOF"]).err(),
        "ADD cannot accept a heredoc as a destination"
    );
    let add = variant!(
        n("ADD")
            .args(&["<<EOF", "/x"])
            .heredoc("EOF", "hi\n", true, false)
            .parse()
            .unwrap(),
        Add
    );
    assert_eq!(add.files.source_contents, [doc("EOF", "hi\n", true)]);
}

// ---------------------------------------------------------------- FROM

#[test]
fn from_forms() {
    let from = variant!(n("FROM").args(&["alpine:3.19"]).parse().unwrap(), From);
    assert_eq!(from.base_name, "alpine:3.19");
    assert_eq!(from.name, None);
    assert_eq!(from.platform, None);

    let from = variant!(
        n("FROM")
            .flags(&["--platform=$BUILDPLATFORM"])
            .args(&["${BASE}", "AS", "Build-1.x_y"])
            .parse()
            .unwrap(),
        From
    );
    assert_eq!(from.base_name, "${BASE}");
    assert_eq!(from.name.as_deref(), Some("build-1.x_y"));
    assert_eq!(from.name_as_written.as_deref(), Some("Build-1.x_y"));
    assert_eq!(from.platform.as_deref(), Some("$BUILDPLATFORM"));

    let from = variant!(
        n("from")
            .flags(&["--platform="])
            .args(&["a", "as", "b"])
            .parse()
            .unwrap(),
        From
    );
    assert_eq!(from.platform, None);
    assert_eq!(from.name.as_deref(), Some("b"));
}

#[test]
fn from_errors() {
    let one_or_three = "FROM requires either one or three arguments";
    assert_eq!(n("FROM").err(), one_or_three);
    assert_eq!(n("FROM").args(&["a", "b"]).err(), one_or_three);
    assert_eq!(n("FROM").args(&["a", "b", "c"]).err(), one_or_three);
    assert_eq!(n("FROM").args(&["a", "AS", "b", "c"]).err(), one_or_three);
    for name in ["1foo", "foo:bar", "foo/bar", "-foo", "_x", "aé", "a+b"] {
        assert_eq!(
            n("FROM").args(&["a", "AS", name]).err(),
            format!("invalid name for build stage: \"{name}\", name can't start with a number or contain symbols")
        );
    }
    // The name is checked before the flags.
    assert!(n("FROM")
        .flags(&["--bogus"])
        .args(&["a", "AS", "9"])
        .err()
        .starts_with("invalid name"));
    assert_eq!(
        n("FROM").flags(&["--platfrom=x"]).args(&["a"]).err(),
        "unknown flag: --platfrom (did you mean platform?)"
    );
}

#[test]
fn from_lints() {
    let casing = |keyword: &str, args: &[&str]| {
        let (_, warnings) = n(keyword).args(args).checked();
        warnings
            .into_iter()
            .map(|w| format!("{}: {}", w.rule, w.message))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        casing("FROM", &["a", "AS", "Build"]),
        ["StageNameCasing: Stage name 'Build' should be lowercase"]
    );
    assert_eq!(
        casing("FROM", &["a", "as", "b"]),
        ["FromAsCasing: 'as' and 'FROM' keywords' casing do not match"]
    );
    assert_eq!(
        casing("from", &["a", "AS", "b"]),
        ["FromAsCasing: 'AS' and 'from' keywords' casing do not match"]
    );
    assert_eq!(
        casing("from", &["a", "as", "BUILD"]),
        ["StageNameCasing: Stage name 'BUILD' should be lowercase"]
    );
    assert!(
        casing("From", &["a", "as", "b"]).is_empty(),
        "mixed FROM is another rule's"
    );
    assert!(casing("FROM", &["a", "AS", "b"]).is_empty());
    assert!(casing("FROM", &["a"]).is_empty());
    // Raised even when FROM then fails.
    assert_eq!(
        casing("FROM", &["a", "x", "Y"]),
        [
            "StageNameCasing: Stage name 'Y' should be lowercase",
            "FromAsCasing: 'x' and 'FROM' keywords' casing do not match"
        ]
    );
    // A `# check=skip=` comment right above turns a rule off for that line.
    let (_, warnings) = n("FROM")
        .args(&["a", "as", "B"])
        .comments(&["check=skip=StageNameCasing"])
        .checked();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].rule, "FromAsCasing");
}

#[test]
fn definition_descriptions() {
    let run = |node: N, config: &CheckConfig| {
        let mut warnings = Vec::new();
        parse_instruction_checked(&node.0, config, &mut warnings).unwrap();
        warnings.into_iter().map(|w| w.message).collect::<Vec<_>>()
    };
    let on = CheckConfig {
        experimental: vec!["InvalidDefinitionDescription".into()],
        ..CheckConfig::default()
    };
    let off = CheckConfig::default();
    let from = n("FROM")
        .args(&["a", "AS", "base"])
        .comments(&["this is the base"]);
    assert!(
        run(from.clone(), &off).is_empty(),
        "experimental: off by default"
    );
    assert_eq!(
        run(from, &on),
        ["Comment for FROM should follow the format: `# base <description>`"]
    );
    assert!(run(
        n("FROM")
            .args(&["a", "AS", "base"])
            .comments(&["base stage"]),
        &on
    )
    .is_empty());
    assert!(run(n("FROM").args(&["a"]).comments(&["anything"]), &on).is_empty());
    assert_eq!(
        run(n("ARG").args(&["a", "b=1"]).comments(&["describes"]), &on),
        ["Comment for ARG should follow the format: `# <arg_key> <description>`"]
    );
    assert_eq!(
        run(n("ARG").args(&["a"]).comments(&["describes"]), &on),
        ["Comment for ARG should follow the format: `# a <description>`"]
    );
    assert!(run(n("ARG").args(&["a", "b=1"]).comments(&["x", "b is b"]), &on).is_empty());
    // Enabled by a comment on the instruction itself.
    assert_eq!(
        run(
            n("ARG")
                .args(&["a"])
                .comments(&["check=experimental=all", "nope"]),
            &off
        )
        .len(),
        1
    );
}

// ---------------------------------------------------------------- ONBUILD

#[test]
fn onbuild() {
    let trigger = n("RUN").args(&["echo hi"]);
    let on = variant!(
        n("ONBUILD")
            .nested(trigger)
            .original("  onbuild   RUN echo hi ")
            .parse()
            .unwrap(),
        Onbuild
    );
    assert_eq!(on.expression, "RUN echo hi ");
    assert_eq!(on.origin.original, "onbuild   RUN echo hi");

    let on = variant!(
        n("ONBUILD")
            .nested(n("RUN").args(&["<<EOF"]))
            .original("ONBUILD RUN <<EOF")
            .heredoc("EOF", "echo a\n", true, false)
            .parse()
            .unwrap(),
        Onbuild
    );
    assert_eq!(on.expression, "RUN <<EOF\necho a\nEOF");

    // Heredocs the parser attached to the trigger node are used too.
    let on = variant!(
        n("ONBUILD")
            .nested(
                n("COPY")
                    .args(&["<<X", "/x"])
                    .heredoc("X", "body\n", true, false)
            )
            .original("ONBUILD COPY <<X /x")
            .parse()
            .unwrap(),
        Onbuild
    );
    assert_eq!(on.expression, "COPY <<X /x\nbody\nX");

    assert_eq!(
        n("ONBUILD")
            .nested(n("ONBUILD").nested(n("RUN").args(&["x"])))
            .err(),
        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
    );
    assert_eq!(
        n("ONBUILD").nested(n("from").args(&["scratch"])).err(),
        "FROM isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(
        n("ONBUILD").nested(n("Maintainer").args(&["me"])).err(),
        "MAINTAINER isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(n("ONBUILD").err(), "ONBUILD requires at least one argument");
    assert_eq!(
        n("ONBUILD").flags(&["--x"]).nested(n("RUN")).err(),
        "unknown flag: --x"
    );
    // The trigger is not validated here: it is typed when a child image
    // runs it.
    assert!(n("ONBUILD").nested(n("BOGUS")).parse().is_ok());
}

// ---------------------------------------------------------------- WORKDIR, USER

#[test]
fn workdir_and_user() {
    let w = variant!(n("WORKDIR").args(&["/app dir"]).parse().unwrap(), Workdir);
    assert_eq!(w.path, "/app dir");
    let u = variant!(n("USER").args(&["app:app"]).parse().unwrap(), User);
    assert_eq!(u.user, "app:app");
    assert_eq!(
        n("WORKDIR").flags(&["--x"]).args(&["/a"]).err(),
        "unknown flag: --x"
    );
    assert_eq!(
        n("USER").flags(&["--x"]).args(&["a"]).err(),
        "unknown flag: --x"
    );
}

// ---------------------------------------------------------------- RUN

#[test]
fn run_forms() {
    let run = variant!(n("RUN").args(&["echo hello"]).parse().unwrap(), Run);
    assert_eq!(
        run.command,
        CommandLine {
            args: vec!["echo hello".into()],
            files: vec![],
            prepend_shell: true
        }
    );
    assert_eq!(run.network, NetworkMode::Default);
    assert_eq!(run.security, SecurityMode::Sandbox);
    assert!(run.mounts.is_empty() && run.devices.is_empty() && run.flags_used.is_empty());

    let run = variant!(n("RUN").json().args(&["ls", "/"]).parse().unwrap(), Run);
    assert_eq!(run.command.args, ["ls", "/"]);
    assert!(!run.command.prepend_shell);

    let run = variant!(n("RUN").json().args(&["<<EOF"]).parse().unwrap(), Run);
    assert_eq!(run.command.args, ["<<EOF"]);
    assert!(run.command.files.is_empty());

    // An empty RUN is not an error at this stage.
    let run = variant!(n("RUN").parse().unwrap(), Run);
    assert!(run.command.args.is_empty());

    let run = variant!(
        n("RUN")
            .args(&["<<'EOF' | python"])
            .heredoc("EOF", "print(\"hello\")\n", false, false)
            .parse()
            .unwrap(),
        Run
    );
    assert_eq!(run.command.args, ["<<'EOF' | python"]);
    assert_eq!(
        run.command.files,
        [ShellInlineFile {
            name: "EOF".into(),
            data: "print(\"hello\")\n".into(),
            chomp: false
        }]
    );
    let run = variant!(
        n("RUN")
            .args(&["<<-EOF"])
            .heredoc("EOF", "\techo test\n", true, true)
            .parse()
            .unwrap(),
        Run
    );
    assert_eq!(
        run.command.files[0].data, "\techo test\n",
        "RUN keeps tabs; chomp is a flag"
    );
    assert!(run.command.files[0].chomp);
}

#[test]
fn run_flags() {
    let run = variant!(
        n("RUN")
            .flags(&[
                "--mount=type=cache,target=/root/.cache",
                "--mount=type=bind,from=build,source=/out,target=/in",
                "--network=none",
                "--security=insecure",
                "--device=vendor.com/gpu=all,required",
            ])
            .args(&["make"])
            .parse()
            .unwrap(),
        Run
    );
    assert_eq!(run.flags_used, ["device", "mount", "network", "security"]);
    assert_eq!(run.network, NetworkMode::None);
    assert_eq!(run.security, SecurityMode::Insecure);
    assert_eq!(
        run.devices,
        [Device {
            name: "vendor.com/gpu=all".into(),
            required: true
        }]
    );
    assert_eq!(
        run.mount_specs,
        [
            "type=cache,target=/root/.cache",
            "type=bind,from=build,source=/out,target=/in"
        ]
    );
    // Before expansion only `from` is known.
    assert_eq!(
        run.mounts[0],
        Mount {
            read_only: true,
            ..Mount::default()
        }
    );
    assert_eq!(run.mounts[1].from, "build");
    assert_eq!(run.mounts[1].target, "");

    let run = variant!(
        n("RUN")
            .flags(&["--network=host"])
            .args(&["x"])
            .parse()
            .unwrap(),
        Run
    );
    assert_eq!(run.network, NetworkMode::Host);
    assert_eq!(run.flags_used, ["network"]);
    let run = variant!(
        n("RUN")
            .flags(&["--network=default", "--security=sandbox"])
            .args(&["x"])
            .parse()
            .unwrap(),
        Run
    );
    assert_eq!(
        (run.network, run.security),
        (NetworkMode::Default, SecurityMode::Sandbox)
    );

    let mut run = variant!(
        n("RUN")
            .flags(&["--mount=type=tmpfs,target=/foo/"])
            .args(&["echo hello"])
            .parse()
            .unwrap(),
        Run
    );
    assert_eq!(run.flags_used, ["mount"]);
    let mut inst = Instruction::Run(run.clone());
    inst.expand(&mut identity).unwrap();
    run = variant!(inst, Run);
    assert_eq!(run.mounts[0].mount_type, MountType::Tmpfs);
    assert_eq!(run.mounts[0].target, "/foo/");
    assert!(!run.mounts[0].read_only);
}

#[test]
fn run_flag_errors() {
    for (flags, message) in [
        (&["--network=bridge"][..], "invalid network mode \"bridge\""),
        (&["--network=NONE"][..], "invalid network mode \"NONE\""),
        (&["--network="][..], "invalid network mode \"\""),
        (
            &["--security=privileged"][..],
            "security \"privileged\" is not valid",
        ),
        (
            &["--mount=from=$STAGE"][..],
            "'from' doesn't support variable expansion, define alias stage instead",
        ),
        (&["--mount="][..], "failed to parse csv mounts: EOF"),
        (&["--mount"][..], "missing a value on flag: --mount"),
        (
            &["--device=a,b"][..],
            "invalid field 'b' must be a key=value pair",
        ),
        (
            &["--mnt=x"][..],
            "unknown flag: --mnt (did you mean mount?)",
        ),
        (
            &["--network=none", "--network=host"][..],
            "duplicate flag specified: --network",
        ),
        // Devices are read before mounts, mounts before network, network
        // before security.
        (
            &[
                "--security=x",
                "--network=y",
                "--mount=from=$a",
                "--device=a,b",
            ][..],
            "invalid field 'b' must be a key=value pair",
        ),
        (
            &["--security=x", "--network=y", "--mount=from=$a"][..],
            "'from' doesn't support variable expansion, define alias stage instead",
        ),
        (
            &["--security=x", "--network=y"][..],
            "invalid network mode \"y\"",
        ),
    ] {
        assert_eq!(
            n("RUN").flags(flags).args(&["x"]).err(),
            message,
            "{flags:?}"
        );
    }
    // Other mount problems surface when the RUN is expanded (lowered).
    let mut run = n("RUN")
        .flags(&["--mount=type=nope"])
        .args(&["x"])
        .lines(7, 8)
        .parse()
        .unwrap();
    let err = run.expand(&mut identity).unwrap_err();
    assert_eq!(err.message, "unsupported mount type \"nope\"");
    assert_eq!(err.range, Some(SourceRange::lines(7, 8)));
}

// ---------------------------------------------------------------- CMD, ENTRYPOINT, SHELL

#[test]
fn cmd_entrypoint_shell() {
    let cmd = variant!(n("CMD").args(&["/app/main.sh --x"]).parse().unwrap(), Cmd);
    assert_eq!(cmd.command.args, ["/app/main.sh --x"]);
    assert!(cmd.command.prepend_shell);
    let cmd = variant!(n("CMD").json().args(&["a", "b"]).parse().unwrap(), Cmd);
    assert_eq!(cmd.command.args, ["a", "b"]);
    assert!(!cmd.command.prepend_shell);
    let cmd = variant!(n("CMD").json().parse().unwrap(), Cmd);
    assert!(cmd.command.args.is_empty());
    assert_eq!(
        n("CMD").flags(&["--doit"]).json().args(&["a"]).err(),
        "unknown flag: --doit"
    );

    let ep = variant!(
        n("ENTRYPOINT").json().args(&["/bin/app"]).parse().unwrap(),
        Entrypoint
    );
    assert_eq!(ep.command.args, ["/bin/app"]);
    let ep = variant!(n("ENTRYPOINT").parse().unwrap(), Entrypoint);
    assert!(ep.command.args.is_empty() && ep.command.prepend_shell);
    assert_eq!(n("ENTRYPOINT").flags(&["--x=1"]).err(), "unknown flag: --x");

    let shell = variant!(
        n("SHELL")
            .json()
            .args(&["powershell", "-command"])
            .parse()
            .unwrap(),
        Shell
    );
    assert_eq!(shell.shell, ["powershell", "-command"]);
    assert_eq!(
        n("SHELL").args(&["powershell -command"]).err(),
        "SHELL requires the arguments to be in JSON form"
    );
    assert_eq!(
        n("SHELL").flags(&["--x"]).json().args(&["sh"]).err(),
        "unknown flag: --x"
    );
}

// ---------------------------------------------------------------- HEALTHCHECK

#[test]
fn healthcheck_forms() {
    let hc = variant!(
        n("HEALTHCHECK")
            .args(&["CMD", "hello world"])
            .parse()
            .unwrap(),
        Healthcheck
    );
    assert_eq!(hc.health.test, ["CMD-SHELL", "hello world"]);
    assert_eq!(hc.health.interval, Duration::ZERO);
    assert_eq!(hc.health.retries, 0);

    let hc = variant!(
        n("HEALTHCHECK")
            .flags(&["--timeout=3s"])
            .json()
            .args(&["cmd", "foo", "bar"])
            .parse()
            .unwrap(),
        Healthcheck
    );
    assert_eq!(hc.health.test, ["CMD", "foo", "bar"]);
    assert_eq!(hc.health.timeout, Duration::from_secs(3));

    let hc = variant!(
        n("HEALTHCHECK")
            .flags(&[
                "--interval=1m30s",
                "--timeout=500ms",
                "--start-period=1.5h",
                "--start-interval=2s",
                "--retries=3",
            ])
            .args(&["CMD", "/app/check.sh --quiet"])
            .parse()
            .unwrap(),
        Healthcheck
    );
    assert_eq!(
        hc.health,
        Healthcheck {
            test: vec!["CMD-SHELL".into(), "/app/check.sh --quiet".into()],
            interval: Duration::from_secs(90),
            timeout: Duration::from_millis(500),
            start_period: Duration::from_secs(5400),
            start_interval: Duration::from_secs(2),
            retries: 3,
        }
    );

    let hc = variant!(
        n("HEALTHCHECK")
            .flags(&[
                "--start-period=0s",
                "--start-interval=0s",
                "--interval=5s",
                "--timeout=0s",
                "--retries=0"
            ])
            .json()
            .args(&["CMD", "foo"])
            .parse()
            .unwrap(),
        Healthcheck
    );
    assert_eq!(hc.health.interval, Duration::from_secs(5));
    assert_eq!(hc.health.timeout, Duration::ZERO);
    assert_eq!(hc.health.retries, 0);

    let hc = variant!(
        n("HEALTHCHECK").args(&["none"]).parse().unwrap(),
        Healthcheck
    );
    assert_eq!(
        hc.health,
        Healthcheck {
            test: vec!["NONE".into()],
            ..Healthcheck::default()
        }
    );
    // NONE never reads flags.
    assert!(n("HEALTHCHECK")
        .flags(&["--bogus"])
        .args(&["NONE"])
        .parse()
        .is_ok());
}

#[test]
fn healthcheck_errors() {
    let hc = |flags: &[&str], args: &[&str]| n("HEALTHCHECK").flags(flags).args(args).err();
    assert_eq!(
        hc(&[], &["NONE", "x"]),
        "HEALTHCHECK NONE takes no arguments"
    );
    assert_eq!(hc(&[], &["CMD"]), "Missing command after HEALTHCHECK CMD");
    assert_eq!(
        hc(&[], &["CONNECT", "TCP 7000"]),
        "Unknown type \"CONNECT\" in HEALTHCHECK (try CMD)"
    );
    // Flags are read before the type is checked.
    assert_eq!(hc(&["--bogus"], &["CONNECT", "x"]), "unknown flag: --bogus");
    assert_eq!(
        hc(&["--intervl=1s"], &["CMD", "x"]),
        "unknown flag: --intervl (did you mean interval?)"
    );
    assert_eq!(
        hc(&["--interval=50ns"], &["CMD", "x"]),
        "Interval \"interval\" cannot be less than 1ms"
    );
    assert_eq!(
        hc(&["--timeout=-1s"], &["CMD", "x"]),
        "Interval \"timeout\" cannot be less than 1ms"
    );
    assert_eq!(
        hc(&["--start-period=999us"], &["CMD", "x"]),
        "Interval \"start-period\" cannot be less than 1ms"
    );
    assert_eq!(
        hc(&["--start-interval=0.5ms"], &["CMD", "x"]),
        "Interval \"start-interval\" cannot be less than 1ms"
    );
    assert!(n("HEALTHCHECK")
        .flags(&["--interval=1ms"])
        .args(&["CMD", "x"])
        .parse()
        .is_ok());
    assert!(n("HEALTHCHECK")
        .flags(&["--interval=0ms"])
        .args(&["CMD", "x"])
        .parse()
        .is_ok());
    assert_eq!(
        hc(&["--interval=30"], &["CMD", "x"]),
        "time: missing unit in duration \"30\""
    );
    assert_eq!(
        hc(&["--timeout=1d"], &["CMD", "x"]),
        "time: unknown unit \"d\" in duration \"1d\""
    );
    assert_eq!(
        hc(&["--interval=abc"], &["CMD", "x"]),
        "time: invalid duration \"abc\""
    );
    assert_eq!(
        hc(&["--retries=-1"], &["CMD", "x"]),
        "--retries cannot be negative (-1)"
    );
    assert_eq!(
        hc(&["--retries=three"], &["CMD", "x"]),
        "strconv.ParseInt: parsing \"three\": invalid syntax"
    );
    assert_eq!(
        hc(&["--retries=99999999999"], &["CMD", "x"]),
        "strconv.ParseInt: parsing \"99999999999\": value out of range"
    );
    // Intervals are checked in order: interval, timeout, start-period,
    // start-interval, then retries.
    assert_eq!(
        hc(
            &["--retries=x", "--start-period=1x", "--timeout=1ns"],
            &["CMD", "x"]
        ),
        "Interval \"timeout\" cannot be less than 1ms"
    );
}

// ---------------------------------------------------------------- EXPOSE, VOLUME, STOPSIGNAL

#[test]
fn expose_volume_stopsignal() {
    let e = variant!(
        n("EXPOSE")
            .args(&["8080/tcp", "443", "80/UDP", "$PORT"])
            .parse()
            .unwrap(),
        Expose
    );
    assert_eq!(
        e.ports,
        ["$PORT", "443", "80/UDP", "8080/tcp"],
        "sorted by bytes"
    );
    assert_eq!(
        n("EXPOSE").flags(&["--x"]).args(&["80"]).err(),
        "unknown flag: --x"
    );

    let v = variant!(n("VOLUME").args(&["/a", "/b"]).parse().unwrap(), Volume);
    assert_eq!(v.volumes, ["/a", "/b"]);
    let v = variant!(
        n("VOLUME").json().args(&[" /c ", "/d"]).parse().unwrap(),
        Volume
    );
    assert_eq!(v.volumes, ["/c", "/d"]);
    assert_eq!(
        n("VOLUME").json().args(&["/a", "  "]).err(),
        "VOLUME specified can not be an empty string"
    );
    assert_eq!(
        n("VOLUME").json().err(),
        "VOLUME requires at least one argument"
    );

    let s = variant!(
        n("STOPSIGNAL").args(&["SIGTERM"]).parse().unwrap(),
        StopSignal
    );
    assert_eq!(s.signal, "SIGTERM");
    // STOPSIGNAL ignores flags, as the reference does.
    assert!(n("STOPSIGNAL").flags(&["--x"]).args(&["9"]).parse().is_ok());
}

// ---------------------------------------------------------------- ARG

#[test]
fn arg_forms() {
    let arg = variant!(
        n("ARG")
            .args(&["a", "b=", "c=\"x y\"", "d=e=f"])
            .comments(&["a is first", "c the third"])
            .parse()
            .unwrap(),
        Arg
    );
    let defs: Vec<_> = arg
        .args
        .iter()
        .map(|a| (a.key.as_str(), a.value.as_deref(), a.doc_comment.as_str()))
        .collect();
    assert_eq!(
        defs,
        [
            ("a", None, "is first"),
            ("b", Some(""), ""),
            ("c", Some("\"x y\""), "the third"),
            ("d", Some("e=f"), ""),
        ]
    );
    // ARG ignores flags.
    assert!(n("ARG").flags(&["--x"]).args(&["a"]).parse().is_ok());
}

// ---------------------------------------------------------------- unknown, ranges

#[test]
fn unknown_instructions() {
    assert_eq!(
        n("FOO").args(&["bar"]).err(),
        "unknown instruction: FOO (did you mean FROM?)"
    );
    assert_eq!(
        n("foo").err(),
        "unknown instruction: foo (did you mean from?)"
    );
    assert_eq!(
        n("RUNN").err(),
        "unknown instruction: RUNN (did you mean RUN?)"
    );
    assert_eq!(
        n("Copyy").err(),
        "unknown instruction: Copyy (did you mean copy?)"
    );
    assert_eq!(n("XYZZY").err(), "unknown instruction: XYZZY");
    assert_eq!(n("").err(), "unknown instruction: ");
}

#[test]
fn origins_and_ranges() {
    let node = n("Run")
        .flags(&["--network=none"])
        .args(&["echo hi"])
        .original("  Run --network=none echo hi \n")
        .lines(3, 5);
    let inst = node.parse().unwrap();
    assert_eq!(inst.name(), "run");
    assert_eq!(inst.keyword(), "Run");
    assert_eq!(inst.original(), "Run --network=none echo hi");
    assert_eq!(inst.range(), SourceRange::lines(3, 5));

    let err = n("WORKDIR").lines(9, 9).parse().unwrap_err();
    assert_eq!(err.range, Some(SourceRange::line(9)));
    for node in [
        n("FROM").args(&["a", "b"]),
        n("FROM").args(&["a", "AS", "1"]),
        n("ARG").args(&["=x"]),
        n("ARG"),
        n("NOPE"),
        n("RUN").flags(&["--network=x"]),
        n("HEALTHCHECK").flags(&["--retries=x"]).args(&["CMD", "x"]),
    ] {
        let err = node.lines(2, 3).parse().unwrap_err();
        assert_eq!(err.range, Some(SourceRange::lines(2, 3)), "{}", err.message);
    }
}

#[test]
fn parse_command_rejects_from() {
    let err = parse_command(&n("FROM").args(&["a"]).0).unwrap_err();
    assert_eq!(err.message, "*instructions.Stage is not a command type");
    assert!(parse_command(&n("RUN").args(&["a"]).0).is_ok());
    assert_eq!(
        parse_command(&n("NOPE").0).unwrap_err().message,
        "unknown instruction: NOPE (did you mean COPY?)"
    );
}

/// Every keyword with odd argument shapes: errors, never panics.
#[test]
fn never_panics() {
    let keywords: Vec<&str> = super::parse::INSTRUCTIONS
        .iter()
        .copied()
        .chain(["x"])
        .collect();
    let arg_sets: [&[&str]; 9] = [
        &[],
        &[""],
        &["foo=bar"],
        &["a"],
        &["a", "b"],
        &["a", "b", "c"],
        &["0", "0"],
        &["<<", "<<-"],
        &["é", "=", "\"", "$"],
    ];
    let flag_sets: [&[&str]; 6] = [
        &[],
        &["--"],
        &["--mount=\""],
        &["--interval=é"],
        &["--retries="],
        &["-", "--=", "--platform"],
    ];
    for keyword in keywords {
        for args in arg_sets {
            for flags in flag_sets {
                for json in [false, true] {
                    let mut node = n(keyword).flags(flags).args(args);
                    if json {
                        node = node.json();
                    }
                    if keyword == "ONBUILD" {
                        node = node.nested(n(args.first().copied().unwrap_or("")).args(args));
                    }
                    let mut warnings = Vec::new();
                    let _ =
                        parse_instruction_checked(&node.0, &CheckConfig::default(), &mut warnings);
                    if let Ok(mut inst) = node.parse() {
                        let _ = inst.expand(&mut identity);
                        let _ = inst.expand_heredocs(&mut identity);
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------- expansion

#[test]
fn expansion_touches_the_reference_fields() {
    let expand = |node: N| {
        let mut inst = node.parse().unwrap();
        inst.expand(&mut fake_expand).unwrap();
        inst
    };

    let env = variant!(expand(n("ENV").args(&["$X", "$Y", "="])), Env);
    assert_eq!(
        (env.vars[0].key.as_str(), env.vars[0].value.as_str()),
        ("x", "y")
    );
    let label = variant!(expand(n("LABEL").args(&["l.$X", "$Y", ""])), Label);
    assert_eq!(
        (label.labels[0].key.as_str(), label.labels[0].value.as_str()),
        ("l.x", "y")
    );
    assert!(label.labels[0].legacy);

    let add = variant!(
        expand(
            n("ADD")
                .flags(&["--chown=$X", "--chmod=$Y", "--checksum=$X", "--exclude=$X"])
                .args(&["$X", "<<EOF", "/$Y"])
                .heredoc("EOF", "$X\n", true, false)
        ),
        Add
    );
    assert_eq!(
        (
            add.chown.as_str(),
            add.chmod.as_str(),
            add.checksum.as_str()
        ),
        ("x", "y", "x")
    );
    assert_eq!(add.files.source_paths, ["x"]);
    assert_eq!(add.files.dest, "/y");
    assert_eq!(add.exclude, ["$X"], "--exclude is not expanded");
    assert_eq!(
        add.files.source_contents[0].data, "$X\n",
        "heredocs: expand_heredocs"
    );

    let copy = variant!(
        expand(
            n("COPY")
                .flags(&["--from=$X", "--chown=$X", "--chmod=$Y"])
                .args(&["$X", "$Y", "$X/"])
        ),
        Copy
    );
    assert_eq!(copy.from, "$X", "--from is not expanded");
    assert_eq!((copy.chown.as_str(), copy.chmod.as_str()), ("x", "y"));
    assert_eq!(copy.files.source_paths, ["x", "y"]);
    assert_eq!(copy.files.dest, "x/");

    assert_eq!(
        variant!(expand(n("WORKDIR").args(&["/$X"])), Workdir).path,
        "/x"
    );
    assert_eq!(
        variant!(expand(n("USER").args(&["$X:$Y"])), User).user,
        "x:y"
    );
    assert_eq!(
        variant!(expand(n("STOPSIGNAL").args(&["$X"])), StopSignal).signal,
        "x"
    );
    assert_eq!(
        variant!(expand(n("VOLUME").args(&["/$X", "/$Y"])), Volume).volumes,
        ["/x", "/y"]
    );

    // Not expanded by `expand`.
    assert_eq!(
        variant!(expand(n("ARG").args(&["$X=$Y"])), Arg).args[0].key,
        "$X"
    );
    assert_eq!(
        variant!(expand(n("EXPOSE").args(&["$X"])), Expose).ports,
        ["$X"]
    );
    assert_eq!(
        variant!(expand(n("CMD").args(&["echo $X"])), Cmd)
            .command
            .args,
        ["echo $X"]
    );
    assert_eq!(
        variant!(expand(n("ENTRYPOINT").args(&["$X"])), Entrypoint)
            .command
            .args,
        ["$X"]
    );
    assert_eq!(
        variant!(expand(n("RUN").args(&["echo $X"])), Run)
            .command
            .args,
        ["echo $X"]
    );
    assert_eq!(
        variant!(expand(n("SHELL").json().args(&["$X"])), Shell).shell,
        ["$X"]
    );
    assert_eq!(
        variant!(expand(n("MAINTAINER").args(&["$X"])), Maintainer).maintainer,
        "$X"
    );
    assert_eq!(
        variant!(expand(n("HEALTHCHECK").args(&["CMD", "$X"])), Healthcheck)
            .health
            .test,
        ["CMD-SHELL", "$X"]
    );
    let from = variant!(
        expand(n("FROM").flags(&["--platform=$X"]).args(&["$X"])),
        From
    );
    assert_eq!(
        (from.base_name.as_str(), from.platform.as_deref()),
        ("$X", Some("$X"))
    );
    assert_eq!(
        variant!(
            expand(
                n("ONBUILD")
                    .nested(n("RUN").args(&["$X"]))
                    .original("ONBUILD RUN $X")
            ),
            Onbuild
        )
        .expression,
        "RUN $X"
    );

    // RUN mounts: every value is expanded, then all keys are read.
    let run = variant!(
        expand(
            n("RUN")
                .flags(&["--mount=type=cache,target=/$X,id=$Y,from=base$"])
                .args(&["make"])
        ),
        Run
    );
    assert_eq!(run.mounts[0].mount_type, MountType::Cache);
    assert_eq!(run.mounts[0].target, "/x");
    assert_eq!(run.mounts[0].cache_id, "y");
    assert_eq!(run.mounts[0].from, "base$");
    assert_eq!(
        run.mount_specs,
        ["type=cache,target=/$X,id=$Y,from=base$"],
        "specs stay as written"
    );
}

#[test]
fn expansion_errors_get_the_range() {
    let mut inst = n("WORKDIR").args(&["$X"]).lines(4, 6).parse().unwrap();
    let err = inst
        .expand(&mut |_: &str| -> Result<String> { Err(Error::new("bad substitution")) })
        .unwrap_err();
    assert_eq!(err.message, "bad substitution");
    assert_eq!(err.range, Some(SourceRange::lines(4, 6)));
    // An expander error that knows its range keeps it.
    let mut inst = n("USER").args(&["$X"]).lines(4, 4).parse().unwrap();
    let err = inst
        .expand(&mut |_: &str| -> Result<String> { Err(Error::at("x", SourceRange::line(1))) })
        .unwrap_err();
    assert_eq!(err.range, Some(SourceRange::line(1)));
}

#[test]
fn heredoc_expansion() {
    let mut inst = n("COPY")
        .args(&["<<A", "<<'B'", "/dst"])
        .heredoc("A", "a=$X\n", true, false)
        .heredoc("B", "b=$X\n", false, false)
        .parse()
        .unwrap();
    inst.expand_heredocs(&mut fake_expand).unwrap();
    let copy = variant!(inst, Copy);
    assert_eq!(copy.files.source_contents[0].data, "a=x\n");
    assert_eq!(
        copy.files.source_contents[1].data, "b=$X\n",
        "quoted delimiter: literal"
    );

    let mut run = n("RUN")
        .args(&["<<EOF"])
        .heredoc("EOF", "$X\n", true, false)
        .parse()
        .unwrap();
    run.expand_heredocs(&mut fake_expand).unwrap();
    assert_eq!(variant!(run, Run).command.files[0].data, "$X\n");
}

#[test]
fn expose_and_arg_expansion() {
    let mut expose = variant!(
        n("EXPOSE")
            .args(&["$PORTS", "22"])
            .lines(2, 2)
            .parse()
            .unwrap(),
        Expose
    );
    expose
        .expand_ports(&mut |w: &str| {
            Ok(w.replace("$PORTS", "80 443/tcp")
                .split_whitespace()
                .map(String::from)
                .collect())
        })
        .unwrap();
    // Sorted when parsed ("$PORTS" < "22"), not after expansion.
    assert_eq!(expose.ports, ["80", "443/tcp", "22"]);
    let err = expose
        .expand_ports(&mut |_: &str| -> Result<Vec<String>> { Err(Error::new("no")) })
        .unwrap_err();
    assert_eq!(err.range, Some(SourceRange::line(2)));

    let mut arg = variant!(n("ARG").args(&["$X=$Y", "plain"]).parse().unwrap(), Arg);
    arg.expand(&mut fake_expand).unwrap();
    assert_eq!(arg.args[0].key, "x");
    assert_eq!(arg.args[0].value.as_deref(), Some("y"));
    assert_eq!(arg.args[1].value, None);
}

// ---------------------------------------------------------------- stages

fn dockerfile(nodes: &[N]) -> (Result<Dockerfile>, Vec<Warning>) {
    let nodes: Vec<Node> = nodes.iter().map(|n| n.0.clone()).collect();
    let mut warnings = Vec::new();
    let result = parse_dockerfile(&nodes, &mut warnings);
    (result, warnings)
}

#[test]
fn stages_and_meta_args() {
    let (result, warnings) = dockerfile(&[
        n("ARG").args(&["BASE=alpine"]).lines(1, 1),
        n("ARG").args(&["V"]).lines(2, 2),
        n("FROM").args(&["$BASE", "AS", "Build"]).lines(3, 3),
        n("ARG").args(&["V"]).lines(4, 4),
        n("RUN").args(&["make"]).lines(5, 5),
        n("from")
            .flags(&["--platform=linux/arm64"])
            .args(&["build"])
            .lines(6, 6),
        n("COPY")
            .flags(&["--from=build"])
            .args(&["/out", "/"])
            .lines(7, 7),
    ]);
    let df = result.unwrap();
    assert_eq!(df.meta_args.len(), 2);
    assert_eq!(df.meta_args[0].args[0].key, "BASE");
    assert_eq!(df.stages.len(), 2);
    let build = &df.stages[0];
    assert_eq!(build.name.as_deref(), Some("build"));
    assert_eq!(build.name_as_written.as_deref(), Some("Build"));
    assert_eq!(build.base_name, "$BASE");
    assert_eq!(build.range(), SourceRange::line(3));
    assert_eq!(build.origin.keyword, "FROM");
    assert_eq!(build.instructions.len(), 2);
    assert!(matches!(build.instructions[0], Instruction::Arg(_)));
    let second = &df.stages[1];
    assert_eq!(second.name, None);
    assert_eq!(second.platform.as_deref(), Some("linux/arm64"));
    assert_eq!(second.origin.keyword, "from");
    assert_eq!(second.instructions.len(), 1);
    assert_eq!(df.stage_index("BUILD"), Some(0));
    assert_eq!(df.stage_index("nope"), None);
    assert_eq!(
        warnings.iter().map(|w| w.rule).collect::<Vec<_>>(),
        ["StageNameCasing"]
    );
}

#[test]
fn stage_errors() {
    let (result, _) = dockerfile(&[
        n("ARG").args(&["A"]),
        n("ENV").args(&["a", "b", "="]).lines(2, 3),
    ]);
    let err = result.unwrap_err();
    assert_eq!(err.message, "no build stage in current context");
    assert_eq!(err.range, Some(SourceRange::lines(2, 3)));

    let (result, _) = dockerfile(&[n("ARG").args(&["A"]), n("ARG").args(&["B"])]);
    let err = result.unwrap_err();
    assert_eq!(err.message, "dockerfile contains no stages to build");
    assert_eq!(err.range, None);
    assert_eq!(
        dockerfile(&[]).0.unwrap_err().message,
        "dockerfile contains no stages to build"
    );

    let (result, warnings) = dockerfile(&[
        n("FROM").args(&["a"]).lines(1, 1),
        n("MAINTAINER").args(&["me"]).lines(2, 2),
        n("FOO").args(&["bar"]).lines(3, 4),
    ]);
    let err = result.unwrap_err();
    assert_eq!(
        err.message,
        "dockerfile parse error on line 3: unknown instruction: FOO (did you mean FROM?)"
    );
    assert_eq!(err.range, Some(SourceRange::lines(3, 4)));
    assert_eq!(warnings.len(), 1, "warnings before the error are kept");

    // A parse error before any FROM is reported as such.
    let (result, _) = dockerfile(&[n("ENV").lines(1, 1)]);
    assert_eq!(
        result.unwrap_err().message,
        "dockerfile parse error on line 1: ENV requires at least one argument"
    );
}

#[test]
fn doc_comments() {
    let (result, _) = dockerfile(&[
        n("ARG").args(&["foo=bar"]).comments(&["foo sets foo"]),
        n("FROM")
            .args(&["busybox", "AS", "base"])
            .comments(&["base defines first stage"]),
        n("ARG").args(&["foo"]).comments(&["this is irrelevant"]),
        n("ARG")
            .args(&["bar", "baz=123"])
            .comments(&["bar defines bar", "baz is something else"]),
    ]);
    let df = result.unwrap();
    assert_eq!(df.stages[0].doc_comment, "defines first stage");
    assert_eq!(df.meta_args[0].args[0].key, "foo");
    assert_eq!(df.meta_args[0].args[0].doc_comment, "sets foo");
    let arg = |i: usize| variant!(&df.stages[0].instructions[i], Arg);
    assert_eq!(arg(0).args[0].doc_comment, "");
    assert_eq!(arg(1).args[0].doc_comment, "defines bar");
    assert_eq!(arg(1).args[1].key, "baz");
    assert_eq!(arg(1).args[1].doc_comment, "is something else");
}

#[test]
fn check_configs() {
    let nodes: Vec<Node> = [
        n("FROM").args(&["a", "as", "B"]),
        n("MAINTAINER").args(&["me"]),
    ]
    .into_iter()
    .map(|n| n.0)
    .collect();
    let mut warnings = Vec::new();
    let config = CheckConfig::parse("skip=FromAsCasing,MaintainerDeprecated").unwrap();
    parse_dockerfile_with_checks(&nodes, &config, &mut warnings).unwrap();
    assert_eq!(
        warnings.iter().map(|w| w.rule).collect::<Vec<_>>(),
        ["StageNameCasing"]
    );
    let mut warnings = Vec::new();
    parse_dockerfile_with_checks(
        &nodes,
        &CheckConfig::parse("skip=all").unwrap(),
        &mut warnings,
    )
    .unwrap();
    assert!(warnings.is_empty());
    assert_eq!(
        Warning::new("FromAsCasing", "m", SourceRange::line(1)).url,
        "https://docs.docker.com/go/dockerfile/rule/from-as-casing/"
    );
}
