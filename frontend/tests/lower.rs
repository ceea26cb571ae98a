//! The lowering's semantic rules, through the public API.

use std::collections::BTreeMap;

use kiln_frontend::definition::{BuildDefinition, FileAction, Image, MountKind, Op, Platform};
use kiln_frontend::lower::{
    lower, BuildOptions, ImageResolver, Lowered, NoResolver, ResolvedImage,
};
use kiln_frontend::reference::Reference;
use kiln_frontend::{Error, Result};

fn host() -> Platform {
    Platform::new("linux", "amd64", "")
}

fn opts() -> BuildOptions {
    BuildOptions::new(host())
}

fn lowered(dockerfile: &str) -> Lowered {
    lower(dockerfile, &opts(), &NoResolver).unwrap_or_else(|e| panic!("{e:?}"))
}

fn lowered_with(dockerfile: &str, o: &BuildOptions) -> Lowered {
    lower(dockerfile, o, &NoResolver).unwrap_or_else(|e| panic!("{e:?}"))
}

fn error(dockerfile: &str) -> Error {
    lower(dockerfile, &opts(), &NoResolver).expect_err("must fail")
}

fn env(def: &BuildDefinition) -> Vec<String> {
    def.image.config.env.clone().unwrap_or_default()
}

fn execs(def: &BuildDefinition) -> Vec<&kiln_frontend::definition::Exec> {
    def.ops
        .iter()
        .filter_map(|n| match &n.op {
            Op::Exec(e) => Some(e),
            _ => None,
        })
        .collect()
}

fn images(def: &BuildDefinition) -> Vec<String> {
    def.ops
        .iter()
        .filter_map(|n| match &n.op {
            Op::Image(i) => Some(i.reference.clone()),
            _ => None,
        })
        .collect()
}

/// A resolver that knows a few images.
struct Images(BTreeMap<String, Image>);

impl ImageResolver for Images {
    fn resolve(&self, r: &Reference, _: &Platform) -> Result<Option<ResolvedImage>> {
        match self.0.get(&r.to_string()) {
            Some(config) => Ok(Some(ResolvedImage {
                reference: format!("{r}@sha256:{}", "a".repeat(64)),
                config: config.clone(),
            })),
            None => Err(Error::new("pull access denied, repository does not exist")),
        }
    }
}

fn base_image(f: impl FnOnce(&mut Image)) -> Image {
    let mut img = Image::empty(&host());
    img.rootfs.diff_ids = vec![format!("sha256:{}", "b".repeat(64))];
    f(&mut img);
    img
}

#[test]
fn global_args_in_from_with_build_arg_override() {
    let df = "ARG BASE=alpine\nARG TAG=3.19\nFROM ${BASE}:${TAG}\n";
    assert_eq!(
        images(&lowered(df).definition),
        ["docker.io/library/alpine:3.19"]
    );
    let mut o = opts();
    o.build_args.insert("TAG".into(), "3.20".into());
    assert_eq!(
        images(&lowered_with(df, &o).definition),
        ["docker.io/library/alpine:3.20"]
    );
}

#[test]
fn global_arg_redeclared_in_stage_inherits_value_but_not_otherwise() {
    let df = "ARG V=1\nFROM scratch\nRUN echo a$V\nARG V\nRUN echo b$V\n";
    let l = lowered(df);
    let e = execs(&l.definition);
    assert!(
        !e[0].env.iter().any(|kv| kv.starts_with("V=")),
        "{:?}",
        e[0].env
    );
    assert!(e[1].env.contains(&"V=1".to_string()), "{:?}", e[1].env);
    // ARG values never reach the image config.
    assert!(!env(&l.definition).iter().any(|kv| kv.starts_with("V=")));
    let history: Vec<&str> = l
        .definition
        .image
        .history
        .iter()
        .map(|h| h.created_by.as_str())
        .collect();
    assert_eq!(history[1], "ARG V=1");
    assert_eq!(history[2], "RUN |1 V=1 /bin/sh -c echo b$V # buildkit");
}

#[test]
fn automatic_platform_args() {
    let df =
        "FROM scratch\nARG TARGETARCH\nARG BUILDPLATFORM\nRUN echo $TARGETARCH $BUILDPLATFORM\n";
    let l = lowered(df);
    let e = execs(&l.definition)[0];
    assert!(e.env.contains(&"TARGETARCH=amd64".to_string()));
    assert!(e.env.contains(&"BUILDPLATFORM=linux/amd64".to_string()));
    // Not declared in the stage: not visible.
    let l = lowered("FROM scratch\nRUN echo $TARGETOS\nENV OS=$TARGETOS\n");
    assert!(!execs(&l.definition)[0]
        .env
        .iter()
        .any(|kv| kv.starts_with("TARGETOS")));
    let undefined: Vec<_> = l
        .warnings
        .iter()
        .filter(|w| w.rule == "UndefinedVar")
        .collect();
    assert_eq!(
        undefined.len(),
        1,
        "RUN text is not expanded by the frontend, ENV is"
    );
    assert_eq!(
        undefined[0].message,
        "Usage of undefined variable '$TARGETOS'"
    );
    assert_eq!(undefined[0].range.start_line, 3);
}

#[test]
fn env_is_visible_to_later_instructions() {
    let l = lowered("FROM scratch\nENV APP=/srv/app\nWORKDIR $APP\nCOPY a ${APP}/\n");
    assert_eq!(l.definition.image.config.working_dir, "/srv/app");
    let copy = l
        .definition
        .ops
        .iter()
        .find_map(|n| match &n.op {
            Op::File(f) => f.actions.iter().find_map(|a| match a {
                FileAction::Copy(c) => Some(c.dest.clone()),
                _ => None,
            }),
            _ => None,
        })
        .unwrap();
    assert_eq!(copy, "/srv/app/");
}

#[test]
fn stages_by_name_case_insensitive_index_and_image() {
    let df = "FROM alpine AS Build\nRUN make\nFROM scratch\nCOPY --from=build /a /a\nCOPY --from=0 /b /b\nCOPY --from=busybox:1.36 /bin/busybox /bin/\n";
    let l = lowered(df);
    let imgs = images(&l.definition);
    assert!(imgs.contains(&"docker.io/library/alpine:latest".to_string()));
    assert!(imgs.contains(&"docker.io/library/busybox:1.36".to_string()));
    assert_eq!(execs(&l.definition).len(), 1);
}

#[test]
fn from_a_previous_stage_inherits_its_state() {
    let df = "FROM scratch AS base\nENV A=1\nWORKDIR /w\nUSER nobody\nFROM base\nRUN id\n";
    let l = lowered(df);
    let e = execs(&l.definition)[0];
    assert_eq!(e.cwd, "/w");
    assert_eq!(e.user, "nobody");
    assert!(e.env.contains(&"A=1".to_string()));
}

#[test]
fn target_selects_stage_and_unneeded_stages_are_dropped() {
    let df = "FROM alpine AS a\nRUN echo a\nFROM debian AS b\nRUN echo b\nFROM scratch AS c\nCOPY --from=a /x /x\n";
    let l = lowered(df);
    let imgs = images(&l.definition);
    assert_eq!(imgs, ["docker.io/library/alpine:latest"]);
    let mut o = opts();
    o.target = Some("B".into());
    let l = lowered_with(df, &o);
    assert_eq!(images(&l.definition), ["docker.io/library/debian:latest"]);
    o.target = Some("nope".into());
    let err = lower(df, &o, &NoResolver).unwrap_err();
    assert_eq!(err.message, "target stage \"nope\" could not be found");
    o.target = Some("bb".into());
    let err = lower(df, &o, &NoResolver).unwrap_err();
    assert_eq!(
        err.message,
        "target stage \"bb\" could not be found (did you mean b?)"
    );
}

#[test]
fn digests_are_stable_and_depend_on_args() {
    let df = "ARG V=1\nFROM alpine\nARG V\nRUN echo $V > /v\nCOPY . /src\n";
    let a = lowered(df).definition;
    let b = lowered(df).definition;
    assert_eq!(a, b);
    let root = |d: &BuildDefinition| d.ops[d.root.unwrap()].digest.clone();
    let mut o = opts();
    o.build_args.insert("V".into(), "2".into());
    let c = lowered_with(df, &o).definition;
    assert_ne!(root(&a), root(&c));
    // Digests are hex sha256 and the graph is in dependency order.
    for (i, node) in a.ops.iter().enumerate() {
        assert!(node.digest.starts_with("sha256:") && node.digest.len() == 71);
        assert!(node.inputs.iter().all(|&input| input < i));
    }
}

#[test]
fn cmd_entrypoint_and_shell_rules() {
    let base = base_image(|img| img.config.cmd = Some(vec!["base-cmd".into()]));
    let resolver = Images(BTreeMap::from([(
        "docker.io/library/app:1".to_string(),
        base,
    )]));
    let l = lower("FROM app:1\nENTRYPOINT [\"/run\"]\n", &opts(), &resolver).unwrap();
    assert_eq!(
        l.definition.image.config.cmd, None,
        "ENTRYPOINT resets an inherited CMD"
    );
    let l = lower(
        "FROM app:1\nCMD [\"x\"]\nENTRYPOINT /run me\n",
        &opts(),
        &resolver,
    )
    .unwrap();
    assert_eq!(
        l.definition.image.config.cmd.as_deref(),
        Some(&["x".to_string()][..])
    );
    assert_eq!(
        l.definition.image.config.entrypoint.as_deref(),
        Some(&["/bin/sh".to_string(), "-c".into(), "/run me".into()][..])
    );
    let l = lowered("FROM scratch\nSHELL [\"/bin/bash\", \"-c\"]\nRUN echo hi\nCMD echo hi\n");
    assert_eq!(execs(&l.definition)[0].args, ["/bin/bash", "-c", "echo hi"]);
    assert_eq!(
        l.definition.image.config.cmd.as_ref().unwrap()[0],
        "/bin/bash"
    );
}

#[test]
fn base_image_config_is_inherited_and_pinned() {
    let base = base_image(|img| {
        img.config.env = Some(vec!["PATH=/custom/bin".into(), "LANG=C".into()]);
        img.config.working_dir = "/home".into();
        img.config.user = "app".into();
    });
    let resolver = Images(BTreeMap::from([(
        "docker.io/library/app:1".to_string(),
        base,
    )]));
    let l = lower("FROM app:1\nRUN pwd\n", &opts(), &resolver).unwrap();
    let e = execs(&l.definition)[0];
    assert_eq!((e.cwd.as_str(), e.user.as_str()), ("/home", "app"));
    assert_eq!(e.env, ["PATH=/custom/bin", "LANG=C"]);
    assert!(images(&l.definition)[0].ends_with(&format!("@sha256:{}", "a".repeat(64))));
}

#[test]
fn onbuild_triggers_of_base_images_and_stages_run() {
    let base = base_image(|img| img.config.on_build = Some(vec!["RUN echo triggered".into()]));
    let resolver = Images(BTreeMap::from([(
        "docker.io/library/app:1".to_string(),
        base,
    )]));
    let l = lower("FROM app:1\nRUN echo own\n", &opts(), &resolver).unwrap();
    let args: Vec<String> = execs(&l.definition)
        .iter()
        .map(|e| e.args[2].clone())
        .collect();
    assert_eq!(args, ["echo triggered", "echo own"]);
    assert_eq!(
        l.definition.image.config.on_build, None,
        "triggers do not carry over"
    );

    let df = "FROM scratch AS base\nONBUILD COPY --from=helper /x /x\nFROM scratch AS helper\nFROM base\n";
    let l = lowered(df);
    assert!(
        l.definition
            .ops
            .iter()
            .any(|n| n.meta.name.contains("ONBUILD COPY --from=helper")),
        "{}",
        l.definition.render()
    );
}

#[test]
fn run_mounts_and_network() {
    let df = "FROM scratch AS src\nFROM scratch\nRUN --network=none --mount=type=cache,target=/c,id=c1,sharing=locked \
              --mount=type=bind,from=src,source=/s,target=t \
              --mount=type=secret,id=tok,env=TOKEN --mount=type=tmpfs,target=/tmp true\n";
    let l = lowered(df);
    let e = execs(&l.definition)[0];
    assert_eq!(e.network, kiln_frontend::definition::Network::None);
    let kinds: Vec<(&str, &MountKind)> = e
        .mounts
        .iter()
        .map(|m| (m.target.as_str(), &m.kind))
        .collect();
    assert!(matches!(kinds[0], ("/", MountKind::Root)));
    assert!(matches!(kinds[1], ("/c", MountKind::Cache { id, .. }) if id == "c1"));
    assert!(matches!(kinds[2], ("/t", MountKind::Bind)));
    assert!(matches!(kinds[3], ("/tmp", MountKind::Tmpfs { .. })));
    assert_eq!(e.secret_env[0].name, "TOKEN");
    assert!(l
        .definition
        .ops
        .iter()
        .any(|n| n.meta.name.contains("****") || !n.meta.name.contains("TOKEN=")));
}

#[test]
fn labels_expose_volume_history() {
    let mut o = opts();
    o.labels.insert("from.cli".into(), "yes".into());
    let l = lowered_with(
        "FROM scratch\nLABEL a=b \"c d\"=e\nEXPOSE 80 53/udp\nVOLUME /data\nSTOPSIGNAL SIGINT\n",
        &o,
    );
    let c = &l.definition.image.config;
    assert_eq!(
        c.labels.as_ref().unwrap().get("c d").map(String::as_str),
        Some("e")
    );
    assert_eq!(
        c.labels
            .as_ref()
            .unwrap()
            .get("from.cli")
            .map(String::as_str),
        Some("yes")
    );
    assert!(c.exposed_ports.as_ref().unwrap().contains_key("53/udp"));
    assert!(c.volumes.as_ref().unwrap().contains_key("/data"));
    assert_eq!(c.stop_signal, "SIGINT");
    let history: Vec<&str> = l
        .definition
        .image
        .history
        .iter()
        .map(|h| h.created_by.as_str())
        .collect();
    assert_eq!(
        history,
        [
            "LABEL a=b c d=e",
            "EXPOSE [53/udp 80/tcp]",
            "VOLUME [/data]",
            "STOPSIGNAL SIGINT"
        ]
    );
}

#[test]
fn errors_name_the_problem_and_the_line() {
    let cases: &[(&str, &str, Option<usize>)] = &[
        ("", "the Dockerfile cannot be empty", None),
        ("# only a comment\n", "file with no instructions", None),
        ("RUN true\n", "no build stage in current context", Some(1)),
        (
            "FROM scratch\nFROMM x\n",
            "unknown instruction: FROMM",
            Some(2),
        ),
        (
            "FROM scratch\nCOPY --fromm=x a b\n",
            "unknown flag: --fromm",
            Some(2),
        ),
        (
            "FROM scratch\nRUN <<EOF\necho\n",
            "unterminated heredoc",
            Some(2),
        ),
        (
            "FROM scratch AS a\nCOPY --from=b x y\nFROM scratch AS b\nCOPY --from=a x y\n",
            "circular dependency detected on stage: a",
            None,
        ),
        (
            "FROM scratch\nCOPY --from=0 x y\n",
            "circular dependency detected",
            None,
        ),
        (
            "FROM scratch\nCOPY --from=5 x y\n",
            "invalid stage index 5",
            Some(2),
        ),
        (
            "FROM scratch\nCOPY --chmod=999 a b\n",
            "invalid chmod parameter: '999'",
            Some(2),
        ),
        (
            "FROM scratch\nCOPY --from=$X a b\n",
            "variable expansion is not supported for --from",
            Some(2),
        ),
        (
            "FROM $NOPE\n",
            "base name ($NOPE) should not be blank",
            Some(1),
        ),
        (
            "FROM scratch\nSTOPSIGNAL SIGNOPE\n",
            "Invalid signal: SIGNOPE",
            Some(2),
        ),
        (
            "FROM scratch\nEXPOSE 80/xyz\n",
            "invalid proto: xyz",
            Some(2),
        ),
        (
            "FROM scratch\nCOPY https://x/y /y\n",
            "source can't be a URL for COPY",
            Some(2),
        ),
        (
            "FROM scratch\nADD --checksum=sha256:00 a /a\n",
            "checksum requires HTTP(S) or Git sources",
            Some(2),
        ),
        (
            "FROM scratch\nRUN --mount=type=bind,target=/ true\n",
            "invalid mount target \"/\"",
            Some(2),
        ),
    ];
    for (df, want, line) in cases {
        let err = error(df);
        assert!(
            err.message.contains(want),
            "{df:?}: got {:?}, want {want:?}",
            err.message
        );
        if let Some(line) = line {
            assert_eq!(
                err.range.map(|r| r.start_line),
                Some(*line),
                "{df:?}: {err:?}"
            );
        }
    }
}

#[test]
fn unknown_image_in_from_reports_the_resolver_error_with_a_suggestion() {
    let resolver = Images(BTreeMap::new());
    let err = lower(
        "FROM scratch AS build\nFROM scratch\nCOPY --from=biuld /a /a\n",
        &opts(),
        &resolver,
    )
    .unwrap_err();
    assert!(
        err.message.starts_with("biuld: pull access denied"),
        "{}",
        err.message
    );
    assert!(
        err.message.ends_with("(did you mean build?)"),
        "{}",
        err.message
    );
    assert_eq!(err.range.map(|r| r.start_line), Some(3));
}

#[test]
fn warnings_carry_rule_message_and_line() {
    let l = lowered("from scratch AS Build\nMAINTAINER me\nENV key value\nCMD echo\nCMD echo\nWORKDIR rel\nARG API_TOKEN=x\n");
    let found: Vec<(&str, usize)> = l
        .warnings
        .iter()
        .map(|w| (w.rule, w.range.start_line))
        .collect();
    for expected in [
        ("StageNameCasing", 1),
        ("FromAsCasing", 1),
        ("MaintainerDeprecated", 2),
        ("LegacyKeyValueFormat", 3),
        ("JSONArgsRecommended", 4),
        ("MultipleInstructionsDisallowed", 4),
        ("WorkdirRelativePath", 6),
        ("SecretsUsedInArgOrEnv", 7),
        ("ConsistentInstructionCasing", 1),
    ] {
        assert!(
            found.contains(&expected),
            "missing {expected:?} in {found:?}"
        );
    }
    let skip = lowered("# check=skip=all\nFROM scratch\nMAINTAINER me\n");
    assert!(skip.warnings.is_empty(), "{:?}", skip.warnings);
    let err = lower(
        "# check=error=true\nFROM scratch\nMAINTAINER me\n",
        &opts(),
        &NoResolver,
    )
    .unwrap_err();
    assert!(
        err.message.contains("MaintainerDeprecated"),
        "{}",
        err.message
    );
}

#[test]
fn proxy_args_reach_run_without_being_declared_or_cached() {
    let df = "FROM scratch\nRUN fetch\n";
    let plain = lowered(df);
    let mut o = opts();
    o.build_args
        .insert("https_proxy".into(), "http://proxy:3128".into());
    let proxied = lowered_with(df, &o);
    let e = execs(&proxied.definition)[0];
    assert_eq!(
        e.proxy_env,
        [
            "HTTPS_PROXY=http://proxy:3128",
            "https_proxy=http://proxy:3128"
        ]
    );
    assert!(!e
        .env
        .iter()
        .any(|kv| kv.to_lowercase().starts_with("https_proxy")));
    // Not part of the cache key, not in the history.
    let root = |d: &BuildDefinition| d.ops[d.root.unwrap()].digest.clone();
    assert_eq!(root(&plain.definition), root(&proxied.definition));
    assert!(!proxied
        .definition
        .image
        .history
        .iter()
        .any(|h| h.created_by.contains("proxy")));
}
