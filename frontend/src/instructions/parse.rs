//! One parsed node -> one typed [`Instruction`] (BuildKit's
//! `ParseInstruction`), with the reference's checks, order of checks and
//! error texts. Errors get the node's range.

use std::time::Duration;

use super::checks::{
    CheckConfig, Checker, FROM_AS_CASING, INVALID_DEFINITION_DESCRIPTION, MAINTAINER_DEPRECATED,
    STAGE_NAME_CASING,
};
use super::commands::*;
use super::duration::parse_go_duration;
use super::flags::Flags;
use super::mounts::{parse_device, parse_mount};
use super::support::{go_parse_int_message, go_quote, parse_go_i32, with_suggestion};
use crate::lint::Warning;
use crate::parser::{chomp_heredoc_content, parse_heredoc, Heredoc, Node};
use crate::{Error, Result};

/// Every instruction keyword, for "did you mean" suggestions.
pub(super) const INSTRUCTIONS: [&str; 18] = [
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Types one node. No build checks run (as the reference's
/// `ParseInstruction` with no linter).
pub fn parse_instruction(node: &Node) -> Result<Instruction> {
    parse_node(node, None)
}

/// Types one node, raising the build checks that belong to this step
/// (`MaintainerDeprecated`, `StageNameCasing`, `FromAsCasing` and, when
/// enabled, the experimental `InvalidDefinitionDescription`) as `config`
/// and the `# check=` comments above the node allow.
pub fn parse_instruction_checked(
    node: &Node,
    config: &CheckConfig,
    warnings: &mut Vec<Warning>,
) -> Result<Instruction> {
    let checker = Checker {
        config: config.for_comments(&node.prev_comments),
        warnings,
    };
    parse_node(node, Some(checker))
}

/// Types a node that must be a command, not FROM (ONBUILD triggers read
/// back from a base image's config).
pub fn parse_command(node: &Node) -> Result<Instruction> {
    match parse_instruction(node)? {
        Instruction::From(_) => Err(Error::at(
            "*instructions.Stage is not a command type",
            node.range(),
        )),
        other => Ok(other),
    }
}

/// What the per-instruction parsers work from.
struct Request<'a> {
    node: &'a Node,
    /// The arguments; for ONBUILD the trigger's keyword then its arguments.
    args: Vec<String>,
    flags: Flags,
}

impl<'a> Request<'a> {
    fn new(node: &'a Node) -> Self {
        let args = match &node.nested {
            Some(trigger) => std::iter::once(trigger.keyword.clone())
                .chain(trigger.args.iter().cloned())
                .collect(),
            None => node.args.clone(),
        };
        Request {
            node,
            args,
            flags: Flags::new(),
        }
    }

    fn parse_flags(&mut self) -> Result<()> {
        self.flags.parse(&self.node.flags).map_err(Error::new)
    }

    fn origin(&self) -> Origin {
        Origin {
            keyword: self.node.keyword.clone(),
            original: self.node.original.trim().to_string(),
            range: self.node.range(),
            comments: self.node.prev_comments.clone(),
        }
    }

    /// Exec form: the JSON elements; shell form: the words joined by spaces.
    fn command_args(&self, args: &[String]) -> Vec<String> {
        if args.is_empty() {
            Vec::new()
        } else if self.node.json {
            args.to_vec()
        } else {
            vec![args.join(" ")]
        }
    }
}

fn parse_node(node: &Node, checker: Option<Checker<'_>>) -> Result<Instruction> {
    dispatch(node, checker).map_err(|e| e.or_at(node.range()))
}

fn dispatch(node: &Node, mut checker: Option<Checker<'_>>) -> Result<Instruction> {
    let range = node.range();
    let mut req = Request::new(node);
    match node.name().as_str() {
        "env" => parse_env(&mut req),
        "maintainer" => {
            if let Some(checker) = checker.as_mut() {
                checker.run(
                    MAINTAINER_DEPRECATED,
                    "Maintainer instruction is deprecated in favor of using label".to_string(),
                    range,
                );
            }
            parse_maintainer(&mut req)
        }
        "label" => parse_label(&mut req),
        "add" => parse_add(&mut req),
        "copy" => parse_copy(&mut req),
        "from" => {
            if let Some(checker) = checker.as_mut() {
                check_from_casing(&req, checker);
            }
            let from = parse_from(&mut req)?;
            if let (Some(checker), Some(name)) = (checker.as_mut(), &from.name) {
                check_definition_description("FROM", std::slice::from_ref(name), node, checker);
            }
            Ok(Instruction::From(from))
        }
        "onbuild" => parse_onbuild(&mut req),
        "workdir" => parse_workdir(&mut req),
        "run" => parse_run(&mut req),
        "cmd" => parse_cmd(&mut req),
        "healthcheck" => parse_healthcheck(&mut req),
        "entrypoint" => parse_entrypoint(&mut req),
        "expose" => parse_expose(&mut req),
        "user" => parse_user(&mut req),
        "volume" => parse_volume(&mut req),
        "stopsignal" => parse_stopsignal(&req),
        "arg" => {
            let arg = parse_arg(&req)?;
            if let Some(checker) = checker.as_mut() {
                let keys: Vec<String> = arg.args.iter().map(|a| a.key.clone()).collect();
                check_definition_description("ARG", &keys, node, checker);
            }
            Ok(Instruction::Arg(arg))
        }
        "shell" => parse_shell(&mut req),
        _ => Err(Error::new(with_suggestion(
            format!("unknown instruction: {}", node.keyword),
            &node.keyword,
            &INSTRUCTIONS,
            false,
        ))),
    }
}

fn at_least_one_argument(command: &str) -> Error {
    Error::new(format!("{command} requires at least one argument"))
}

fn exactly_one_argument(command: &str) -> Error {
    Error::new(format!("{command} requires exactly one argument"))
}

fn no_destination(command: &str) -> Error {
    Error::new(format!(
        "{command} requires at least two arguments, but only one was provided. Destination could not be determined"
    ))
}

/// ENV/LABEL arguments come in threes from the parser: key, value, and
/// `=` or `""` (legacy `key value` form).
fn key_values(args: &[String], command: &str) -> Result<Vec<KeyValue>> {
    if args.is_empty() {
        return Err(at_least_one_argument(command));
    }
    let triples = args.chunks_exact(3);
    if !triples.remainder().is_empty() {
        return Err(Error::new(format!(
            "Bad input to {command}, too many arguments"
        )));
    }
    triples
        .map(|triple| {
            if triple[0].is_empty() {
                return Err(Error::new(format!("{command} names can not be blank")));
            }
            Ok(KeyValue {
                key: triple[0].clone(),
                value: triple[1].clone(),
                legacy: triple[2].is_empty(),
            })
        })
        .collect()
}

fn parse_env(req: &mut Request<'_>) -> Result<Instruction> {
    req.parse_flags()?;
    let vars = key_values(&req.args, "ENV")?;
    Ok(Instruction::Env(EnvInstruction {
        origin: req.origin(),
        vars,
    }))
}

fn parse_label(req: &mut Request<'_>) -> Result<Instruction> {
    req.parse_flags()?;
    let labels = key_values(&req.args, "LABEL")?;
    Ok(Instruction::Label(LabelInstruction {
        origin: req.origin(),
        labels,
    }))
}

fn parse_maintainer(req: &mut Request<'_>) -> Result<Instruction> {
    if req.args.len() != 1 {
        return Err(exactly_one_argument("MAINTAINER"));
    }
    req.parse_flags()?;
    Ok(Instruction::Maintainer(MaintainerInstruction {
        origin: req.origin(),
        maintainer: req.args[0].clone(),
    }))
}

/// The heredoc an argument opens, if any (the reference's
/// `MustParseHeredoc`: a malformed one is no heredoc).
fn heredoc_word(arg: &str) -> Option<Heredoc> {
    parse_heredoc(arg).ok().flatten()
}

/// Splits COPY/ADD arguments into sources (paths or heredocs) and dest.
fn sources_and_dest(req: &Request<'_>, command: &str) -> Result<SourcesAndDest> {
    let (dest, sources) = req
        .args
        .split_last()
        .ok_or_else(|| no_destination(command))?;
    if heredoc_word(dest).is_some() {
        return Err(Error::new(format!(
            "{command} cannot accept a heredoc as a destination"
        )));
    }
    let mut files = SourcesAndDest {
        dest: dest.clone(),
        ..SourcesAndDest::default()
    };
    for source in sources {
        match heredoc_word(source) {
            Some(doc) => {
                let body = req
                    .node
                    .heredocs
                    .iter()
                    .find(|h| h.name == doc.name)
                    .map_or("", |h| h.content.as_str());
                let data = if doc.chomp {
                    chomp_heredoc_content(body)
                } else {
                    body.to_string()
                };
                files.source_contents.push(SourceContent {
                    path: doc.name,
                    data,
                    expand: doc.expand,
                });
            }
            None => files.source_paths.push(source.clone()),
        }
    }
    Ok(files)
}

fn parse_add(req: &mut Request<'_>) -> Result<Instruction> {
    if req.args.len() < 2 {
        return Err(no_destination("ADD"));
    }
    req.flags
        .add_string("chown", "")
        .add_string("chmod", "")
        .add_bool("link", false)
        .add_bool("keep-git-dir", false)
        .add_string("checksum", "")
        .add_bool("unpack", false)
        .add_strings("exclude");
    req.parse_flags()?;
    let files = sources_and_dest(req, "ADD")?;
    let optional = |name: &str| req.flags.is_used(name).then(|| req.flags.bool(name));
    Ok(Instruction::Add(AddInstruction {
        origin: req.origin(),
        files,
        chown: req.flags.string("chown").to_string(),
        chmod: req.flags.string("chmod").to_string(),
        link: req.flags.bool("link"),
        exclude: req.flags.strings("exclude").to_vec(),
        keep_git_dir: optional("keep-git-dir"),
        checksum: req.flags.string("checksum").to_string(),
        unpack: optional("unpack"),
    }))
}

fn parse_copy(req: &mut Request<'_>) -> Result<Instruction> {
    if req.args.len() < 2 {
        return Err(no_destination("COPY"));
    }
    req.flags
        .add_string("chown", "")
        .add_string("from", "")
        .add_string("chmod", "")
        .add_bool("link", false)
        .add_strings("exclude")
        .add_bool("parents", false);
    req.parse_flags()?;
    let files = sources_and_dest(req, "COPY")?;
    Ok(Instruction::Copy(CopyInstruction {
        origin: req.origin(),
        files,
        from: req.flags.string("from").to_string(),
        chown: req.flags.string("chown").to_string(),
        chmod: req.flags.string("chmod").to_string(),
        link: req.flags.bool("link"),
        exclude: req.flags.strings("exclude").to_vec(),
        parents: req.flags.bool("parents"),
    }))
}

/// `^[a-z][a-z0-9-_.]*$`
fn is_valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

fn parse_from(req: &mut Request<'_>) -> Result<FromInstruction> {
    let args = &req.args;
    let (name, name_as_written) = if args.len() == 3 && args[1].eq_ignore_ascii_case("as") {
        let lowered = args[2].to_lowercase();
        if !is_valid_stage_name(&lowered) {
            return Err(Error::new(format!(
                "invalid name for build stage: {}, name can't start with a number or contain symbols",
                go_quote(&args[2])
            )));
        }
        (Some(lowered), Some(args[2].clone()))
    } else if args.len() != 1 {
        return Err(Error::new("FROM requires either one or three arguments"));
    } else {
        (None, None)
    };
    req.flags.add_string("platform", "");
    req.parse_flags()?;
    let platform = Some(req.flags.string("platform").to_string()).filter(|p| !p.is_empty());
    let doc_comment = name
        .as_deref()
        .map(|n| doc_comment(&req.node.prev_comments, n))
        .unwrap_or_default();
    Ok(FromInstruction {
        origin: req.origin(),
        base_name: req.args[0].clone(),
        name,
        name_as_written,
        platform,
        doc_comment,
    })
}

/// Strips `^\s*ONBUILD\s*` (any case) from the start of `original`.
fn strip_onbuild_keyword(original: &str) -> &str {
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\u{c}' | '\r');
    let rest = original.trim_start_matches(is_space);
    match rest.get(..7) {
        Some(word) if word.eq_ignore_ascii_case("onbuild") => {
            rest[7..].trim_start_matches(is_space)
        }
        _ => original,
    }
}

fn parse_onbuild(req: &mut Request<'_>) -> Result<Instruction> {
    if req.args.is_empty() {
        return Err(at_least_one_argument("ONBUILD"));
    }
    req.parse_flags()?;
    let trigger = req.args[0].trim().to_uppercase();
    match trigger.as_str() {
        "ONBUILD" => {
            return Err(Error::new(
                "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
            ))
        }
        "MAINTAINER" | "FROM" => {
            return Err(Error::new(format!(
                "{trigger} isn't allowed as an ONBUILD trigger"
            )))
        }
        _ => {}
    }
    let mut expression = strip_onbuild_keyword(&req.node.original).to_string();
    let heredocs = match &req.node.nested {
        Some(trigger) if req.node.heredocs.is_empty() => &trigger.heredocs,
        _ => &req.node.heredocs,
    };
    for heredoc in heredocs {
        expression.push('\n');
        expression.push_str(&heredoc.content);
        expression.push_str(&heredoc.name);
    }
    Ok(Instruction::Onbuild(OnbuildInstruction {
        origin: req.origin(),
        expression,
    }))
}

fn parse_workdir(req: &mut Request<'_>) -> Result<Instruction> {
    if req.args.len() != 1 {
        return Err(exactly_one_argument("WORKDIR"));
    }
    req.parse_flags()?;
    Ok(Instruction::Workdir(WorkdirInstruction {
        origin: req.origin(),
        path: req.args[0].clone(),
    }))
}

fn command_line(req: &Request<'_>) -> CommandLine {
    CommandLine {
        args: req.command_args(&req.args),
        files: req
            .node
            .heredocs
            .iter()
            .map(|h| ShellInlineFile {
                name: h.name.clone(),
                data: h.content.clone(),
                chomp: h.chomp,
            })
            .collect(),
        prepend_shell: !req.node.json,
    }
}

fn parse_run(req: &mut Request<'_>) -> Result<Instruction> {
    req.flags
        .add_strings("device")
        .add_strings("mount")
        .add_string("network", NetworkMode::Default.as_str())
        .add_string("security", SecurityMode::Sandbox.as_str());
    req.parse_flags()?;
    let flags_used = req.flags.used();
    let command = command_line(req);

    let devices = req
        .flags
        .strings("device")
        .iter()
        .map(|spec| parse_device(spec))
        .collect::<Result<Vec<_>>>()?;
    let mount_specs = req.flags.strings("mount").to_vec();
    let mounts = mount_specs
        .iter()
        .map(|spec| parse_mount(spec, None))
        .collect::<Result<Vec<_>>>()?;
    let network = match req.flags.string("network") {
        "default" => NetworkMode::Default,
        "none" => NetworkMode::None,
        "host" => NetworkMode::Host,
        other => {
            return Err(Error::new(format!(
                "invalid network mode {}",
                go_quote(other)
            )))
        }
    };
    let security = match req.flags.string("security") {
        "sandbox" => SecurityMode::Sandbox,
        "insecure" => SecurityMode::Insecure,
        other => {
            return Err(Error::new(format!(
                "security {} is not valid",
                go_quote(other)
            )))
        }
    };
    Ok(Instruction::Run(RunInstruction {
        origin: req.origin(),
        command,
        mount_specs,
        mounts,
        network,
        security,
        devices,
        flags_used,
    }))
}

fn parse_cmd(req: &mut Request<'_>) -> Result<Instruction> {
    req.parse_flags()?;
    Ok(Instruction::Cmd(CmdInstruction {
        origin: req.origin(),
        command: command_line(req),
    }))
}

fn parse_entrypoint(req: &mut Request<'_>) -> Result<Instruction> {
    req.parse_flags()?;
    Ok(Instruction::Entrypoint(EntrypointInstruction {
        origin: req.origin(),
        command: command_line(req),
    }))
}

/// A HEALTHCHECK duration flag: empty or zero means unset; otherwise at
/// least 1ms.
fn interval(name: &str, value: &str) -> Result<Duration> {
    if value.is_empty() {
        return Ok(Duration::ZERO);
    }
    let nanos = parse_go_duration(value).map_err(Error::new)?;
    if nanos == 0 {
        return Ok(Duration::ZERO);
    }
    if nanos < 1_000_000 {
        return Err(Error::new(format!(
            "Interval {} cannot be less than 1ms",
            go_quote(name)
        )));
    }
    Ok(Duration::from_nanos(nanos.unsigned_abs()))
}

fn parse_healthcheck(req: &mut Request<'_>) -> Result<Instruction> {
    let Some(first) = req.args.first() else {
        return Err(at_least_one_argument("HEALTHCHECK"));
    };
    let kind = first.to_uppercase();
    let rest = req.args[1..].to_vec();
    if kind == "NONE" {
        if !rest.is_empty() {
            return Err(Error::new("HEALTHCHECK NONE takes no arguments"));
        }
        return Ok(Instruction::Healthcheck(HealthcheckInstruction {
            origin: req.origin(),
            health: Healthcheck {
                test: vec![kind],
                ..Healthcheck::default()
            },
        }));
    }

    req.flags
        .add_string("interval", "")
        .add_string("timeout", "")
        .add_string("start-period", "")
        .add_string("start-interval", "")
        .add_string("retries", "");
    req.parse_flags()?;

    let mut health = Healthcheck::default();
    if kind != "CMD" {
        return Err(Error::new(format!(
            "Unknown type {} in HEALTHCHECK (try CMD)",
            go_quote(&kind)
        )));
    }
    let command = req.command_args(&rest);
    if command.is_empty() {
        return Err(Error::new("Missing command after HEALTHCHECK CMD"));
    }
    let test_kind = if req.node.json { "CMD" } else { "CMD-SHELL" };
    health.test = std::iter::once(test_kind.to_string())
        .chain(command)
        .collect();

    health.interval = interval("interval", req.flags.string("interval"))?;
    health.timeout = interval("timeout", req.flags.string("timeout"))?;
    health.start_period = interval("start-period", req.flags.string("start-period"))?;
    health.start_interval = interval("start-interval", req.flags.string("start-interval"))?;
    let retries = req.flags.string("retries");
    if !retries.is_empty() {
        let n = parse_go_i32(retries).map_err(|e| Error::new(go_parse_int_message(retries, e)))?;
        health.retries = u32::try_from(n)
            .map_err(|_| Error::new(format!("--retries cannot be negative ({n})")))?;
    }
    Ok(Instruction::Healthcheck(HealthcheckInstruction {
        origin: req.origin(),
        health,
    }))
}

fn parse_expose(req: &mut Request<'_>) -> Result<Instruction> {
    if req.args.is_empty() {
        return Err(at_least_one_argument("EXPOSE"));
    }
    req.parse_flags()?;
    let mut ports = req.args.clone();
    ports.sort();
    Ok(Instruction::Expose(ExposeInstruction {
        origin: req.origin(),
        ports,
    }))
}

fn parse_user(req: &mut Request<'_>) -> Result<Instruction> {
    if req.args.len() != 1 {
        return Err(exactly_one_argument("USER"));
    }
    req.parse_flags()?;
    Ok(Instruction::User(UserInstruction {
        origin: req.origin(),
        user: req.args[0].clone(),
    }))
}

fn parse_volume(req: &mut Request<'_>) -> Result<Instruction> {
    if req.args.is_empty() {
        return Err(at_least_one_argument("VOLUME"));
    }
    req.parse_flags()?;
    let volumes = req
        .args
        .iter()
        .map(|v| {
            let v = v.trim();
            if v.is_empty() {
                Err(Error::new("VOLUME specified can not be an empty string"))
            } else {
                Ok(v.to_string())
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Instruction::Volume(VolumeInstruction {
        origin: req.origin(),
        volumes,
    }))
}

/// STOPSIGNAL never reads its flags (the reference ignores them).
fn parse_stopsignal(req: &Request<'_>) -> Result<Instruction> {
    if req.args.len() != 1 {
        return Err(exactly_one_argument("STOPSIGNAL"));
    }
    Ok(Instruction::StopSignal(StopSignalInstruction {
        origin: req.origin(),
        signal: req.args[0].clone(),
    }))
}

/// ARG never reads its flags (the reference ignores them). Words are kept
/// as written: `ARG a="x y"` has the default `"x y"`, quotes included.
fn parse_arg(req: &Request<'_>) -> Result<ArgInstruction> {
    if req.args.is_empty() {
        return Err(at_least_one_argument("ARG"));
    }
    let args = req
        .args
        .iter()
        .map(|word| {
            let (key, value) = match word.split_once('=') {
                Some(("", _)) => return Err(Error::new("ARG names can not be blank")),
                Some((key, value)) => (key.to_string(), Some(value.to_string())),
                None => (word.clone(), None),
            };
            let doc_comment = doc_comment(&req.node.prev_comments, &key);
            Ok(ArgDef {
                key,
                value,
                doc_comment,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ArgInstruction {
        origin: req.origin(),
        args,
    })
}

fn parse_shell(req: &mut Request<'_>) -> Result<Instruction> {
    req.parse_flags()?;
    let shell = req.command_args(&req.args);
    if shell.is_empty() {
        return Err(at_least_one_argument("SHELL"));
    }
    if !req.node.json {
        return Err(Error::new(
            "SHELL requires the arguments to be in JSON form",
        ));
    }
    Ok(Instruction::Shell(ShellInstruction {
        origin: req.origin(),
        shell,
    }))
}

/// The description in a comment `# <name> <description>` above a
/// definition, or "".
fn doc_comment(comments: &[String], name: &str) -> String {
    if name.is_empty() {
        return String::new();
    }
    comments
        .iter()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_default()
        .to_string()
}

/// `StageNameCasing` and `FromAsCasing`, checked on the raw arguments
/// before FROM is validated (so they fire even when it then fails).
fn check_from_casing(req: &Request<'_>, checker: &mut Checker<'_>) {
    let args = &req.args;
    let range = req.node.range();
    if args.len() == 3 && args[2] != args[2].to_lowercase() {
        checker.run(
            STAGE_NAME_CASING,
            format!("Stage name '{}' should be lowercase", args[2]),
            range,
        );
    }
    if args.len() >= 3 {
        let keyword = &req.node.keyword;
        let from_lower = *keyword == keyword.to_lowercase();
        let from_upper = *keyword == keyword.to_uppercase();
        let as_word = &args[1];
        let matches = if from_lower {
            *as_word == as_word.to_lowercase()
        } else if from_upper {
            *as_word == as_word.to_uppercase()
        } else {
            true // mixed-case FROM: ConsistentInstructionCasing's business
        };
        if !matches {
            checker.run(
                FROM_AS_CASING,
                format!("'{as_word}' and '{keyword}' keywords' casing do not match"),
                range,
            );
        }
    }
}

/// `InvalidDefinitionDescription` (experimental): the last comment above a
/// FROM/ARG must start with the defined name.
fn check_definition_description(
    instruction: &str,
    keys: &[String],
    node: &Node,
    checker: &mut Checker<'_>,
) {
    let (Some(last), Some(first_key)) = (node.prev_comments.last(), keys.first()) else {
        return;
    };
    let first_word = last.split(' ').next().unwrap_or("");
    if keys.iter().any(|k| k == first_word) {
        return;
    }
    let example = if keys.len() > 1 {
        "<arg_key>"
    } else {
        first_key
    };
    checker.run(
        INVALID_DEFINITION_DESCRIPTION,
        format!("Comment for {instruction} should follow the format: `# {example} <description>`"),
        node.range(),
    );
}
