//! The stage graph: bases, `--from` dependencies, reachability from the
//! target, ONBUILD triggers, and the order stages are dispatched in.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

use super::args;
use super::env::EnvList;
use super::options::{BuildOptions, ImageResolver, NamedContext};
use super::stage::StageState;
use crate::definition::{
    BuildDefinition, GraphBuilder, Image, ImageSource, LocalSource, Op, OpId, OpMeta, Platform,
};
use crate::golang::go_quote;
use crate::instructions::checks::Checker;
use crate::instructions::{self, ArgInstruction, CheckConfig, Dockerfile, Instruction};
use crate::lint::Warning;
use crate::reference::Reference;
use crate::shell::Lex;
use crate::suggest;
use crate::{parser, Error, Result, SourceRange};

/// One instruction of a stage with the stages it reads from.
pub(super) struct Step {
    pub instruction: Instruction,
    /// Came from an ONBUILD trigger of the base.
    pub onbuild: bool,
    /// `COPY --from`: the stage copied from.
    pub copy_from: Option<usize>,
    /// `RUN --mount`: per mount, the stage mounted (None = build context).
    pub mount_from: Vec<Option<usize>>,
}

/// A stage of the Dockerfile, or an image named by `--from` ("unregistered").
pub(super) struct StageNode {
    pub name: Option<String>,
    pub display: String,
    /// Base image reference or stage name, expanded.
    pub base_name: String,
    pub platform: Option<Platform>,
    pub range: SourceRange,
    pub steps: Vec<Step>,
    pub base: Option<usize>,
    pub deps: Vec<(usize, SourceRange)>,
    /// Stage-less image used only through `--from`.
    pub unregistered: bool,
    /// The resolved base image (for stages whose base is not a stage).
    pub base_image: Option<(Option<OpId>, Image)>,
    pub onbuild_done: bool,
    /// The stage's final state, once dispatched.
    pub state: Option<StageState>,
}

pub(crate) struct Lowering<'a> {
    pub opts: &'a BuildOptions,
    resolver: &'a dyn ImageResolver,
    pub lex: Lex,
    /// The file's check configuration (`# check=` or the build arg).
    checks: &'a CheckConfig,
    /// The configuration for the instruction being lowered: the file's,
    /// plus a `# check=` comment right above the instruction.
    pub local_checks: Cow<'a, CheckConfig>,
    pub warnings: &'a mut Vec<Warning>,
    pub graph: GraphBuilder,
    pub globals: EnvList,
    pub target_platform: Platform,
    pub stages: Vec<StageNode>,
    by_name: HashMap<String, usize>,
    /// Local sources (main context and named local contexts) by name.
    contexts: HashMap<String, OpId>,
    pub context_paths: BTreeSet<String>,
    pub epoch: Option<i64>,
    /// The stage being built (its state is read at the end).
    pub target: Option<usize>,
}

impl<'a> Lowering<'a> {
    pub fn new(
        opts: &'a BuildOptions,
        resolver: &'a dyn ImageResolver,
        lex: Lex,
        checks: &'a CheckConfig,
        warnings: &'a mut Vec<Warning>,
    ) -> Self {
        Lowering {
            opts,
            resolver,
            lex,
            checks,
            local_checks: Cow::Borrowed(checks),
            warnings,
            graph: GraphBuilder::new(),
            globals: EnvList::new(),
            target_platform: opts
                .target_platform
                .clone()
                .unwrap_or_else(|| opts.build_platform.clone()),
            stages: Vec::new(),
            by_name: HashMap::new(),
            contexts: HashMap::new(),
            context_paths: BTreeSet::new(),
            epoch: None,
            target: None,
        }
    }

    /// Raises `rule` unless the configuration of the instruction being
    /// lowered skips it.
    pub fn warn(&mut self, rule: &'static str, message: String, range: SourceRange) {
        if self.local_checks.enabled(rule) {
            self.warnings.push(Warning::new(rule, message, range));
        }
    }

    /// Where [`StageState`] methods raise their rules.
    pub fn checker(&mut self) -> Checker<'_> {
        Checker {
            config: Cow::Borrowed(&*self.local_checks),
            warnings: &mut *self.warnings,
        }
    }

    /// Lowers the next instruction under the file's configuration merged
    /// with the `# check=` comment among `comments`, if any.
    pub fn checks_for(&mut self, comments: &[String]) {
        let checks: &'a CheckConfig = self.checks;
        self.local_checks = checks.for_comments(comments);
    }

    /// Back to the file's configuration (rules about the whole file).
    pub fn file_checks(&mut self) {
        self.local_checks = Cow::Borrowed(self.checks);
    }

    pub fn run(mut self, dockerfile: Dockerfile) -> Result<BuildDefinition> {
        {
            let mut checker = self.checker();
            super::dispatch::lint_stage_names(&dockerfile, &mut checker);
            super::dispatch::lint_casing(&dockerfile, &mut checker);
        }
        let target_name = self
            .opts
            .target
            .clone()
            .or_else(|| dockerfile.stages.last().and_then(|s| s.name.clone()))
            .unwrap_or_default();
        self.globals = args::platform_args(
            &self.opts.build_platform,
            &self.target_platform,
            &target_name,
            &self.opts.build_args,
        );
        self.lint_default_args(&dockerfile);
        self.eval_meta_args(&dockerfile.meta_args)?;
        self.epoch = self.source_date_epoch()?;
        self.register_stages(dockerfile)?;
        let target = self.resolve_target()?;
        self.target = Some(target);
        self.link_dependencies()?;
        self.check_cycles()?;
        if self.stages.len() == 1 {
            self.stages[0].display.clear();
        }
        let mut order = self.resolve_reachable(target)?;
        if self.opts.all_stages {
            // BuildKit's lint request without a target: every stage, in
            // file order (ONBUILD triggers only for the needed ones).
            for i in 0..self.stages.len() {
                if self.stages[i].base.is_none() && self.stages[i].base_image.is_none() {
                    let base = self.resolve_base(i)?;
                    self.stages[i].base_image = Some(base);
                }
            }
            order = (0..self.stages.len()).collect();
        }
        for i in order {
            if self.stages[i].state.is_none() {
                self.dispatch_stage(i)?;
            }
        }
        self.finish(target)
    }

    /// Global ARGs: each default is expanded with the ARGs before it; a
    /// build arg overrides.
    fn eval_meta_args(&mut self, meta_args: &[ArgInstruction]) -> Result<()> {
        let globals = meta_arg_values(&self.globals, &self.lex, meta_args, &self.opts.build_args)?;
        self.globals = globals;
        Ok(())
    }

    /// InvalidDefaultArgInFrom: base names that are invalid with only the
    /// ARG defaults (no build args).
    fn lint_default_args(&mut self, dockerfile: &Dockerfile) {
        let Ok(defaults) = meta_arg_values(
            &self.globals,
            &self.lex,
            &dockerfile.meta_args,
            &Default::default(),
        ) else {
            return;
        };
        for stage in &dockerfile.stages {
            let Ok(expanded) = self.lex.process_word(&stage.base_name, &defaults) else {
                return;
            };
            if Reference::parse_named(&expanded.result).is_err() {
                self.warn(
                    "InvalidDefaultArgInFrom",
                    format!(
                        "Default value for ARG {} results in empty or invalid base image name",
                        stage.base_name
                    ),
                    stage.range(),
                );
            }
        }
    }

    fn source_date_epoch(&self) -> Result<Option<i64>> {
        let value = match self.opts.build_args.get("SOURCE_DATE_EPOCH") {
            Some(v) => v.clone(),
            None => match self.globals.get("SOURCE_DATE_EPOCH") {
                Some(v) if !v.is_empty() => v.to_string(),
                _ => return Ok(None),
            },
        };
        if value.is_empty() {
            return Ok(None);
        }
        value
            .parse::<i64>()
            .map(Some)
            .map_err(|_| Error::new(format!("invalid SOURCE_DATE_EPOCH: {value}")))
    }

    /// Expands FROM lines with the global ARGs and records each stage.
    fn register_stages(&mut self, dockerfile: Dockerfile) -> Result<()> {
        let declared: BTreeSet<String> = dockerfile
            .meta_args
            .iter()
            .flat_map(|a| a.args.iter().map(|d| d.key.clone()))
            .chain(self.globals.iter().map(|(k, _)| k.to_string()))
            .collect();
        for (i, stage) in dockerfile.stages.into_iter().enumerate() {
            let range = stage.range();
            // FROM's rules follow a `# check=` comment above it.
            self.checks_for(&stage.origin.comments);
            let base = self.lex.process_word(&stage.base_name, &self.globals);
            if let Ok(b) = &base {
                self.lint_undeclared_from_args(&b.unmatched, &declared, range);
            }
            let base = base.map_err(|e| e.or_at(range))?;
            if base.result.is_empty() {
                return Err(Error::at(
                    format!("base name ({}) should not be blank", stage.base_name),
                    range,
                ));
            }
            let platform = match &stage.platform {
                Some(p) => Some(self.stage_platform(p, stage.name.as_deref(), &declared, range)?),
                None => None,
            };
            let display = stage.name.clone().unwrap_or_else(|| format!("stage-{i}"));
            let steps = stage.instructions.into_iter().map(Step::new).collect();
            self.add_stage(StageNode {
                name: stage.name,
                display,
                base_name: base.result,
                platform,
                range,
                steps,
                base: None,
                deps: Vec::new(),
                unregistered: false,
                base_image: None,
                onbuild_done: false,
                state: None,
            });
        }
        self.file_checks();
        Ok(())
    }

    fn lint_undeclared_from_args(
        &mut self,
        unmatched: &BTreeSet<String>,
        declared: &BTreeSet<String>,
        range: SourceRange,
    ) {
        let options: Vec<&str> = declared.iter().map(String::as_str).collect();
        for arg in unmatched {
            if declared.contains(arg) {
                continue;
            }
            let mut message = format!("FROM argument '{arg}' is not declared");
            if let Some(s) = suggest::search(arg, &options, true) {
                message.push_str(&format!(" (did you mean {s}?)"));
            }
            self.warn("UndefinedArgInFrom", message, range);
        }
    }

    fn stage_platform(
        &mut self,
        raw: &str,
        stage_name: Option<&str>,
        declared: &BTreeSet<String>,
        range: SourceRange,
    ) -> Result<Platform> {
        let expanded = self.lex.process_word(raw, &self.globals);
        if let Ok(e) = &expanded {
            self.lint_undeclared_from_args(&e.unmatched, declared, range);
            let only_target = e.matched.len() == 1
                && e.unmatched.is_empty()
                && e.matched.contains("TARGETPLATFORM");
            if only_target && self.globals.get("TARGETPLATFORM") == Some(e.result.as_str()) {
                self.warn(
                    "RedundantTargetPlatform",
                    format!("Setting platform to predefined {raw} in FROM is redundant as this is the default behavior"),
                    range,
                );
            }
            if e.matched.is_empty() && e.unmatched.is_empty() {
                if let Ok(p) = Platform::parse(&e.result) {
                    let name = stage_name.unwrap_or("");
                    if !name.contains(&p.os) && !name.contains(&p.architecture) {
                        self.warn(
                            "FromPlatformFlagConstDisallowed",
                            format!(
                                "FROM --platform flag should not use constant value {}",
                                go_quote(&e.result)
                            ),
                            range,
                        );
                    }
                }
            }
        }
        let expanded = expanded.map_err(|e| {
            Error::at(
                format!(
                    "failed to process arguments for platform {raw}: {}",
                    e.message
                ),
                range,
            )
        })?;
        // BuildKit's wrapSuggestAny: a misspelt variable may be why.
        let with_suggestion = |mut message: String| {
            let keys: Vec<&str> = self.globals.iter().map(|(k, _)| k).collect();
            if let Some(s) = expanded
                .unmatched
                .iter()
                .find_map(|var| suggest::search(var, &keys, true))
            {
                message.push_str(&format!(" (did you mean {s}?)"));
            }
            message
        };
        if expanded.result.is_empty() {
            return Err(Error::at(
                with_suggestion(format!("empty platform value from expression {raw}")),
                range,
            ));
        }
        Platform::parse(&expanded.result).map_err(|e| {
            Error::at(
                format!(
                    "failed to parse platform {raw}: {}",
                    with_suggestion(e.message)
                ),
                range,
            )
        })
    }

    /// Adds a stage; its base is an earlier stage of that name, if any.
    fn add_stage(&mut self, mut node: StageNode) -> usize {
        node.base = self.by_name.get(&node.base_name).copied();
        let index = self.stages.len();
        if let Some(name) = &node.name {
            self.by_name.insert(name.to_ascii_lowercase(), index);
        }
        self.stages.push(node);
        index
    }

    fn resolve_target(&self) -> Result<usize> {
        let Some(target) = &self.opts.target else {
            return Ok(self.stages.len() - 1);
        };
        self.by_name
            .get(&target.to_ascii_lowercase())
            .copied()
            .ok_or_else(|| {
                let names: Vec<&str> = self
                    .stages
                    .iter()
                    .filter_map(|s| s.name.as_deref())
                    .collect();
                Error::new(suggest::with_suggestion(
                    format!("target stage {target:?} could not be found"),
                    target,
                    &names,
                    true,
                ))
            })
    }

    /// Resolves `COPY --from` and `RUN --mount=from=` of every stage.
    fn link_dependencies(&mut self) -> Result<()> {
        for i in 0..self.stages.len() {
            for s in 0..self.stages[i].steps.len() {
                self.link_step(i, s)?;
            }
        }
        Ok(())
    }

    fn link_step(&mut self, stage: usize, step: usize) -> Result<()> {
        let (copy_from, mount_froms, range) = {
            let st = &self.stages[stage].steps[step];
            let range = st.instruction.range();
            match &st.instruction {
                Instruction::Copy(c) if !c.from.is_empty() => {
                    (Some(c.from.clone()), Vec::new(), range)
                }
                Instruction::Run(r) => {
                    let froms = r
                        .mounts
                        .iter()
                        .map(|m| (!m.from.is_empty()).then(|| m.from.clone()))
                        .collect();
                    (None, froms, range)
                }
                _ => return Ok(()),
            }
        };
        if let Some(from) = copy_from {
            let expanded = self
                .lex
                .process_word(&from, &EnvList::new())
                .map_err(|e| e.or_at(range))?;
            if expanded.result != from {
                return Err(Error::at(
                    "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround",
                    range,
                ));
            }
            let source = self.stage_for(&from, range, true)?;
            self.stages[stage].steps[step].copy_from = Some(source);
            self.stages[stage].deps.push((source, range));
        }
        let mut mount_from = Vec::with_capacity(mount_froms.len());
        for from in mount_froms {
            let source = match from {
                Some(f) => {
                    let s = self.stage_for(&f, range, false)?;
                    self.stages[stage].deps.push((s, range));
                    Some(s)
                }
                None => None,
            };
            mount_from.push(source);
        }
        self.stages[stage].steps[step].mount_from = mount_from;
        Ok(())
    }

    /// The stage `from` names: a stage name, a stage index (COPY only), or
    /// an image, which becomes an unregistered stage.
    fn stage_for(&mut self, from: &str, range: SourceRange, allow_index: bool) -> Result<usize> {
        if let Some(&i) = self.by_name.get(&from.to_ascii_lowercase()) {
            return Ok(i);
        }
        if allow_index {
            if let Ok(index) = from.parse::<i64>() {
                let count = self.stages.iter().filter(|s| !s.unregistered).count() as i64;
                return if (0..count).contains(&index) {
                    Ok(index as usize)
                } else {
                    Err(Error::at(format!("invalid stage index {index}"), range))
                };
            }
        }
        let existing = self
            .stages
            .iter()
            .position(|s| s.unregistered && s.base_name == from);
        Ok(existing.unwrap_or_else(|| {
            self.add_stage(StageNode {
                name: None,
                display: String::new(),
                base_name: from.to_string(),
                platform: None,
                range,
                steps: Vec::new(),
                base: None,
                deps: Vec::new(),
                unregistered: true,
                base_image: None,
                onbuild_done: false,
                state: None,
            })
        }))
    }

    fn check_cycles(&self) -> Result<()> {
        // Edges: base and deps. Iterative DFS with colours.
        let n = self.stages.len();
        let mut colour = vec![0u8; n]; // 0 new, 1 on path, 2 done
        for start in 0..n {
            if colour[start] != 0 {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            colour[start] = 1;
            while let Some(&mut (node, ref mut next)) = stack.last_mut() {
                let edges = self.edges(node);
                if *next < edges.len() {
                    let (dep, range) = edges[*next];
                    *next += 1;
                    match colour[dep] {
                        0 => {
                            colour[dep] = 1;
                            stack.push((dep, 0));
                        }
                        1 => {
                            return Err(Error::at(
                                format!(
                                    "circular dependency detected on stage: {}",
                                    self.stages[start].display
                                ),
                                range,
                            ))
                        }
                        _ => {}
                    }
                } else {
                    colour[node] = 2;
                    stack.pop();
                }
            }
        }
        Ok(())
    }

    fn edges(&self, i: usize) -> Vec<(usize, SourceRange)> {
        let node = &self.stages[i];
        let mut edges: Vec<(usize, SourceRange)> =
            node.base.map(|b| (b, node.range)).into_iter().collect();
        edges.extend(node.deps.iter().copied());
        edges
    }

    /// The stages the target needs (in file order), resolving base images
    /// and expanding ONBUILD triggers (which may add dependencies) until
    /// nothing changes.
    fn resolve_reachable(&mut self, target: usize) -> Result<Vec<usize>> {
        loop {
            let reachable = self.reachable_from(target);
            for &i in &reachable {
                if self.stages[i].base.is_none() && self.stages[i].base_image.is_none() {
                    let base = self.resolve_base(i)?;
                    self.stages[i].base_image = Some(base);
                }
            }
            let mut new_deps = false;
            for &i in &reachable {
                if !self.stages[i].onbuild_done {
                    self.stages[i].onbuild_done = true;
                    new_deps |= self.add_onbuild_triggers(i)?;
                }
            }
            if !new_deps {
                self.check_cycles()?;
                return Ok(reachable);
            }
        }
    }

    fn reachable_from(&self, target: usize) -> Vec<usize> {
        let mut seen = vec![false; self.stages.len()];
        let mut stack = vec![target];
        while let Some(i) = stack.pop() {
            if !std::mem::replace(&mut seen[i], true) {
                stack.extend(self.edges(i).into_iter().map(|(d, _)| d));
            }
        }
        (0..seen.len()).filter(|&i| seen[i]).collect()
    }

    /// The root op and config a stage without a base stage starts from.
    fn resolve_base(&mut self, i: usize) -> Result<(Option<OpId>, Image)> {
        let platform = self.stages[i]
            .platform
            .clone()
            .unwrap_or_else(|| self.target_platform.clone());
        let base_name = self.stages[i].base_name.clone();
        let range = self.stages[i].range;
        if base_name == "scratch" {
            return Ok((None, Image::empty(&platform)));
        }
        let named_context = self.opts.named_contexts.get(&base_name);
        let reference_text = match named_context {
            Some(NamedContext::Local { name }) => {
                let root = self.local_source(name);
                return Ok((Some(root), Image::empty(&platform)));
            }
            Some(NamedContext::Image { reference }) => reference.clone(),
            None => base_name.clone(),
        };
        let reference = Reference::parse(&reference_text).map_err(|e| {
            Error::at(
                format!("failed to parse stage name {base_name:?}: {}", e.message),
                range,
            )
        })?;
        let resolved = self.resolver.resolve(&reference, &platform).map_err(|e| {
            let names: Vec<&str> = self
                .stages
                .iter()
                .filter_map(|s| s.name.as_deref())
                .collect();
            Error::at(
                suggest::with_suggestion(
                    format!("{base_name}: {}", e.message),
                    &base_name,
                    &names,
                    true,
                ),
                range,
            )
        })?;
        let (pinned, image) = match resolved {
            Some(r) => (r.reference, r.config),
            None => (reference.to_string(), Image::empty(&platform)),
        };
        if image.rootfs.diff_ids.is_empty()
            && image.history.iter().all(|h| h.empty_layer)
            && !image.history.is_empty()
        {
            return Ok((None, image));
        }
        // BuildKit checks images it resolved itself (not named contexts),
        // against the file's configuration.
        if named_context.is_none()
            && (image.os != platform.os || image.architecture != platform.architecture)
        {
            let actual = format_all(&image.platform(), &image.os_version);
            let expected = format_all(&platform, "");
            self.file_checks();
            self.warn(
                "InvalidBaseImagePlatform",
                format!(
                    "Base image {base_name} was pulled with platform {}, expected {} for current build",
                    go_quote(&actual),
                    go_quote(&expected)
                ),
                range,
            );
        }
        self.stages[i].base_name = pinned.clone();
        let op = Op::Image(ImageSource {
            reference: pinned,
            platform,
        });
        let root = self.graph.add(op, Vec::new(), OpMeta::default());
        Ok((Some(root), image))
    }

    /// ONBUILD triggers of the base (image config or base stage) become
    /// the first steps of stage `i`. Returns whether they add dependencies.
    fn add_onbuild_triggers(&mut self, i: usize) -> Result<bool> {
        let triggers: Vec<String> = match self.stages[i].base {
            Some(b) => self.stages[b]
                .steps
                .iter()
                .filter_map(|s| match &s.instruction {
                    Instruction::Onbuild(o) => Some(o.expression.clone()),
                    _ => None,
                })
                .collect(),
            None => self.stages[i]
                .base_image
                .as_ref()
                .and_then(|(_, img)| img.config.on_build.clone())
                .unwrap_or_default(),
        };
        if triggers.is_empty() {
            return Ok(false);
        }
        let range = self.stages[i].range;
        let mut steps = Vec::with_capacity(triggers.len());
        for trigger in &triggers {
            let parsed = parser::parse(trigger).map_err(|e| Error::at(e.message, range))?;
            if parsed.nodes.len() != 1 {
                return Err(Error::at(
                    "onbuild trigger should be a single expression",
                    range,
                ));
            }
            let mut node = parsed.nodes[0].clone();
            node.start_line = range.start_line;
            node.end_line = range.end_line;
            let instruction =
                instructions::parse_command(&node).map_err(|e| Error::at(e.message, range))?;
            steps.push(Step {
                onbuild: true,
                ..Step::new(instruction)
            });
        }
        let deps_before = self.stages[i].deps.len();
        let count = steps.len();
        self.stages[i].steps.splice(0..0, steps);
        for s in 0..count {
            self.link_step(i, s)?;
        }
        Ok(self.stages[i].deps.len() > deps_before)
    }

    /// The local source op for a context (`context` = the main one).
    pub fn local_source(&mut self, name: &str) -> OpId {
        if let Some(&id) = self.contexts.get(name) {
            return id;
        }
        let op = Op::Local(LocalSource {
            name: name.to_string(),
            follow_paths: Vec::new(),
        });
        let id = self.graph.add(op, Vec::new(), OpMeta::default());
        self.contexts.insert(name.to_string(), id);
        id
    }

    fn finish(mut self, target: usize) -> Result<BuildDefinition> {
        let mut state = self.stages[target]
            .state
            .take()
            .expect("target stage dispatched");
        if !self.opts.labels.is_empty() {
            let labels = state
                .image
                .config
                .labels
                .get_or_insert_with(Default::default);
            labels.extend(self.opts.labels.clone());
        }
        if let Some(p) = &self.opts.target_platform {
            state.image.os = p.os.clone();
            state.image.architecture = p.architecture.clone();
            state.image.variant = p.variant.clone();
        }
        // The context's follow paths are known only now; they do not
        // change its digest (the files read are hashed by the solver).
        if let Some(&ctx) = self.contexts.get("context") {
            let paths: Vec<String> = if self.context_paths.contains("/") {
                Vec::new()
            } else {
                self.context_paths
                    .iter()
                    .map(|p| super::paths::join(".", p))
                    .collect()
            };
            self.graph.set_follow_paths(ctx, paths);
        }
        let mut definition = self.graph.finish(state.root, state.image);
        definition.epoch = self.epoch;
        Ok(definition)
    }
}

impl Step {
    fn new(instruction: Instruction) -> Self {
        Step {
            instruction,
            onbuild: false,
            copy_from: None,
            mount_from: Vec::new(),
        }
    }
}

/// containerd's `platforms.FormatAll`: `os[(osversion)]/arch[/variant]`,
/// `unknown` without an OS.
fn format_all(p: &Platform, os_version: &str) -> String {
    if p.os.is_empty() {
        return "unknown".into();
    }
    let os = if os_version.is_empty() {
        p.os.clone()
    } else {
        format!("{}({os_version})", p.os)
    };
    let mut out = format!("{os}/{}", p.architecture);
    if !p.variant.is_empty() {
        out.push('/');
        out.push_str(&p.variant);
    }
    out
}

/// Evaluates global ARGs on top of `base`: a build arg wins, else the
/// default expanded with what is defined so far.
fn meta_arg_values(
    base: &EnvList,
    lex: &Lex,
    meta_args: &[ArgInstruction],
    build_args: &std::collections::BTreeMap<String, String>,
) -> Result<EnvList> {
    let mut env = base.clone();
    for arg in meta_args {
        for def in &arg.args {
            let value = match (build_args.get(&def.key), &def.value) {
                (Some(v), _) => Some(v.clone()),
                (None, Some(default)) => Some(
                    lex.process_word(default, &env)
                        .map_err(|e| e.or_at(arg.origin.range))?
                        .result,
                ),
                (None, None) => None,
            };
            if let Some(v) = value {
                env.set(&def.key, &v);
            }
        }
    }
    Ok(env)
}
