//! COPY and ADD: sources from the build context, another stage, an image,
//! a URL, a git repository, or a heredoc, copied onto the stage's
//! filesystem with BuildKit's options (wildcards, directory contents,
//! `--chown`, `--chmod`, `--link`, `--exclude`, `--parents`, unpacking).

use super::graph::{Lowering, Step};
use super::paths;
use super::stage::StageState;
use crate::definition::{
    Chmod, Chown, Copy, FileAction, FileOp, GitSource, HttpSource, Input, Mkfile, Op, OpId, OpMeta,
};
use crate::golang::go_quote;
use crate::instructions::{AddInstruction, CopyInstruction, SourcesAndDest};
use crate::{Error, Result};

/// What COPY and ADD have in common, and where they differ.
pub(super) struct CopySpec<'a> {
    is_add: bool,
    files: &'a SourcesAndDest,
    chown: &'a str,
    chmod: &'a str,
    link: bool,
    exclude: &'a [String],
    parents: bool,
    checksum: &'a str,
    keep_git_dir: Option<bool>,
    unpack: Option<bool>,
    original: &'a str,
    /// The step's progress name, also given to its URL and git sources
    /// (as BuildKit names them).
    progress: String,
}

impl<'a> CopySpec<'a> {
    pub fn copy(c: &'a CopyInstruction) -> Self {
        CopySpec {
            is_add: false,
            files: &c.files,
            chown: &c.chown,
            chmod: &c.chmod,
            link: c.link,
            exclude: &c.exclude,
            parents: c.parents,
            checksum: "",
            keep_git_dir: None,
            unpack: None,
            original: &c.origin.original,
            progress: String::new(),
        }
    }

    pub fn add(c: &'a AddInstruction) -> Self {
        CopySpec {
            is_add: true,
            files: &c.files,
            chown: &c.chown,
            chmod: &c.chmod,
            link: c.link,
            exclude: &c.exclude,
            parents: false,
            checksum: &c.checksum,
            keep_git_dir: c.keep_git_dir,
            unpack: c.unpack,
            original: &c.origin.original,
            progress: String::new(),
        }
    }

    fn keyword(&self) -> &'static str {
        if self.is_add {
            "ADD"
        } else {
            "COPY"
        }
    }
}

/// Inputs of the file op being assembled; `Input` indices point here.
struct Inputs(Vec<OpId>);

impl Inputs {
    fn index(&mut self, op: Option<OpId>) -> Input {
        let op = op?;
        Some(match self.0.iter().position(|&o| o == op) {
            Some(i) => i,
            None => {
                self.0.push(op);
                self.0.len() - 1
            }
        })
    }
}

impl Lowering<'_> {
    pub(super) fn dispatch_copy(
        &mut self,
        st: &mut StageState,
        mut spec: CopySpec<'_>,
        step: &Step,
    ) -> Result<()> {
        let dest = paths::relative_to_workdir(&st.cwd, &spec.files.dest);
        let owner = (!spec.chown.is_empty()).then(|| Chown::parse(spec.chown));
        let mode = parse_chmod(spec.chmod)?;
        validate_checksum(&spec)?;
        let text = self.display_command(spec.original, &st.env);
        let name = st.progress_name(&text, step.onbuild);
        spec.progress = name.clone();

        // With --link (and no --chmod) the files are copied onto scratch
        // and stacked on the stage, so the layer does not depend on it.
        let link = spec.link && spec.chmod.is_empty();
        let mut inputs = Inputs(Vec::new());
        let base = if link { None } else { inputs.index(st.root) };
        let template = Copy {
            source: None,
            src: String::new(),
            dest: dest.clone(),
            owner,
            mode,
            follow_symlinks: false,
            dir_contents_only: false,
            include_patterns: Vec::new(),
            exclude_patterns: spec.exclude.to_vec(),
            required_paths: Vec::new(),
            attempt_unpack: false,
            create_dest_path: true,
            allow_wildcard: false,
            allow_empty_wildcard: false,
            timestamp: st.epoch,
        };
        let mut actions = Vec::new();
        for src in &spec.files.source_paths {
            let action = self.copy_source(st, &spec, step, src, &template, &mut inputs)?;
            actions.push(FileAction::Copy(action));
        }
        for content in &spec.files.source_contents {
            let file = self.inline_file(&content.path, &content.data, st.epoch);
            actions.push(FileAction::Copy(Copy {
                source: inputs.index(Some(file)),
                src: paths::normalize("/", &content.path, false),
                ..template.clone()
            }));
        }

        let meta = OpMeta {
            name,
            range: Some(step.instruction.range()),
            ignore_cache: st.ignore_cache,
        };
        let copied = self
            .graph
            .add(Op::File(FileOp { base, actions }), inputs.0, meta.clone());
        st.root = Some(match (link, st.root) {
            (true, Some(root)) => {
                self.graph
                    .add(Op::Merge(vec![Some(0), Some(1)]), vec![root, copied], meta)
            }
            _ => copied,
        });
        st.commit(history_message(&spec), true, true);
        Ok(())
    }

    /// One source path of COPY/ADD as a copy action.
    fn copy_source(
        &mut self,
        st: &StageState,
        spec: &CopySpec<'_>,
        step: &Step,
        src: &str,
        template: &Copy,
        inputs: &mut Inputs,
    ) -> Result<Copy> {
        if let Some(git) = git_source(src) {
            if !spec.is_add {
                return Err(Error::new("source can't be a git ref for COPY"));
            }
            let op = Op::Git(GitSource {
                keep_git_dir: spec.keep_git_dir.unwrap_or(false),
                checksum: (!spec.checksum.is_empty()).then(|| spec.checksum.to_string()),
                ..git
            });
            let id = self.graph.add(op, Vec::new(), source_meta(spec, step));
            return Ok(Copy {
                source: inputs.index(Some(id)),
                src: "/".into(),
                ..template.clone()
            });
        }
        if is_http(src) {
            if !spec.is_add {
                return Err(Error::new("source can't be a URL for COPY"));
            }
            let filename = url_filename(src);
            let checksum = if spec.checksum.is_empty() {
                None
            } else {
                validate_digest(spec.checksum)?;
                Some(spec.checksum.to_string())
            };
            let op = Op::Http(HttpSource {
                url: src.to_string(),
                filename: filename.clone(),
                checksum,
            });
            let id = self.graph.add(op, Vec::new(), source_meta(spec, step));
            return Ok(Copy {
                source: inputs.index(Some(id)),
                src: filename,
                attempt_unpack: spec.unpack.unwrap_or(false),
                ..template.clone()
            });
        }

        // ADD, and COPY without --from, read the build context.
        if spec.is_add || step.copy_from.is_none() {
            self.lint_ignored_source(spec, src, step.instruction.range());
        }
        let (src_dir, include_patterns, required_paths) = if spec.parents {
            parents_selection(src)
        } else {
            (src.to_string(), Vec::new(), Vec::new())
        };
        let source = match step.copy_from {
            Some(stage) => {
                let from = &self.stages[stage];
                match &from.state {
                    Some(state) => state.root,
                    None if from.unregistered => from.base_image.as_ref().and_then(|(root, _)| *root),
                    None => {
                        return Err(Error::new(format!(
                            "cannot copy from stage {:?}, it needs to be defined before current stage {:?}",
                            from.name.clone().unwrap_or_default(),
                            st.display_name
                        )))
                    }
                }
            }
            None => {
                self.context_paths.insert(paths::join("/", src));
                Some(self.local_source("context"))
            }
        };
        Ok(Copy {
            source: inputs.index(source),
            src: paths::normalize("/", &src_dir, false),
            follow_symlinks: true,
            dir_contents_only: true,
            include_patterns,
            required_paths,
            attempt_unpack: spec.unpack.unwrap_or(spec.is_add),
            allow_wildcard: true,
            allow_empty_wildcard: true,
            ..template.clone()
        })
    }

    /// CopyIgnoredFile (BuildKit's `validateCopySourcePath`): a context
    /// source that `.dockerignore` excludes. Not checked when the ignore
    /// file has `!` exceptions (too hard to decide statically), nor for the
    /// context root unless every root entry is excluded (`*`, `**`, `**/*`).
    fn lint_ignored_source(&mut self, spec: &CopySpec<'_>, src: &str, range: crate::SourceRange) {
        let Some(ignore) = &self.opts.dockerignore else {
            return;
        };
        if ignore.patterns.is_empty() || ignore.patterns.iter().any(|p| p.starts_with('!')) {
            return;
        }
        let src = paths::clean(src);
        if (src == "." || src == "/")
            && !ignore
                .patterns
                .iter()
                .any(|p| matches!(p.as_str(), "*" | "**" | "**/*"))
        {
            return;
        }
        if (ignore.matches)(&src) {
            let command = if spec.is_add { "Add" } else { "Copy" };
            self.warn(
                "CopyIgnoredFile",
                format!(
                    "Attempting to {command} file {} that is excluded by .dockerignore",
                    go_quote(&src)
                ),
                range,
            );
        }
    }

    /// A scratch filesystem holding one heredoc file (`COPY <<EOF /dest`).
    fn inline_file(&mut self, path: &str, data: &str, epoch: Option<i64>) -> OpId {
        let op = Op::File(FileOp {
            base: None,
            actions: vec![FileAction::Mkfile(Mkfile {
                path: paths::normalize("/", path, false),
                mode: 0o644,
                data: data.to_string(),
                owner: None,
                timestamp: epoch,
            })],
        });
        let meta = OpMeta {
            name: "preparing inline document".into(),
            ..OpMeta::default()
        };
        self.graph.add(op, Vec::new(), meta)
    }
}

/// A URL or git source shows in progress under its step's name, and
/// its errors point at the step's lines.
fn source_meta(spec: &CopySpec<'_>, step: &Step) -> OpMeta {
    OpMeta {
        name: spec.progress.clone(),
        range: Some(step.instruction.range()),
        ignore_cache: false,
    }
}

/// `--parents`: `a/./b/c` copies `b/c` below `a` keeping `b/`; without a
/// pivot the whole path is kept. A path without wildcards must exist.
fn parents_selection(src: &str) -> (String, Vec<String>, Vec<String>) {
    let (dir, pattern) = match src.split_once("/./") {
        Some((dir, pattern)) => (dir.to_string(), pattern),
        None => ("/".to_string(), src),
    };
    let pattern = paths::normalize("/", pattern, false);
    let required = if has_wildcards(&dir) || has_wildcards(&pattern) {
        Vec::new()
    } else {
        vec![paths::normalize("/", &paths::join(&dir, &pattern), false)]
    };
    (
        dir,
        vec![pattern.trim_start_matches('/').to_string()],
        required,
    )
}

fn has_wildcards(s: &str) -> bool {
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' | '?' | '[' => return true,
            '\\' => {
                chars.next();
            }
            _ => {}
        }
    }
    false
}

/// `--chmod`: octal up to 07777, or a symbolic mode (`u+x,g-w`).
fn parse_chmod(chmod: &str) -> Result<Option<Chmod>> {
    if chmod.is_empty() {
        return Ok(None);
    }
    let non_octal = || {
        Error::new(format!(
            "invalid chmod parameter: '{chmod}'. it should be octal string and between 0 and 07777"
        ))
    };
    if chmod.bytes().all(|b| b.is_ascii_digit()) {
        let mode = u32::from_str_radix(chmod, 8).map_err(|_| non_octal())?;
        return if mode > 0o7777 {
            Err(non_octal())
        } else {
            Ok(Some(Chmod::Octal(mode)))
        };
    }
    if chmod.split(',').all(valid_symbolic_clause) {
        Ok(Some(Chmod::Symbolic(chmod.to_string())))
    } else {
        Err(Error::new(format!("invalid chmod parameter: '{chmod}'")))
    }
}

/// One clause of a symbolic mode: `[ugoa]*([-+=]([rwxXst]*|[ugo]))+`.
fn valid_symbolic_clause(clause: &str) -> bool {
    let rest = clause.trim_start_matches(['u', 'g', 'o', 'a']);
    if rest.is_empty() || !rest.starts_with(['+', '-', '=']) {
        return false;
    }
    rest.split_inclusive(['+', '-', '=']).all(|part| {
        part.trim_end_matches(['+', '-', '='])
            .chars()
            .all(|c| "rwxXstugo".contains(c))
    })
}

fn validate_checksum(spec: &CopySpec<'_>) -> Result<()> {
    if spec.checksum.is_empty() {
        return Ok(());
    }
    if !spec.is_add {
        return Err(Error::new("checksum can't be specified for COPY"));
    }
    if spec.files.source_paths.len() != 1 {
        return Err(Error::new(
            "checksum can't be specified for multiple sources",
        ));
    }
    let src = &spec.files.source_paths[0];
    if !is_http(src) && git_source(src).is_none() {
        return Err(Error::new("checksum requires HTTP(S) or Git sources"));
    }
    Ok(())
}

fn validate_digest(d: &str) -> Result<()> {
    let ok = match d.split_once(':') {
        Some(("sha256", hex)) => hex.len() == 64,
        Some(("sha384", hex)) => hex.len() == 96,
        Some(("sha512", hex)) => hex.len() == 128,
        _ => false,
    } && d.split_once(':').is_some_and(|(_, hex)| {
        hex.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    });
    if ok {
        Ok(())
    } else {
        Err(Error::new("invalid checksum digest format"))
    }
}

/// `http(s)://` that is not a git repository URL.
fn is_http(src: &str) -> bool {
    (src.starts_with("http://") || src.starts_with("https://")) && git_source(src).is_none()
}

/// The file name an HTTP download gets: the URL path's last element.
fn url_filename(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    let path = path.split(['?', '#']).next().unwrap_or("");
    match path.rsplit('/').next() {
        Some(base) if !base.is_empty() && base != "." => base.to_string(),
        _ => "__unnamed__".to_string(),
    }
}

/// Git URLs ADD understands: `git@host:repo`, `git://`, `ssh://`, and
/// `http(s)://...repo.git`, each with an optional `#ref[:subdir]`.
fn git_source(src: &str) -> Option<GitSource> {
    let (remote, fragment) = src.split_once('#').unwrap_or((src, ""));
    let is_git = remote.starts_with("git@")
        || remote.starts_with("git://")
        || remote.starts_with("ssh://")
        || ((remote.starts_with("https://") || remote.starts_with("http://"))
            && remote.ends_with(".git"));
    if !is_git {
        return None;
    }
    let (reference, subdir) = fragment.split_once(':').unwrap_or((fragment, ""));
    Some(GitSource {
        remote: remote.to_string(),
        reference: (!reference.is_empty()).then(|| reference.to_string()),
        subdir: (!subdir.is_empty()).then(|| subdir.to_string()),
        keep_git_dir: false,
        checksum: None,
    })
}

/// History text: `COPY --chown=u --chmod=644 a b /dest`.
fn history_message(spec: &CopySpec<'_>) -> String {
    let mut m = spec.keyword().to_string();
    if spec.parents {
        m.push_str(" --parents");
    }
    if !spec.chown.is_empty() {
        m.push_str(&format!(" --chown={}", spec.chown));
    }
    if !spec.chmod.is_empty() {
        m.push_str(&format!(" --chmod={}", spec.chmod));
    }
    for src in &spec.files.source_paths {
        m.push(' ');
        m.push_str(src);
    }
    for content in &spec.files.source_contents {
        m.push_str(" <<");
        m.push_str(&content.path);
    }
    m.push(' ');
    m.push_str(&spec.files.dest);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chmod_values() {
        assert_eq!(parse_chmod("755").unwrap(), Some(Chmod::Octal(0o755)));
        assert_eq!(parse_chmod("").unwrap(), None);
        assert_eq!(
            parse_chmod("u+x,g-w").unwrap(),
            Some(Chmod::Symbolic("u+x,g-w".into()))
        );
        assert_eq!(
            parse_chmod("17777").unwrap_err().message,
            "invalid chmod parameter: '17777'. it should be octal string and between 0 and 07777"
        );
        assert!(parse_chmod("789").is_err());
        assert!(parse_chmod("u*x").is_err());
    }

    #[test]
    fn url_file_names() {
        assert_eq!(
            url_filename("https://example.com/a/b.tar.gz?x=1"),
            "b.tar.gz"
        );
        assert_eq!(url_filename("https://example.com/"), "__unnamed__");
        assert_eq!(url_filename("http://127.0.0.1:8080"), "__unnamed__");
    }

    #[test]
    fn git_urls() {
        let g = git_source("https://github.com/moby/buildkit.git#v0.26:frontend").unwrap();
        assert_eq!(g.remote, "https://github.com/moby/buildkit.git");
        assert_eq!(g.reference.as_deref(), Some("v0.26"));
        assert_eq!(g.subdir.as_deref(), Some("frontend"));
        assert!(git_source("git@github.com:moby/buildkit").is_some());
        assert!(git_source("https://example.com/file.tar").is_none());
        assert!(is_http("https://example.com/file.tar"));
    }

    #[test]
    fn parents_pivot() {
        let (dir, include, required) = parents_selection("src/./app/main.go");
        assert_eq!(dir, "src");
        assert_eq!(include, ["app/main.go"]);
        assert_eq!(required, ["/src/app/main.go"]);
        let (dir, include, required) = parents_selection("a/*/c");
        assert_eq!((dir.as_str(), include[0].as_str()), ("/", "a/*/c"));
        assert!(required.is_empty());
    }
}
