//! The state of one stage while it is lowered: the image config it builds
//! up, the op holding its filesystem, and the environment (ENV plus ARG
//! values) that expansions and RUN steps see. Config-only instructions
//! are applied here; RUN/COPY/WORKDIR also add ops (see `run.rs`,
//! `copy.rs`).

use std::collections::BTreeMap;

use super::env::{add_env, EnvList};
use super::{expose, paths};
use crate::definition::{Healthcheck, History, Image, OpId, Platform};
use crate::golang as gofmt;
use crate::instructions::checks::Checker;
use crate::{Result, SourceRange};

/// An instruction's keyword as written (`CMD`, `cmd`) and its lines:
/// what its rules quote and point at.
pub type At<'a> = (&'a str, SourceRange);

/// The comment BuildKit puts on every history entry it writes.
pub const HISTORY_COMMENT: &str = "buildkit.dockerfile.v0";

#[derive(Debug, Clone)]
pub struct StageState {
    /// Name used in progress output (`build`, `stage-1`, or "" when the
    /// Dockerfile has a single stage).
    pub display_name: String,
    pub image: Image,
    /// The op holding the stage's filesystem so far; `None` = scratch.
    pub root: Option<OpId>,
    /// What expansions and RUN see: the image's Env plus ARG values.
    pub env: EnvList,
    pub cwd: String,
    pub user: String,
    /// ARGs declared in the stage, in order (value `None` = no value).
    pub build_args: Vec<(String, Option<String>)>,
    /// SOURCE_DATE_EPOCH for history and file timestamps.
    pub epoch: Option<i64>,
    /// Set by a WORKDIR in this Dockerfile (vs. inherited from the base).
    pub workdir_set: bool,
    /// Lines of instructions seen once already, for
    /// MultipleInstructionsDisallowed and ENTRYPOINT's CMD reset.
    pub cmd_seen: Option<SourceRange>,
    pub entrypoint_seen: Option<SourceRange>,
    pub healthcheck_seen: Option<SourceRange>,
    /// Progress numbering: `[stage 2/5]`.
    pub step_index: usize,
    pub step_total: usize,
    /// `--no-cache` / `--no-cache-filter` applies to this stage.
    pub ignore_cache: bool,
}

impl StageState {
    /// A stage starting from `image` (a base image's config or scratch's).
    pub fn new(display_name: String, image: Image, root: Option<OpId>, platform: Platform) -> Self {
        let mut image = image;
        image.created = None;
        image.config.on_build = None;
        if !image.env().iter().any(|kv| kv.starts_with("PATH=")) && platform.os != "windows" {
            let mut env = image.config.env.take().unwrap_or_default();
            env.push(format!("PATH={}", crate::definition::DEFAULT_PATH));
            image.config.env = Some(env);
        }
        let env = EnvList::from_strings(image.env());
        let cwd = match image.config.working_dir.as_str() {
            "" => "/".to_string(),
            wd => paths::normalize("/", wd, false),
        };
        let user = image.config.user.clone();
        StageState {
            display_name,
            image,
            root,
            env,
            cwd,
            user,
            build_args: Vec::new(),
            epoch: None,
            workdir_set: false,
            cmd_seen: None,
            entrypoint_seen: None,
            healthcheck_seen: None,
            step_index: 0,
            step_total: 0,
            ignore_cache: false,
        }
    }

    /// BuildKit's progress name: `[build 2/5] RUN make` (no prefix when
    /// the stage counts no steps).
    pub fn progress_name(&mut self, text: &str, onbuild: bool) -> String {
        if self.step_total == 0 {
            return text.to_string();
        }
        self.step_index += 1;
        let width = self.step_total.to_string().len();
        let stage = if self.display_name.is_empty() {
            String::new()
        } else {
            format!("{} ", self.display_name)
        };
        let onbuild = if onbuild { "ONBUILD " } else { "" };
        format!(
            "[{stage}{:>width$}/{}] {onbuild}{text}",
            self.step_index, self.step_total
        )
    }

    /// Appends a history entry; `by_buildkit` marks entries of ops that ran
    /// (RUN/COPY/ADD), which BuildKit suffixes with `# buildkit`.
    pub fn commit(&mut self, created_by: String, with_layer: bool, by_buildkit: bool) {
        let created_by = if by_buildkit {
            format!("{created_by} # buildkit")
        } else {
            created_by
        };
        self.image.history.push(History {
            created: self.epoch.map(gofmt::rfc3339_utc),
            created_by,
            comment: HISTORY_COMMENT.into(),
            empty_layer: !with_layer,
            ..History::default()
        });
    }

    pub fn env(&mut self, pairs: &[(String, String)]) {
        let mut message = String::from("ENV");
        let config_env = self.image.config.env.get_or_insert_with(Vec::new);
        for (key, value) in pairs {
            message.push_str(&format!(" {key}={value}"));
            self.env.set(key, value);
            add_env(config_env, key, value);
        }
        self.commit(message, false, false);
    }

    pub fn label(&mut self, pairs: &[(String, String)]) {
        let mut message = String::from("LABEL");
        let labels = self.image.config.labels.get_or_insert_with(BTreeMap::new);
        for (key, value) in pairs {
            labels.insert(key.clone(), value.clone());
            message.push_str(&format!(" {key}={value}"));
        }
        self.commit(message, false, false);
    }

    pub fn maintainer(&mut self, author: &str) {
        self.image.author = author.to_string();
        self.commit(format!("MAINTAINER {author}"), false, false);
    }

    /// The stage's SHELL (or `/bin/sh -c`) with `args` joined as its last
    /// argument: how shell-form RUN/CMD/ENTRYPOINT are executed.
    pub fn with_shell(&self, args: &[String]) -> Vec<String> {
        let mut shell = match &self.image.config.shell {
            Some(shell) if !shell.is_empty() => shell.clone(),
            _ if self.image.os == "windows" => vec!["cmd".into(), "/S".into(), "/C".into()],
            _ => vec!["/bin/sh".into(), "-c".into()],
        };
        shell.push(args.join(" "));
        shell
    }

    /// JSONArgsRecommended: shell form without a SHELL set in the stage
    /// (or its base).
    fn json_args_lint(
        &self,
        prepend_shell: bool,
        (keyword, range): At<'_>,
        checker: &mut Checker<'_>,
    ) {
        let has_shell = self
            .image
            .config
            .shell
            .as_ref()
            .is_some_and(|s| !s.is_empty());
        if prepend_shell && !has_shell {
            checker.run(
                "JSONArgsRecommended",
                format!("JSON arguments recommended for {keyword} to prevent unintended behavior related to OS signals"),
                range,
            );
        }
    }

    pub fn cmd(
        &mut self,
        args: &[String],
        prepend_shell: bool,
        at: At<'_>,
        checker: &mut Checker<'_>,
    ) {
        used_once(&mut self.cmd_seen, at, checker);
        self.json_args_lint(prepend_shell, at, checker);
        let args = if prepend_shell {
            self.with_shell(args)
        } else {
            args.to_vec()
        };
        self.commit(format!("CMD {}", gofmt::go_quote_list(&args)), false, false);
        self.image.config.cmd = Some(args);
        self.image.config.args_escaped = true;
    }

    pub fn entrypoint(
        &mut self,
        args: &[String],
        prepend_shell: bool,
        at: At<'_>,
        checker: &mut Checker<'_>,
    ) {
        used_once(&mut self.entrypoint_seen, at, checker);
        self.json_args_lint(prepend_shell, at, checker);
        let args = if prepend_shell {
            self.with_shell(args)
        } else {
            args.to_vec()
        };
        self.commit(
            format!("ENTRYPOINT {}", gofmt::go_quote_list(&args)),
            false,
            false,
        );
        self.image.config.entrypoint = Some(args);
        // A CMD inherited from the base image makes no sense for a new
        // ENTRYPOINT; one set in this stage stays.
        if self.cmd_seen.is_none() {
            self.image.config.cmd = None;
        }
    }

    pub fn healthcheck(&mut self, health: Healthcheck, at: At<'_>, checker: &mut Checker<'_>) {
        used_once(&mut self.healthcheck_seen, at, checker);
        self.commit(
            format!("HEALTHCHECK {}", gofmt::healthcheck(&health)),
            false,
            false,
        );
        self.image.config.healthcheck = Some(health);
    }

    pub fn user(&mut self, user: &str) {
        self.user = user.to_string();
        self.image.config.user = user.to_string();
        self.commit(format!("USER {user}"), false, false);
    }

    pub fn volume(&mut self, volumes: &[String]) -> Result<()> {
        let config = self.image.config.volumes.get_or_insert_with(BTreeMap::new);
        for v in volumes {
            if v.is_empty() {
                return Err(crate::Error::new(
                    "VOLUME specified can not be an empty string",
                ));
            }
            config.insert(v.clone(), Default::default());
        }
        self.commit(format!("VOLUME {}", gofmt::list(volumes)), false, false);
        Ok(())
    }

    pub fn stop_signal(&mut self, signal: &str) -> Result<()> {
        expose::validate_signal(signal)?;
        self.image.config.stop_signal = signal.to_string();
        self.commit(format!("STOPSIGNAL {signal}"), false, false);
        Ok(())
    }

    pub fn shell(&mut self, shell: &[String]) {
        self.image.config.shell = Some(shell.to_vec());
        self.commit(format!("SHELL {}", gofmt::list(shell)), false, false);
    }

    /// EXPOSE with its words already expanded and split.
    pub fn expose(
        &mut self,
        words: &[String],
        range: SourceRange,
        checker: &mut Checker<'_>,
    ) -> Result<()> {
        let mut ports = Vec::new();
        for word in words {
            ports.extend(expose::parse_port(word, range, checker)?);
        }
        let config = self
            .image
            .config
            .exposed_ports
            .get_or_insert_with(BTreeMap::new);
        for p in &ports {
            config.insert(p.clone(), Default::default());
        }
        self.commit(format!("EXPOSE {}", gofmt::list(&ports)), false, false);
        Ok(())
    }

    pub fn onbuild(&mut self, expression: &str) {
        self.image
            .config
            .on_build
            .get_or_insert_with(Vec::new)
            .push(expression.to_string());
    }
}

/// MultipleInstructionsDisallowed: only the last CMD/ENTRYPOINT/HEALTHCHECK
/// of a stage counts; each earlier one is reported, at its own lines but
/// named and configured as the instruction that overrides it (BuildKit's
/// `validateUsedOnce`).
fn used_once(seen: &mut Option<SourceRange>, (keyword, range): At<'_>, checker: &mut Checker<'_>) {
    if let Some(previous) = seen.replace(range) {
        checker.run(
            "MultipleInstructionsDisallowed",
            format!("Multiple {keyword} instructions should not be used in the same stage because only the last one will be used"),
            previous,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::instructions::CheckConfig;
    use crate::lint::Warning;
    use std::borrow::Cow;

    fn scratch() -> StageState {
        let platform = Platform::new("linux", "amd64", "");
        StageState::new(String::new(), Image::empty(&platform), None, platform)
    }

    fn checker(warnings: &mut Vec<Warning>) -> Checker<'_> {
        Checker {
            config: Cow::Owned(CheckConfig::default()),
            warnings,
        }
    }

    #[test]
    fn shell_form_wraps_in_the_stage_shell() {
        let mut st = scratch();
        let mut w = Vec::new();
        st.cmd(
            &["echo hi".into()],
            true,
            ("CMD", SourceRange::line(2)),
            &mut checker(&mut w),
        );
        assert_eq!(
            st.image.config.cmd.as_deref().unwrap(),
            ["/bin/sh", "-c", "echo hi"]
        );
        assert_eq!(w[0].rule, "JSONArgsRecommended");
        st.shell(&["/bin/bash".into(), "-eu".into(), "-c".into()]);
        st.cmd(
            &["echo hi".into()],
            true,
            ("cmd", SourceRange::line(4)),
            &mut checker(&mut w),
        );
        assert_eq!(
            st.image.config.cmd.as_deref().unwrap(),
            ["/bin/bash", "-eu", "-c", "echo hi"]
        );
        assert_eq!(
            w.len(),
            2,
            "no JSON lint once SHELL is set; one duplicate-CMD lint"
        );
        assert_eq!(w[1].rule, "MultipleInstructionsDisallowed");
        assert_eq!(w[1].range, SourceRange::line(2));
        assert_eq!(
            w[1].message,
            "Multiple cmd instructions should not be used in the same stage because only the last one will be used"
        );
        assert_eq!(
            st.image.history.last().unwrap().created_by,
            r#"CMD ["/bin/bash" "-eu" "-c" "echo hi"]"#
        );
    }

    #[test]
    fn entrypoint_resets_inherited_cmd_only() {
        let mut st = scratch();
        st.image.config.cmd = Some(vec!["inherited".into()]);
        st.entrypoint(
            &["/app".into()],
            false,
            ("ENTRYPOINT", SourceRange::line(2)),
            &mut checker(&mut Vec::new()),
        );
        assert_eq!(st.image.config.cmd, None);

        let mut st = scratch();
        st.cmd(
            &["own".into()],
            false,
            ("CMD", SourceRange::line(2)),
            &mut checker(&mut Vec::new()),
        );
        st.entrypoint(
            &["/app".into()],
            false,
            ("ENTRYPOINT", SourceRange::line(3)),
            &mut checker(&mut Vec::new()),
        );
        assert_eq!(st.image.config.cmd.as_deref().unwrap(), ["own"]);
    }

    #[test]
    fn env_replaces_in_place_and_records_history() {
        let mut st = scratch();
        st.env(&[("A".into(), "1".into()), ("PATH".into(), "/x".into())]);
        assert_eq!(st.image.config.env.as_deref().unwrap(), ["PATH=/x", "A=1"]);
        assert_eq!(st.env.get("A"), Some("1"));
        let h = st.image.history.last().unwrap();
        assert_eq!(h.created_by, "ENV A=1 PATH=/x");
        assert!(h.empty_layer);
        assert_eq!(h.comment, HISTORY_COMMENT);
    }

    #[test]
    fn volume_and_stopsignal_errors() {
        let mut st = scratch();
        assert_eq!(
            st.volume(&["".into()]).unwrap_err().message,
            "VOLUME specified can not be an empty string"
        );
        assert_eq!(
            st.stop_signal("SIGNOPE").unwrap_err().message,
            "Invalid signal: SIGNOPE"
        );
        st.volume(&["/data".into(), "/logs".into()]).unwrap();
        assert_eq!(
            st.image.history.last().unwrap().created_by,
            "VOLUME [/data /logs]"
        );
    }
}
