//! The typed instructions and what each one keeps from its node.
//!
//! Values are kept as written (quotes of ENV/LABEL/ARG values included):
//! variables are expanded later, when the stage is lowered and the ARG/ENV
//! in scope are known, through [`Instruction::expand`] and friends, which
//! touch exactly the fields the reference expands.

use std::time::Duration;

use super::mounts::{parse_mount, Device, Mount};
use crate::{Result, SourceRange};

/// A word expander: takes a word as written, returns it expanded (the
/// lowering passes `shell::Lex::process_word` over the stage's variables).
pub type Expander<'a> = dyn FnMut(&str) -> Result<String> + 'a;

/// An expander that also splits into words (`shell::Lex::process_words`).
pub type WordsExpander<'a> = dyn FnMut(&str) -> Result<Vec<String>> + 'a;

/// Where an instruction comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The keyword as written (`RUN`, `run`): lints quote it back.
    pub keyword: String,
    /// The instruction's text (the node's logical line, surrounding
    /// whitespace trimmed), as the reference prints it in progress output.
    pub original: String,
    pub range: SourceRange,
    /// Comment lines directly above the instruction.
    pub comments: Vec<String>,
}

/// One `key=value` of ENV or LABEL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
    /// Written in the legacy `ENV key value` form (no `=`); the lowering
    /// raises `LegacyKeyValueFormat` for it.
    pub legacy: bool,
}

/// `ENV key=value ...` / `ENV key value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvInstruction {
    pub origin: Origin,
    pub vars: Vec<KeyValue>,
}

/// `LABEL key=value ...` / `LABEL key value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelInstruction {
    pub origin: Origin,
    pub labels: Vec<KeyValue>,
}

/// `MAINTAINER name` (deprecated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintainerInstruction {
    pub origin: Origin,
    pub maintainer: String,
}

/// A COPY/ADD source given inline as a heredoc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceContent {
    /// The file name: the heredoc delimiter.
    pub path: String,
    /// The body (leading tabs already removed for `<<-`).
    pub data: String,
    /// The delimiter was unquoted: variables in the body are expanded
    /// (see [`Instruction::expand_heredocs`]).
    pub expand: bool,
}

/// Sources and destination of COPY/ADD.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourcesAndDest {
    pub dest: String,
    /// Paths, URLs or git refs, in order.
    pub source_paths: Vec<String>,
    /// Heredoc sources, in order.
    pub source_contents: Vec<SourceContent>,
}

impl SourcesAndDest {
    fn expand(&mut self, expand: &mut Expander<'_>) -> Result<()> {
        expand_each(&mut self.source_paths, expand)?;
        self.dest = expand(&self.dest)?;
        Ok(())
    }

    fn expand_heredocs(&mut self, expand: &mut Expander<'_>) -> Result<()> {
        for content in self.source_contents.iter_mut().filter(|c| c.expand) {
            content.data = expand(&content.data)?;
        }
        Ok(())
    }
}

/// `ADD [flags] src... dest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddInstruction {
    pub origin: Origin,
    pub files: SourcesAndDest,
    /// `--chown=` (empty: not given).
    pub chown: String,
    /// `--chmod=` (empty: not given); validated by the lowering.
    pub chmod: String,
    pub link: bool,
    /// `--exclude=` patterns (repeatable), never expanded.
    pub exclude: Vec<String>,
    /// `--keep-git-dir`, `None` when not written.
    pub keep_git_dir: Option<bool>,
    /// `--checksum=` (empty: not given).
    pub checksum: String,
    /// `--unpack`, `None` when not written.
    pub unpack: Option<bool>,
}

/// `COPY [flags] src... dest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyInstruction {
    pub origin: Origin,
    pub files: SourcesAndDest,
    /// `--from=` stage name, index or image (empty: the build context).
    /// Never expanded: the lowering rejects a value with variables.
    pub from: String,
    pub chown: String,
    pub chmod: String,
    pub link: bool,
    pub exclude: Vec<String>,
    pub parents: bool,
}

/// `ONBUILD <instruction>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnbuildInstruction {
    pub origin: Origin,
    /// The trigger as stored in the image config: the text after
    /// `ONBUILD`, with heredoc bodies and terminators appended.
    pub expression: String,
}

/// `WORKDIR path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkdirInstruction {
    pub origin: Origin,
    pub path: String,
}

/// A heredoc attached to RUN (a script body or a file the command reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellInlineFile {
    pub name: String,
    /// The body as written (tabs not yet removed).
    pub data: String,
    /// `<<-`: remove leading tabs before use.
    pub chomp: bool,
}

/// The command of RUN/CMD/ENTRYPOINT: exec form (`["a", "b"]`) or shell
/// form (one string, run through the stage's SHELL).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommandLine {
    /// Exec form: the JSON elements; shell form: one string (empty when
    /// nothing was written).
    pub args: Vec<String>,
    /// RUN's heredocs.
    pub files: Vec<ShellInlineFile>,
    /// Shell form: prepend the stage's SHELL (default `/bin/sh -c`).
    pub prepend_shell: bool,
}

/// `RUN --network=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkMode {
    #[default]
    Default,
    None,
    Host,
}

impl NetworkMode {
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkMode::Default => "default",
            NetworkMode::None => "none",
            NetworkMode::Host => "host",
        }
    }
}

/// `RUN --security=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityMode {
    #[default]
    Sandbox,
    Insecure,
}

impl SecurityMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityMode::Sandbox => "sandbox",
            SecurityMode::Insecure => "insecure",
        }
    }
}

/// `RUN [flags] command`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInstruction {
    pub origin: Origin,
    pub command: CommandLine,
    /// The `--mount=` values as written.
    pub mount_specs: Vec<String>,
    /// The mounts. Until [`Instruction::expand`] ran, only `from` is read
    /// (all else default); afterwards every key is, as in the reference.
    pub mounts: Vec<Mount>,
    pub network: NetworkMode,
    pub security: SecurityMode,
    /// `--device=`: parsed here; the reference lowers it only in its
    /// labs channel and otherwise fails with "device feature is only
    /// supported in Dockerfile frontend 1.14.0-labs or later".
    pub devices: Vec<Device>,
    /// Names of the flags written, sorted (`["mount", "network"]`).
    pub flags_used: Vec<String>,
}

/// `CMD command`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdInstruction {
    pub origin: Origin,
    pub command: CommandLine,
}

/// `ENTRYPOINT command`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntrypointInstruction {
    pub origin: Origin,
    pub command: CommandLine,
}

/// The image config's health check (Docker's `HealthcheckConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", args...]` or `["CMD-SHELL", command]`.
    pub test: Vec<String>,
    /// Zero: inherit / the runtime's default.
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub start_interval: Duration,
    /// Zero: inherit.
    pub retries: u32,
}

/// `HEALTHCHECK NONE` / `HEALTHCHECK [flags] CMD command`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthcheckInstruction {
    pub origin: Origin,
    pub health: Healthcheck,
}

/// `EXPOSE port[/proto]...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExposeInstruction {
    pub origin: Origin,
    /// As written, sorted (byte order); validated by the lowering.
    pub ports: Vec<String>,
}

impl ExposeInstruction {
    /// Expands and splits each port word (the reference uses
    /// `ProcessWords` here: `EXPOSE $PORTS` may yield several ports).
    pub fn expand_ports(&mut self, expand: &mut WordsExpander<'_>) -> Result<()> {
        let mut ports = Vec::with_capacity(self.ports.len());
        for port in &self.ports {
            ports.extend(expand(port).map_err(|e| e.or_at(self.origin.range))?);
        }
        self.ports = ports;
        Ok(())
    }
}

/// `USER user[:group]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInstruction {
    pub origin: Origin,
    pub user: String,
}

/// `VOLUME path...` / `VOLUME ["path", ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeInstruction {
    pub origin: Origin,
    pub volumes: Vec<String>,
}

/// `STOPSIGNAL signal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopSignalInstruction {
    pub origin: Origin,
    pub signal: String,
}

/// One name of an ARG, with its default if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDef {
    pub key: String,
    /// The default as written (`Some("")` for `ARG a=`).
    pub value: Option<String>,
    /// From a comment `# <key> <description>` above the ARG.
    pub doc_comment: String,
}

/// `ARG name[=default] ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgInstruction {
    pub origin: Origin,
    pub args: Vec<ArgDef>,
}

impl ArgInstruction {
    /// Expands keys and defaults (the reference's `ArgCommand.Expand`).
    /// The reference's lowering does *not* call it: it expands only the
    /// defaults, and only when no build arg overrides them.
    pub fn expand(&mut self, expand: &mut Expander<'_>) -> Result<()> {
        for arg in &mut self.args {
            arg.key = expand(&arg.key)?;
            if let Some(value) = &arg.value {
                arg.value = Some(expand(value)?);
            }
        }
        Ok(())
    }
}

/// `SHELL ["executable", "params"...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellInstruction {
    pub origin: Origin,
    pub shell: Vec<String>,
}

/// `FROM [--platform=p] image [AS name]`: starts a [`Stage`](super::Stage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromInstruction {
    pub origin: Origin,
    /// The image or stage, unexpanded (`${BASE}:latest`).
    pub base_name: String,
    /// Stage name, lower-cased.
    pub name: Option<String>,
    /// Stage name as written.
    pub name_as_written: Option<String>,
    /// `--platform=`, unexpanded (`None` when absent or empty).
    pub platform: Option<String>,
    /// From a comment `# <name> <description>` above FROM.
    pub doc_comment: String,
}

/// A typed Dockerfile instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    Add(AddInstruction),
    Arg(ArgInstruction),
    Cmd(CmdInstruction),
    Copy(CopyInstruction),
    Entrypoint(EntrypointInstruction),
    Env(EnvInstruction),
    Expose(ExposeInstruction),
    From(FromInstruction),
    Healthcheck(HealthcheckInstruction),
    Label(LabelInstruction),
    Maintainer(MaintainerInstruction),
    Onbuild(OnbuildInstruction),
    Run(RunInstruction),
    Shell(ShellInstruction),
    StopSignal(StopSignalInstruction),
    User(UserInstruction),
    Volume(VolumeInstruction),
    Workdir(WorkdirInstruction),
}

impl Instruction {
    pub fn origin(&self) -> &Origin {
        match self {
            Instruction::Add(c) => &c.origin,
            Instruction::Arg(c) => &c.origin,
            Instruction::Cmd(c) => &c.origin,
            Instruction::Copy(c) => &c.origin,
            Instruction::Entrypoint(c) => &c.origin,
            Instruction::Env(c) => &c.origin,
            Instruction::Expose(c) => &c.origin,
            Instruction::From(c) => &c.origin,
            Instruction::Healthcheck(c) => &c.origin,
            Instruction::Label(c) => &c.origin,
            Instruction::Maintainer(c) => &c.origin,
            Instruction::Onbuild(c) => &c.origin,
            Instruction::Run(c) => &c.origin,
            Instruction::Shell(c) => &c.origin,
            Instruction::StopSignal(c) => &c.origin,
            Instruction::User(c) => &c.origin,
            Instruction::Volume(c) => &c.origin,
            Instruction::Workdir(c) => &c.origin,
        }
    }

    /// Lower-case instruction name (`run`).
    pub fn name(&self) -> &'static str {
        match self {
            Instruction::Add(_) => "add",
            Instruction::Arg(_) => "arg",
            Instruction::Cmd(_) => "cmd",
            Instruction::Copy(_) => "copy",
            Instruction::Entrypoint(_) => "entrypoint",
            Instruction::Env(_) => "env",
            Instruction::Expose(_) => "expose",
            Instruction::From(_) => "from",
            Instruction::Healthcheck(_) => "healthcheck",
            Instruction::Label(_) => "label",
            Instruction::Maintainer(_) => "maintainer",
            Instruction::Onbuild(_) => "onbuild",
            Instruction::Run(_) => "run",
            Instruction::Shell(_) => "shell",
            Instruction::StopSignal(_) => "stopsignal",
            Instruction::User(_) => "user",
            Instruction::Volume(_) => "volume",
            Instruction::Workdir(_) => "workdir",
        }
    }

    /// The keyword as written.
    pub fn keyword(&self) -> &str {
        &self.origin().keyword
    }

    pub fn range(&self) -> SourceRange {
        self.origin().range
    }

    /// The instruction's text, trimmed.
    pub fn original(&self) -> &str {
        &self.origin().original
    }

    /// Expands variables in the fields the reference expands when it
    /// dispatches the instruction, with `ProcessWord` semantics (one word
    /// in, one string out):
    ///
    /// - ENV, LABEL: every key and value;
    /// - ADD: `--chown`, `--chmod`, `--checksum`, source paths, dest;
    /// - COPY: `--chown`, `--chmod`, source paths, dest (not `--from`,
    ///   not `--exclude`);
    /// - WORKDIR, USER, STOPSIGNAL: their value; VOLUME: each path;
    /// - RUN: every `--mount` value, after which the mounts are re-read
    ///   with all their keys (and may fail with the mount errors).
    ///
    /// Everything else is left alone: ARG (the lowering expands defaults
    /// itself), EXPOSE ([`ExposeInstruction::expand_ports`], which splits),
    /// FROM (base name and platform are expanded with the global ARGs),
    /// heredoc bodies ([`Instruction::expand_heredocs`]), and the command
    /// text of RUN/CMD/ENTRYPOINT/HEALTHCHECK/SHELL, which the shell sees
    /// verbatim. Errors get the instruction's range.
    pub fn expand(&mut self, expand: &mut Expander<'_>) -> Result<()> {
        let range = self.range();
        self.expand_fields(expand).map_err(|e| e.or_at(range))
    }

    fn expand_fields(&mut self, expand: &mut Expander<'_>) -> Result<()> {
        match self {
            Instruction::Env(c) => expand_pairs(&mut c.vars, expand),
            Instruction::Label(c) => expand_pairs(&mut c.labels, expand),
            Instruction::Add(c) => {
                c.chown = expand(&c.chown)?;
                c.chmod = expand(&c.chmod)?;
                c.checksum = expand(&c.checksum)?;
                c.files.expand(expand)
            }
            Instruction::Copy(c) => {
                c.chown = expand(&c.chown)?;
                c.chmod = expand(&c.chmod)?;
                c.files.expand(expand)
            }
            Instruction::Workdir(c) => expand_one(&mut c.path, expand),
            Instruction::User(c) => expand_one(&mut c.user, expand),
            Instruction::StopSignal(c) => expand_one(&mut c.signal, expand),
            Instruction::Volume(c) => expand_each(&mut c.volumes, expand),
            Instruction::Run(c) => {
                let mut mounts = Vec::with_capacity(c.mount_specs.len());
                for spec in &c.mount_specs {
                    mounts.push(parse_mount(spec, Some(&mut *expand))?);
                }
                c.mounts = mounts;
                Ok(())
            }
            Instruction::Arg(_)
            | Instruction::Cmd(_)
            | Instruction::Entrypoint(_)
            | Instruction::Expose(_)
            | Instruction::From(_)
            | Instruction::Healthcheck(_)
            | Instruction::Maintainer(_)
            | Instruction::Onbuild(_)
            | Instruction::Shell(_) => Ok(()),
        }
    }

    /// Expands the bodies of COPY/ADD heredoc sources whose delimiter was
    /// unquoted (the reference's `ExpandRaw`: it runs after
    /// [`Instruction::expand`], with a lexer that keeps quotes —
    /// `skip_process_quotes` — and a backslash escape whatever the
    /// Dockerfile's escape is). No-op for everything else.
    pub fn expand_heredocs(&mut self, expand: &mut Expander<'_>) -> Result<()> {
        let range = self.range();
        let files = match self {
            Instruction::Add(c) => &mut c.files,
            Instruction::Copy(c) => &mut c.files,
            _ => return Ok(()),
        };
        files.expand_heredocs(expand).map_err(|e| e.or_at(range))
    }
}

fn expand_one(value: &mut String, expand: &mut Expander<'_>) -> Result<()> {
    *value = expand(value)?;
    Ok(())
}

fn expand_each(values: &mut [String], expand: &mut Expander<'_>) -> Result<()> {
    for value in values {
        *value = expand(value)?;
    }
    Ok(())
}

fn expand_pairs(pairs: &mut [KeyValue], expand: &mut Expander<'_>) -> Result<()> {
    for pair in pairs {
        pair.key = expand(&pair.key)?;
        pair.value = expand(&pair.value)?;
    }
    Ok(())
}
