//! Dispatching one stage: its starting state, then each instruction with
//! its words expanded against the ARG/ENV in scope.

use std::collections::BTreeSet;

use super::graph::{Lowering, Step};
use super::stage::StageState;
use super::{args, paths};
use crate::definition::{self, Chown, FileAction, FileOp, Mkdir, Op, OpMeta};
use crate::golang::go_quote;
use crate::instructions::checks::Checker;
use crate::instructions::{self, ArgInstruction, Dockerfile, Instruction, KeyValue};
use crate::shell::{Env, Lex};
use crate::{suggest, Result, SourceRange};

impl Lowering<'_> {
    pub(super) fn dispatch_stage(&mut self, i: usize) -> Result<()> {
        let mut st = self.initial_state(i)?;
        // Steps are consumed: ONBUILD triggers and dependencies were read
        // from them before any stage was dispatched.
        for step in std::mem::take(&mut self.stages[i].steps) {
            let range = step.instruction.range();
            self.dispatch(&mut st, step).map_err(|e| e.or_at(range))?;
        }
        self.stages[i].state = Some(st);
        Ok(())
    }

    /// Whether stage `user` is the only one left that reads stage `b`
    /// (as its base), so `b`'s state may be moved into it.
    fn last_user_of(&self, b: usize, user: usize) -> bool {
        let reads = |j: usize| {
            let s = &self.stages[j];
            s.base == Some(b) || s.deps.iter().any(|&(d, _)| d == b)
        };
        let target_is_b = self.target == Some(b);
        !target_is_b
            && !self.stages[user].deps.iter().any(|&(d, _)| d == b)
            && (0..self.stages.len())
                .all(|j| j == user || self.stages[j].state.is_some() || !reads(j))
    }

    /// The state a stage starts from: its base stage's final state, or
    /// the base image's (or scratch's) config.
    fn initial_state(&mut self, i: usize) -> Result<StageState> {
        let node = &self.stages[i];
        let display = node.display.clone();
        let mut st = match node.base {
            Some(b) => {
                // The base's state is moved, not copied, when nothing else
                // will read it (a chain of stages stays linear).
                let base = if self.last_user_of(b, i) {
                    self.stages[b].state.take()
                } else {
                    self.stages[b].state.clone()
                };
                let mut st =
                    base.expect("a base stage is defined, so dispatched, before its users");
                st.display_name = display;
                st.image.config.on_build = None;
                st.cmd_seen = None;
                st.entrypoint_seen = None;
                st.healthcheck_seen = None;
                st
            }
            None => {
                let (root, image) = node
                    .base_image
                    .clone()
                    .unwrap_or_else(|| (None, definition::Image::default()));
                let platform = node
                    .platform
                    .clone()
                    .unwrap_or_else(|| self.target_platform.clone());
                StageState::new(display, image, root, platform)
            }
        };
        let node = &self.stages[i];
        let counted = node.steps.iter().filter(|s| {
            matches!(
                s.instruction,
                Instruction::Add(_)
                    | Instruction::Copy(_)
                    | Instruction::Run(_)
                    | Instruction::Workdir(_)
            )
        });
        let from_image = node.base.is_none() && node.base_name != "scratch";
        st.step_total = counted.count() + usize::from(from_image);
        st.step_index = usize::from(from_image);
        st.epoch = self.epoch;
        st.ignore_cache = self.opts.no_cache
            || node.name.as_ref().is_some_and(|n| {
                self.opts
                    .no_cache_filter
                    .iter()
                    .any(|f| f.eq_ignore_ascii_case(n))
            });
        if from_image {
            if let Some(root) = st.root {
                self.name_base_op(root, &st, i);
            }
        }
        Ok(st)
    }

    /// Progress name of the FROM op: `[stage 1/N] FROM ref`.
    fn name_base_op(&mut self, root: definition::OpId, st: &StageState, i: usize) {
        let width = st.step_total.to_string().len();
        let stage = if st.display_name.is_empty() {
            String::new()
        } else {
            format!("{} ", st.display_name)
        };
        let name = format!(
            "[{stage}{:>width$}/{}] FROM {}",
            1, st.step_total, self.stages[i].base_name
        );
        self.graph.set_name(root, name, Some(self.stages[i].range));
    }

    fn dispatch(&mut self, st: &mut StageState, step: Step) -> Result<()> {
        // The rules raised for this instruction follow a `# check=`
        // comment above it (BuildKit's WithMergedConfigFromComments).
        self.checks_for(&step.instruction.origin().comments);
        let result = self.dispatch_checked(st, step);
        self.file_checks();
        result
    }

    fn dispatch_checked(&mut self, st: &mut StageState, mut step: Step) -> Result<()> {
        let ins = &mut step.instruction;
        let range = ins.range();
        if !matches!(ins, Instruction::Arg(_)) {
            // UndefinedVar is reported per expanded word, as BuildKit
            // does: a variable used in two words is reported twice.
            let lex = self.lex;
            let mut unmatched: Vec<BTreeSet<String>> = Vec::new();
            let expanded = ins.expand(&mut |word| {
                let r = lex.process_word(word, &st.env)?;
                if !r.unmatched.is_empty() {
                    unmatched.push(r.unmatched);
                }
                Ok(r.result)
            });
            let expanded = expanded.and_then(|()| {
                let raw = Lex {
                    skip_process_quotes: true,
                    ..Lex::new('\\')
                };
                ins.expand_heredocs(&mut |word| {
                    let r = raw.process_word(word, &st.env)?;
                    if !r.unmatched.is_empty() {
                        unmatched.push(r.unmatched);
                    }
                    Ok(r.result)
                })
            });
            for word in unmatched {
                self.report_undefined(st, word, range);
            }
            expanded?;
        }
        if let Instruction::Expose(c) = ins {
            let lex = self.lex;
            c.expand_ports(&mut |word| lex.process_words(word, &st.env))?;
        }
        let keyword = ins.keyword().to_string();
        let step = &step;
        match &step.instruction {
            Instruction::Env(c) => {
                self.lint_pairs(&c.vars, &c.origin.keyword, "ENV", range);
                st.env(&pairs(&c.vars));
            }
            Instruction::Label(c) => {
                self.lint_legacy(&c.labels, &c.origin.keyword, range);
                st.label(&pairs(&c.labels));
            }
            Instruction::Maintainer(c) => st.maintainer(&c.maintainer),
            Instruction::Cmd(c) => st.cmd(
                &c.command.args,
                c.command.prepend_shell,
                (&keyword, range),
                &mut self.checker(),
            ),
            Instruction::Entrypoint(c) => st.entrypoint(
                &c.command.args,
                c.command.prepend_shell,
                (&keyword, range),
                &mut self.checker(),
            ),
            Instruction::Healthcheck(c) => {
                st.healthcheck(to_health(&c.health), (&keyword, range), &mut self.checker())
            }
            Instruction::Expose(c) => st.expose(&c.ports, range, &mut self.checker())?,
            Instruction::User(c) => st.user(&c.user),
            Instruction::Volume(c) => st.volume(&c.volumes)?,
            Instruction::StopSignal(c) => st.stop_signal(&c.signal)?,
            Instruction::Shell(c) => st.shell(&c.shell),
            Instruction::Onbuild(c) => st.onbuild(&c.expression),
            Instruction::Arg(c) => self.dispatch_arg(st, c)?,
            Instruction::Workdir(c) => {
                self.dispatch_workdir(st, &c.path, &c.origin.original, step.onbuild, range)
            }
            Instruction::Run(c) => self.dispatch_run(st, c, step)?,
            Instruction::Copy(c) => self.dispatch_copy(st, super::copy::CopySpec::copy(c), step)?,
            Instruction::Add(c) => self.dispatch_copy(st, super::copy::CopySpec::add(c), step)?,
            Instruction::From(_) => unreachable!("FROM starts a stage; it is never a step"),
        }
        Ok(())
    }

    /// UndefinedVar: variables used but neither set nor declared as ARG.
    fn report_undefined(
        &mut self,
        st: &StageState,
        mut unmatched: BTreeSet<String>,
        range: SourceRange,
    ) {
        for (key, _) in &st.build_args {
            unmatched.remove(key);
        }
        if unmatched.is_empty() {
            return;
        }
        let keys = st.env.keys();
        for var in unmatched {
            if args::is_non_env_arg(&var) {
                continue;
            }
            let mut message = format!("Usage of undefined variable '${var}'");
            if let Some(s) = suggest::search(&var, &keys, true) {
                message.push_str(&format!(" (did you mean ${s}?)"));
            }
            self.warn("UndefinedVar", message, range);
        }
    }

    fn lint_legacy(&mut self, pairs: &[KeyValue], keyword: &str, range: SourceRange) {
        for _ in pairs.iter().filter(|p| p.legacy) {
            self.warn(
                "LegacyKeyValueFormat",
                format!("\"{keyword} key=value\" should be used instead of legacy \"{keyword} key value\" format"),
                range,
            );
        }
    }

    /// ENV: per pair, LegacyKeyValueFormat then SecretsUsedInArgOrEnv
    /// (BuildKit's order).
    fn lint_pairs(
        &mut self,
        pairs: &[KeyValue],
        keyword: &str,
        instruction: &str,
        range: SourceRange,
    ) {
        for pair in pairs {
            if pair.legacy {
                self.lint_legacy(std::slice::from_ref(pair), keyword, range);
            }
            self.lint_secret_key(instruction, &pair.key, range);
        }
    }

    /// SecretsUsedInArgOrEnv: a `_`-separated word of the key names a
    /// secret (`API_KEY`, `db_password`) and none marks it harmless
    /// (`PUBLIC_KEY`); BuildKit's case-insensitive expressions.
    fn lint_secret_key(&mut self, instruction: &str, key: &str, range: SourceRange) {
        if is_secret_key(key) {
            self.warn(
                "SecretsUsedInArgOrEnv",
                format!(
                    "Do not use ARG or ENV instructions for sensitive data ({instruction} {})",
                    go_quote(key)
                ),
                range,
            );
        }
    }

    /// ARG: a build arg wins, else the default (expanded), else the global
    /// ARG of the same name; the value becomes visible to later
    /// instructions and RUN steps, but not to the image config.
    fn dispatch_arg(&mut self, st: &mut StageState, c: &ArgInstruction) -> Result<()> {
        let range = c.origin.range;
        let mut history = Vec::with_capacity(c.args.len());
        for def in &c.args {
            self.lint_secret_key("ARG", &def.key, range);
            let value = match (self.opts.build_args.get(&def.key), &def.value) {
                (Some(v), _) => Some(v.clone()),
                (None, Some(default)) => {
                    let r = self
                        .lex
                        .process_word(default, &st.env)
                        .map_err(|e| e.or_at(range))?;
                    self.report_undefined(st, r.unmatched.clone(), range);
                    Some(r.result)
                }
                (None, None) => self.globals.get(&def.key).map(str::to_string),
            };
            if let Some(v) = &value {
                if !args::is_non_env_arg(&def.key) {
                    st.env.set(&def.key, v);
                }
            }
            history.push(match &value {
                Some(v) => format!("{}={v}", def.key),
                None => def.key.clone(),
            });
            st.build_args.push((def.key.clone(), value));
        }
        st.commit(format!("ARG {}", history.join(" ")), false, false);
        Ok(())
    }

    /// WORKDIR: a directory created (with the USER as owner) unless `/`.
    fn dispatch_workdir(
        &mut self,
        st: &mut StageState,
        path: &str,
        original: &str,
        onbuild: bool,
        range: SourceRange,
    ) {
        if !st.workdir_set && !path.starts_with('/') {
            self.warn(
                "WorkdirRelativePath",
                format!(
                    "Relative workdir {} can have unexpected results if the base image changes",
                    go_quote(path)
                ),
                range,
            );
        }
        st.workdir_set = true;
        let wd = paths::normalize(&st.image.config.working_dir, path, false);
        st.image.config.working_dir = wd.clone();
        st.cwd = wd.clone();
        let with_layer = wd != "/";
        if with_layer {
            let owner =
                (!st.image.config.user.is_empty()).then(|| Chown::parse(&st.image.config.user));
            let op = Op::File(FileOp {
                base: st.root.map(|_| 0),
                actions: vec![FileAction::Mkdir(Mkdir {
                    path: wd.clone(),
                    mode: 0o755,
                    make_parents: true,
                    owner,
                    timestamp: st.epoch,
                })],
            });
            let text = self.display_command(original, &st.env);
            let name = st.progress_name(&text, onbuild);
            let meta = OpMeta {
                name,
                range: Some(range),
                ignore_cache: st.ignore_cache,
            };
            st.root = Some(self.graph.add(op, st.root.into_iter().collect(), meta));
        }
        st.commit(format!("WORKDIR {wd}"), with_layer, false);
    }

    /// The progress name of an op-producing instruction: its text with
    /// variables expanded (unset ones left as written), keyword upper-case.
    pub(super) fn display_command(&self, text: &str, env: &dyn Env) -> String {
        // Nothing to expand or unescape: skip the lexer.
        let expanded = if text.contains(['$', self.lex.escape]) {
            let lex = Lex {
                raw_quotes: true,
                skip_unset_env: true,
                ..self.lex
            };
            lex.process_word(text, env)
                .map(|r| r.result)
                .unwrap_or_else(|_| text.to_string())
        } else {
            text.to_string()
        };
        match expanded.split_once(' ') {
            Some((word, rest)) => format!("{} {rest}", word.to_uppercase()),
            None => expanded.to_uppercase(),
        }
    }
}

fn pairs(kvs: &[KeyValue]) -> Vec<(String, String)> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), kv.value.clone()))
        .collect()
}

fn to_health(h: &instructions::Healthcheck) -> definition::Healthcheck {
    let nanos = |d: std::time::Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    definition::Healthcheck {
        test: h.test.clone(),
        interval: nanos(h.interval),
        timeout: nanos(h.timeout),
        start_period: nanos(h.start_period),
        start_interval: nanos(h.start_interval),
        retries: i64::from(h.retries),
    }
}

/// BuildKit's `getSecretsRegex`: a deny token as a whole `_`-separated
/// word (`(?i)(?:_|^)(?:apikey|...)(?:_|$)`) and no allow token, with Go's
/// case folding (`K` also matches the Kelvin sign, `s` the long s).
fn is_secret_key(key: &str) -> bool {
    const DENY: [&str; 10] = [
        "apikey",
        "auth",
        "credential",
        "credentials",
        "key",
        "password",
        "pword",
        "passwd",
        "secret",
        "token",
    ];
    const ALLOW: [&str; 3] = ["public", "file", "version"];
    let has = |tokens: &[&str]| {
        key.split('_')
            .any(|word| tokens.iter().any(|t| folds_to(word, t)))
    };
    has(&DENY) && !has(&ALLOW)
}

/// `word` equals the lower-case ASCII `token` under Unicode simple case
/// folding.
fn folds_to(word: &str, token: &str) -> bool {
    let mut chars = word.chars();
    for t in token.chars() {
        let Some(c) = chars.next() else { return false };
        let same = c.to_ascii_lowercase() == t
            || (t == 'k' && c == '\u{212A}')
            || (t == 's' && c == '\u{17F}');
        if !same {
            return false;
        }
    }
    chars.next().is_none()
}

/// ReservedStageName and DuplicateStageName (stage names compare
/// lower-cased, as BuildKit keeps them).
pub(super) fn lint_stage_names(dockerfile: &Dockerfile, checker: &mut Checker<'_>) {
    let mut seen = BTreeSet::new();
    for stage in &dockerfile.stages {
        let Some(name) = &stage.name else { continue };
        if name == "context" || name == "scratch" {
            checker.run(
                "ReservedStageName",
                format!(
                    "Stage name should not use the same name as reserved stage {}",
                    go_quote(name)
                ),
                stage.range(),
            );
        }
        if !seen.insert(name.as_str()) {
            checker.run(
                "DuplicateStageName",
                format!(
                    "Duplicate stage name {}, stage names should be unique",
                    go_quote(name)
                ),
                stage.range(),
            );
        }
    }
}

/// ConsistentInstructionCasing: keywords should all be upper or all lower
/// case, following the majority.
pub(super) fn lint_casing(dockerfile: &Dockerfile, checker: &mut Checker<'_>) {
    let keywords = || {
        dockerfile.stages.iter().flat_map(|s| {
            std::iter::once((s.origin.keyword.as_str(), s.range()))
                .chain(s.instructions.iter().map(|i| (i.keyword(), i.range())))
        })
    };
    let consistent = |k: &str| k == k.to_lowercase() || k == k.to_uppercase();
    let (mut lower, mut upper) = (0, 0);
    for (k, _) in keywords().filter(|(k, _)| consistent(k)) {
        if k == k.to_lowercase() {
            lower += 1;
        } else {
            upper += 1;
        }
    }
    let majority_lower = lower > upper;
    for (k, range) in keywords() {
        let casing = if majority_lower && k.to_lowercase() != k {
            "lowercase"
        } else if !majority_lower && k.to_uppercase() != k {
            "uppercase"
        } else {
            continue;
        };
        checker.run(
            "ConsistentInstructionCasing",
            format!("Command '{k}' should match the case of the command majority ({casing})"),
            range,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::is_secret_key;

    #[test]
    fn secret_keys_as_buildkit_matches_them() {
        for key in [
            "SECRET_PASSPHRASE",
            "SUPER_Secret",
            "password",
            "super_duper_secret_token",
            "apikey",
            "git_key",
            "AUTH",
            "db_PassWord_x",
            "\u{212A}EY",
            "\u{17F}ecret",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "PUBLIC_KEY",
            "public_token",
            "SECRET_PASSPHRASE_FILE",
            "password_file",
            "AUTH_MODULE_VERSION",
            "sunflower",
            "keys",
            "monkey",
            "api_key_",
            "",
        ] {
            let expect = key == "api_key_";
            assert_eq!(is_secret_key(key), expect, "{key}");
        }
    }
}
