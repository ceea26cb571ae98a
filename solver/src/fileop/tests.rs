//! File operations end to end on real directories (the tests run as root,
//! as the solver does). Every attack test keeps a sentinel directory next
//! to the roots and checks it is untouched.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::*;

// ---------------------------------------------------------------- helpers

struct Env {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    dest: PathBuf,
    src: PathBuf,
    sentinel: PathBuf,
    before: BTreeMap<PathBuf, (u64, u32, i64)>,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().to_path_buf();
        let dest = base.join("dest");
        let src = base.join("src");
        let sentinel = base.join("sentinel");
        for d in [&dest, &src, &sentinel] {
            fs::create_dir(d).unwrap();
        }
        fs::write(sentinel.join("secret"), "do not touch").unwrap();
        fs::create_dir(sentinel.join("etc")).unwrap();
        fs::write(sentinel.join("etc/passwd"), "sentinel:x:1:1::/:\n").unwrap();
        let before = snapshot(&sentinel);
        Env {
            _tmp: tmp,
            base,
            dest,
            src,
            sentinel,
            before,
        }
    }

    fn d(&self, p: &str) -> PathBuf {
        self.dest.join(p.trim_start_matches('/'))
    }

    fn s(&self, p: &str) -> PathBuf {
        self.src.join(p.trim_start_matches('/'))
    }

    /// Write a source file (parents created).
    fn src_file(&self, p: &str, data: &str) {
        let path = self.s(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, data).unwrap();
    }

    fn dest_file(&self, p: &str, data: &str) {
        let path = self.d(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, data).unwrap();
    }

    fn run(&self, actions: &[FileAction]) -> Result<(), FileOpError> {
        apply(
            &self.dest,
            actions,
            &[SourceRoot {
                dir: &self.src,
                exclude: None,
            }],
        )
    }

    fn run_ctx(
        &self,
        actions: &[FileAction],
        exclude: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<(), FileOpError> {
        apply(
            &self.dest,
            actions,
            &[SourceRoot {
                dir: &self.src,
                exclude: Some(exclude),
            }],
        )
    }

    /// Nothing next to the roots changed.
    fn assert_sentinel(&self) {
        assert_eq!(
            snapshot(&self.sentinel),
            self.before,
            "the sentinel directory changed"
        );
        let mut names: Vec<String> = fs::read_dir(&self.base)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["dest", "sentinel", "src"],
            "something was written next to the roots"
        );
    }
}

fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, u32, i64)> {
    let mut out = BTreeMap::new();
    fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, (u64, u32, i64)>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let m = fs::symlink_metadata(e.path()).unwrap();
            out.insert(e.path(), (m.len(), m.mode(), m.mtime()));
            if m.is_dir() {
                walk(&e.path(), out);
            }
        }
    }
    walk(dir, &mut out);
    out
}

fn copy(src: &str, dest: &str) -> CopyAction {
    CopyAction {
        source: Some(0),
        src: src.into(),
        dest: dest.into(),
        owner: None,
        mode: None,
        follow_symlinks: false,
        dir_contents_only: false,
        include_patterns: Vec::new(),
        exclude_patterns: Vec::new(),
        required_paths: Vec::new(),
        attempt_unpack: false,
        create_dest_path: true,
        allow_wildcard: false,
        allow_empty_wildcard: false,
        timestamp: None,
    }
}

/// A copy as the Dockerfile frontend makes it for `COPY src dest`.
fn docker_copy(src: &str, dest: &str) -> CopyAction {
    CopyAction {
        follow_symlinks: true,
        dir_contents_only: true,
        allow_wildcard: true,
        allow_empty_wildcard: true,
        ..copy(src, dest)
    }
}

fn add(src: &str, dest: &str) -> CopyAction {
    CopyAction {
        attempt_unpack: true,
        ..docker_copy(src, dest)
    }
}

fn c(a: CopyAction) -> FileAction {
    FileAction::Copy(a)
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

fn owner(p: &Path) -> (u32, u32) {
    let m = fs::symlink_metadata(p).unwrap();
    (m.uid(), m.gid())
}

fn mtime(p: &Path) -> i64 {
    fs::symlink_metadata(p).unwrap().mtime()
}

fn set_mtime(p: &Path, secs: i64) {
    let t = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: secs,
            tv_nsec: 0,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: secs,
            tv_nsec: 0,
        },
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        p,
        &t,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

fn lchown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid)).unwrap();
}

fn exists(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok()
}

fn err_text(r: Result<(), FileOpError>) -> String {
    r.expect_err("expected an error").to_string()
}

// ------------------------------------------------------- copy: placement

#[test]
fn fileop_file_into_dir_with_trailing_slash() {
    let env = Env::new();
    env.src_file("a.txt", "A");
    env.run(&[c(docker_copy("a.txt", "/out/sub/"))]).unwrap();
    assert_eq!(read(&env.d("out/sub/a.txt")), "A");
    assert_eq!(mode(&env.d("out")), 0o755);
}

#[test]
fn fileop_file_to_a_new_name_without_slash() {
    let env = Env::new();
    env.src_file("a.txt", "A");
    env.run(&[c(docker_copy("a.txt", "/out/renamed"))]).unwrap();
    assert_eq!(read(&env.d("out/renamed")), "A");
}

#[test]
fn fileop_file_onto_existing_dir_goes_inside() {
    let env = Env::new();
    env.src_file("a.txt", "A");
    fs::create_dir(env.d("existing")).unwrap();
    env.run(&[c(docker_copy("a.txt", "/existing"))]).unwrap();
    assert_eq!(read(&env.d("existing/a.txt")), "A");
}

#[test]
fn fileop_dot_slash_dest_means_directory() {
    let env = Env::new();
    env.src_file("a.txt", "A");
    env.run(&[c(docker_copy("a.txt", "/app/."))]).unwrap();
    assert_eq!(read(&env.d("app/a.txt")), "A");
}

#[test]
fn fileop_dir_contents_only_merges_contents() {
    let env = Env::new();
    env.src_file("dir/x", "X");
    env.src_file("dir/sub/y", "Y");
    env.dest_file("app/keep", "K");
    env.run(&[c(docker_copy("dir", "/app"))]).unwrap();
    assert_eq!(read(&env.d("app/x")), "X");
    assert_eq!(read(&env.d("app/sub/y")), "Y");
    assert_eq!(read(&env.d("app/keep")), "K");
    assert!(!exists(&env.d("app/dir")));
    // A missing destination is created.
    env.run(&[c(docker_copy("dir/", "/new"))]).unwrap();
    assert_eq!(read(&env.d("new/x")), "X");
}

#[test]
fn fileop_dir_itself_into_existing_dest() {
    let env = Env::new();
    env.src_file("dir/x", "X");
    fs::create_dir(env.d("app")).unwrap();
    env.run(&[c(copy("dir", "/app"))]).unwrap();
    assert_eq!(read(&env.d("app/dir/x")), "X");
    // Onto a missing dest it becomes the dest.
    env.run(&[c(copy("dir", "/other"))]).unwrap();
    assert_eq!(read(&env.d("other/x")), "X");
}

#[test]
fn fileop_root_of_source_copies_everything() {
    let env = Env::new();
    env.src_file("a", "A");
    env.src_file("d/b", "B");
    env.run(&[c(docker_copy(".", "/ctx/"))]).unwrap();
    assert_eq!(read(&env.d("ctx/a")), "A");
    assert_eq!(read(&env.d("ctx/d/b")), "B");
}

#[test]
fn fileop_multiple_sources_into_one_dir() {
    let env = Env::new();
    env.src_file("a", "A");
    env.src_file("b", "B");
    env.src_file("d/c", "C");
    env.run(&[
        c(docker_copy("a", "/m/")),
        c(docker_copy("b", "/m/")),
        c(docker_copy("d", "/m/")),
    ])
    .unwrap();
    assert_eq!(read(&env.d("m/a")), "A");
    assert_eq!(read(&env.d("m/b")), "B");
    assert_eq!(read(&env.d("m/c")), "C");
}

#[test]
fn fileop_create_dest_path_off_needs_the_parent() {
    let env = Env::new();
    env.src_file("a", "A");
    let mut a = docker_copy("a", "/missing/x");
    a.create_dest_path = false;
    let e = err_text(env.run(&[c(a.clone())]));
    assert!(e.contains("/missing/x"), "{e}");
    assert!(!exists(&env.d("missing")));
    fs::create_dir(env.d("missing")).unwrap();
    env.run(&[c(a)]).unwrap();
    assert_eq!(read(&env.d("missing/x")), "A");
}

#[test]
fn fileop_overwrite_and_type_conflicts() {
    let env = Env::new();
    env.src_file("f", "new");
    env.src_file("dir/inner", "I");
    env.dest_file("f", "old");
    env.run(&[c(docker_copy("f", "/f"))]).unwrap();
    assert_eq!(read(&env.d("f")), "new");

    // A file over a directory (inside a copied tree) fails as in BuildKit.
    env.src_file("tree/x", "file");
    fs::create_dir_all(env.d("t/x")).unwrap();
    let e = err_text(env.run(&[c(docker_copy("tree", "/t"))]));
    assert!(
        e.contains("/t/x") && e.contains("cannot replace directory"),
        "{e}"
    );

    // A directory over a file fails.
    env.src_file("tree2/sub/y", "Y");
    env.dest_file("t2/sub", "a file");
    let e = err_text(env.run(&[c(docker_copy("tree2", "/t2"))]));
    assert!(e.contains("cannot copy to non-directory: /t2/sub"), "{e}");

    // An existing symlink in the way is replaced, not followed.
    env.dest_file("target", "T");
    symlink("/target", env.d("lnk")).unwrap();
    env.src_file("w/lnk", "via copy");
    env.run(&[c(docker_copy("w", "/"))]).unwrap();
    assert_eq!(read(&env.d("lnk")), "via copy");
    assert!(!fs::symlink_metadata(env.d("lnk"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(read(&env.d("target")), "T");
}

#[test]
fn fileop_missing_source_is_an_error_naming_it() {
    let env = Env::new();
    let e = err_text(env.run(&[c(docker_copy("nope/file.txt", "/x"))]));
    assert_eq!(e, "/nope/file.txt: no such file or directory");
    // Nothing was written, even for an earlier action.
    env.src_file("a", "A");
    let r = env.run(&[
        c(docker_copy("a", "/first")),
        c(docker_copy("missing", "/x")),
    ]);
    assert!(r.is_err());
    assert!(!exists(&env.d("first")));
}

#[test]
fn fileop_source_index_out_of_range() {
    let env = Env::new();
    let mut a = docker_copy("a", "/x");
    a.source = Some(3);
    assert!(matches!(
        env.run(&[c(a)]),
        Err(FileOpError::NoSuchSource { index: 3, .. })
    ));
}

#[test]
fn fileop_scratch_source_makes_the_destination() {
    let env = Env::new();
    let mut a = docker_copy("/", "/empty/");
    a.source = None;
    env.run(&[c(a)]).unwrap();
    assert!(env.d("empty").is_dir());
    let mut a = docker_copy("/file", "/x");
    a.source = None;
    assert!(matches!(
        env.run(&[c(a)]),
        Err(FileOpError::NotFound { .. })
    ));
}

// --------------------------------------------------------------- wildcards

#[test]
fn fileop_wildcards_match_per_component() {
    let env = Env::new();
    env.src_file("a.txt", "A");
    env.src_file("b.txt", "B");
    env.src_file("c.md", "C");
    env.src_file("sub/d.txt", "D");
    env.src_file("d1/x.txt", "X1");
    env.src_file("d2/x.txt", "X2");
    env.src_file("d2/y.txt", "Y2");
    env.run(&[c(docker_copy("*.txt", "/w/"))]).unwrap();
    assert_eq!(read(&env.d("w/a.txt")), "A");
    assert_eq!(read(&env.d("w/b.txt")), "B");
    assert!(!exists(&env.d("w/c.md")));
    assert!(!exists(&env.d("w/d.txt")));
    env.run(&[c(docker_copy("d?/x.[t]xt", "/m/"))]).unwrap();
    // Both match; the second overwrites the first (same name).
    assert_eq!(read(&env.d("m/x.txt")), "X2");
    assert!(!exists(&env.d("m/y.txt")));
}

#[test]
fn fileop_wildcard_matching_dirs_copies_their_contents() {
    let env = Env::new();
    env.src_file("pkg1/a", "A");
    env.src_file("pkg2/b", "B");
    env.run(&[c(docker_copy("pkg*", "/out/"))]).unwrap();
    assert_eq!(read(&env.d("out/a")), "A");
    assert_eq!(read(&env.d("out/b")), "B");
}

#[test]
fn fileop_wildcard_matching_nothing() {
    let env = Env::new();
    env.src_file("a", "A");
    // The Dockerfile's COPY allows it.
    env.run(&[c(docker_copy("*.none", "/w/"))]).unwrap();
    assert!(!exists(&env.d("w")));
    let mut strict = docker_copy("*.none", "/w/");
    strict.allow_empty_wildcard = false;
    let e = err_text(env.run(&[c(strict)]));
    assert!(e.contains("/*.none"), "{e}");
    // Without allow_wildcard the characters are literal.
    env.src_file("lit*", "L");
    env.run(&[c(copy("lit*", "/lit"))]).unwrap();
    assert_eq!(read(&env.d("lit")), "L");
}

#[test]
fn fileop_wildcard_follows_matched_symlinks() {
    let env = Env::new();
    env.src_file("lib.so.1", "ELF");
    symlink("lib.so.1", env.s("lib.so")).unwrap();
    env.run(&[c(docker_copy("lib.so*", "/l/"))]).unwrap();
    assert_eq!(read(&env.d("l/lib.so")), "ELF");
    assert!(!fs::symlink_metadata(env.d("l/lib.so"))
        .unwrap()
        .file_type()
        .is_symlink());
}

// --------------------------------------------------------------- ownership

fn passwd_root(env: &Env) {
    env.dest_file(
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\nkilnuser:x:4242:4343::/home/k:/bin/sh\n",
    );
    env.dest_file("etc/group", "root:x:0:\nkilngrp:x:5151:\n");
}

#[test]
fn fileop_chown_by_name_from_the_destination_passwd() {
    let env = Env::new();
    passwd_root(&env);
    env.src_file("d/f", "F");
    let mut a = docker_copy("d", "/new/deep/");
    a.owner = Some(Chown {
        user: IdRef::Name("kilnuser".into()),
        group: None,
    });
    env.run(&[c(a)]).unwrap();
    assert_eq!(owner(&env.d("new/deep/f")), (4242, 4343));
    // The created parents get the owner too.
    assert_eq!(owner(&env.d("new")), (4242, 4343));
    assert_eq!(owner(&env.d("new/deep")), (4242, 4343));

    let mut a = docker_copy("d/f", "/g");
    a.owner = Some(Chown {
        user: IdRef::Name("kilnuser".into()),
        group: Some(IdRef::Name("kilngrp".into())),
    });
    env.run(&[c(a)]).unwrap();
    assert_eq!(owner(&env.d("g")), (4242, 5151));
}

#[test]
fn fileop_chown_numeric_and_root() {
    let env = Env::new();
    env.src_file("f", "F");
    let mut a = docker_copy("f", "/n1");
    a.owner = Some(Chown {
        user: IdRef::Id(1234),
        group: None,
    });
    let mut b = docker_copy("f", "/n2");
    b.owner = Some(Chown {
        user: IdRef::Id(1234),
        group: Some(IdRef::Id(99)),
    });
    // No passwd in this root: `root` needs none.
    let mut r = docker_copy("f", "/n3");
    r.owner = Some(Chown {
        user: IdRef::Name("root".into()),
        group: Some(IdRef::Name("root".into())),
    });
    env.run(&[c(a), c(b), c(r)]).unwrap();
    assert_eq!(owner(&env.d("n1")), (1234, 1234));
    assert_eq!(owner(&env.d("n2")), (1234, 99));
    assert_eq!(owner(&env.d("n3")), (0, 0));
}

#[test]
fn fileop_chown_unknown_names_fail() {
    let env = Env::new();
    passwd_root(&env);
    env.src_file("f", "F");
    let mut a = docker_copy("f", "/x");
    a.owner = Some(Chown {
        user: IdRef::Name("nobody-here".into()),
        group: None,
    });
    assert_eq!(
        err_text(env.run(&[c(a)])),
        "unable to find user nobody-here: no matching entries in passwd file"
    );
    let mut a = docker_copy("f", "/x");
    a.owner = Some(Chown {
        user: IdRef::Id(1),
        group: Some(IdRef::Name("nogroup-here".into())),
    });
    assert_eq!(
        err_text(env.run(&[c(a)])),
        "unable to find group nogroup-here: no matching entries in group file"
    );
    assert!(!exists(&env.d("x")));
}

#[test]
fn fileop_chown_reads_passwd_inside_the_root_only() {
    // /etc in the image is a symlink to / (absolute): the lookup must read
    // the image's /passwd, never the host's /etc/passwd or the sentinel's.
    let env = Env::new();
    symlink("/", env.d("etc")).unwrap();
    fs::write(env.d("passwd"), "inimage:x:777:778::/:\n").unwrap();
    env.src_file("f", "F");
    let mut a = docker_copy("f", "/x");
    a.owner = Some(Chown {
        user: IdRef::Name("inimage".into()),
        group: None,
    });
    env.run(&[c(a)]).unwrap();
    assert_eq!(owner(&env.d("x")), (777, 778));
    // `sentinel` only exists in the sentinel's passwd (../sentinel/etc).
    fs::remove_file(env.d("etc")).unwrap();
    symlink("../../sentinel/etc", env.d("etc")).unwrap();
    let mut a = docker_copy("f", "/y");
    a.owner = Some(Chown {
        user: IdRef::Name("sentinel".into()),
        group: None,
    });
    assert!(matches!(env.run(&[c(a)]), Err(FileOpError::UnknownUser(_))));
    env.assert_sentinel();
}

#[test]
fn fileop_owner_kept_from_a_stage_reset_from_the_context() {
    let env = Env::new();
    env.src_file("d/f", "F");
    lchown(&env.s("d/f"), 1500, 1600);
    lchown(&env.s("d"), 1500, 1600);
    env.run(&[c(docker_copy("d", "/stage/"))]).unwrap();
    assert_eq!(owner(&env.d("stage/f")), (1500, 1600));
    env.run_ctx(&[c(docker_copy("d", "/ctx/"))], &|_| false)
        .unwrap();
    assert_eq!(owner(&env.d("ctx/f")), (0, 0));
    // The existing top directory keeps its owner.
    assert_eq!(owner(&env.d("ctx")), (0, 0));
}

// ------------------------------------------------------------------ modes

#[test]
fn fileop_modes_preserved_including_special_bits() {
    let env = Env::new();
    env.src_file("d/suid", "S");
    env.src_file("d/plain", "P");
    fs::create_dir(env.s("d/sticky")).unwrap();
    fs::set_permissions(env.s("d/suid"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::set_permissions(env.s("d/plain"), fs::Permissions::from_mode(0o640)).unwrap();
    fs::set_permissions(env.s("d/sticky"), fs::Permissions::from_mode(0o1777)).unwrap();
    env.run(&[c(docker_copy("d", "/m"))]).unwrap();
    assert_eq!(mode(&env.d("m/suid")), 0o4755);
    assert_eq!(mode(&env.d("m/plain")), 0o640);
    assert_eq!(mode(&env.d("m/sticky")), 0o1777);
}

#[test]
fn fileop_chmod_octal_applies_to_files_and_dirs() {
    let env = Env::new();
    env.src_file("d/f", "F");
    env.src_file("d/sub/g", "G");
    let mut a = docker_copy("d", "/a/b/");
    a.mode = Some(Chmod::Octal(0o4751));
    env.run(&[c(a)]).unwrap();
    assert_eq!(mode(&env.d("a/b/f")), 0o4751);
    assert_eq!(mode(&env.d("a/b/sub/g")), 0o4751);
    // BuildKit gives the mode to copied directories too...
    assert_eq!(mode(&env.d("a/b/sub")), 0o4751);
    // ...and its permission bits to the directories it creates.
    assert_eq!(mode(&env.d("a")), 0o751);
    assert_eq!(mode(&env.d("a/b")), 0o751);
    let mut bad = docker_copy("d", "/x");
    bad.mode = Some(Chmod::Octal(0o17777));
    assert!(matches!(
        env.run(&[c(bad)]),
        Err(FileOpError::InvalidMode { .. })
    ));
}

#[test]
fn fileop_chmod_symbolic_per_entry() {
    let env = Env::new();
    env.src_file("d/exe", "E");
    env.src_file("d/doc", "D");
    fs::set_permissions(env.s("d/exe"), fs::Permissions::from_mode(0o700)).unwrap();
    fs::set_permissions(env.s("d/doc"), fs::Permissions::from_mode(0o660)).unwrap();
    fs::create_dir(env.s("d/sub")).unwrap();
    fs::set_permissions(env.s("d/sub"), fs::Permissions::from_mode(0o700)).unwrap();
    let mut a = docker_copy("d", "/s");
    a.mode = Some(Chmod::Symbolic("go-w,a+X".into()));
    env.run(&[c(a)]).unwrap();
    assert_eq!(mode(&env.d("s/exe")), 0o711);
    assert_eq!(mode(&env.d("s/doc")), 0o640);
    assert_eq!(mode(&env.d("s/sub")), 0o711);
    let mut b = docker_copy("d/doc", "/t");
    b.mode = Some(Chmod::Symbolic("u+x,g-w,o=r".into()));
    env.run(&[c(b)]).unwrap();
    assert_eq!(mode(&env.d("t")), 0o744);
    let mut bad = docker_copy("d", "/x");
    bad.mode = Some(Chmod::Symbolic("q+x".into()));
    assert!(matches!(
        env.run(&[c(bad)]),
        Err(FileOpError::InvalidMode { .. })
    ));
}

// ----------------------------------------------------------------- symlinks

#[test]
fn fileop_follow_symlinks_only_for_the_named_source() {
    let env = Env::new();
    env.src_file("real/f", "F");
    symlink("real", env.s("alias")).unwrap();
    symlink("f", env.s("real/inner-link")).unwrap();
    symlink("real/f", env.s("flink")).unwrap();
    // Followed: the directory's contents, symlinks below kept.
    env.run(&[c(docker_copy("alias", "/a"))]).unwrap();
    assert_eq!(read(&env.d("a/f")), "F");
    assert_eq!(
        fs::read_link(env.d("a/inner-link")).unwrap(),
        Path::new("f")
    );
    // A followed file symlink is copied under the name it was given.
    env.run(&[c(docker_copy("flink", "/dir/"))]).unwrap();
    assert_eq!(read(&env.d("dir/flink")), "F");
    assert!(!fs::symlink_metadata(env.d("dir/flink"))
        .unwrap()
        .file_type()
        .is_symlink());
    // Not followed: the symlink itself.
    env.run(&[c(copy("flink", "/nf"))]).unwrap();
    assert_eq!(fs::read_link(env.d("nf")).unwrap(), Path::new("real/f"));
}

#[test]
fn fileop_source_symlinks_resolve_inside_the_source_root() {
    // A stage whose /secret -> /etc/shadow: following it reads the stage's
    // own /etc/shadow, never the host's.
    let env = Env::new();
    symlink("/etc/shadow", env.s("secret")).unwrap();
    symlink("../../../../../../sentinel/secret", env.s("up")).unwrap();
    let e = err_text(env.run(&[c(docker_copy("secret", "/x"))]));
    assert!(e.contains("no such file"), "{e}");
    assert!(env.run(&[c(docker_copy("up", "/y"))]).is_err());
    env.src_file("etc/shadow", "stage shadow");
    env.run(&[c(docker_copy("secret", "/x"))]).unwrap();
    assert_eq!(read(&env.d("x")), "stage shadow");
    // `..` in the source path stays inside the source root.
    let r = env.run(&[c(docker_copy("../../sentinel/secret", "/z"))]);
    assert!(matches!(r, Err(FileOpError::NotFound { .. })), "{r:?}");
    env.src_file("sentinel/secret", "inside");
    env.run(&[c(docker_copy("../../sentinel/secret", "/z"))])
        .unwrap();
    assert_eq!(read(&env.d("z")), "inside");
    // Symlinks copied as symlinks keep their (outside-pointing) text but
    // are never followed when written.
    env.run(&[c(copy("up", "/kept"))]).unwrap();
    assert!(fs::symlink_metadata(env.d("kept"))
        .unwrap()
        .file_type()
        .is_symlink());
    env.assert_sentinel();
}

#[test]
fn fileop_hardlinks_stay_linked() {
    let env = Env::new();
    env.src_file("h/a", "same");
    fs::hard_link(env.s("h/a"), env.s("h/b")).unwrap();
    fs::create_dir_all(env.s("h/x/y")).unwrap();
    fs::hard_link(env.s("h/a"), env.s("h/x/y/c")).unwrap();
    env.run(&[c(docker_copy("h", "/h"))]).unwrap();
    assert_eq!(
        fs::metadata(env.d("h/x/y/c")).unwrap().ino(),
        fs::metadata(env.d("h/a")).unwrap().ino()
    );
    assert_eq!(fs::metadata(env.d("h/a")).unwrap().nlink(), 3);
    let (a, b) = (
        fs::metadata(env.d("h/a")).unwrap(),
        fs::metadata(env.d("h/b")).unwrap(),
    );
    assert_eq!(a.ino(), b.ino());
    assert_eq!(read(&env.d("h/b")), "same");
}

#[test]
fn fileop_special_files_are_copied() {
    let env = Env::new();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        env.s("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o640),
        0,
    )
    .unwrap();
    env.run(&[c(docker_copy("fifo", "/p"))]).unwrap();
    let m = fs::symlink_metadata(env.d("p")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&m.file_type()));
    assert_eq!(m.mode() & 0o7777, 0o640);
}

// ----------------------------------------------------------- hidden paths

#[test]
fn fileop_excluded_paths_are_invisible() {
    let env = Env::new();
    env.src_file("keep.txt", "K");
    env.src_file("secret.txt", "S");
    env.src_file("node_modules/m/index.js", "M");
    env.src_file("docs/a.md", "A");
    symlink("secret.txt", env.s("to-secret")).unwrap();
    let exclude =
        |p: &str| p == "secret.txt" || p == "node_modules" || p.starts_with("node_modules/");
    env.run_ctx(&[c(docker_copy(".", "/app/"))], &exclude)
        .unwrap();
    assert!(exists(&env.d("app/keep.txt")));
    assert!(exists(&env.d("app/docs/a.md")));
    assert!(!exists(&env.d("app/secret.txt")));
    assert!(!exists(&env.d("app/node_modules")));
    // Named directly: not found.
    let e = err_text(env.run_ctx(&[c(docker_copy("secret.txt", "/x"))], &exclude));
    assert_eq!(e, "/secret.txt: no such file or directory");
    assert!(env
        .run_ctx(&[c(docker_copy("node_modules/m/index.js", "/x"))], &exclude)
        .is_err());
    // Through a symlink: not found either.
    assert!(env
        .run_ctx(&[c(docker_copy("to-secret", "/x"))], &exclude)
        .is_err());
    // Not matched by wildcards.
    env.run_ctx(&[c(docker_copy("*.txt", "/w/"))], &exclude)
        .unwrap();
    assert!(exists(&env.d("w/keep.txt")));
    assert!(!exists(&env.d("w/secret.txt")));
}

#[test]
fn fileop_required_paths() {
    let env = Env::new();
    env.src_file("a/b", "B");
    let mut ok = docker_copy("/", "/r/");
    ok.required_paths = vec!["/a/b".into()];
    env.run(&[c(ok)]).unwrap();
    let mut missing = docker_copy("/", "/r2/");
    missing.required_paths = vec!["/a/nope".into()];
    assert_eq!(
        err_text(env.run(&[c(missing)])),
        "/a/nope: no such file or directory"
    );
    assert!(!exists(&env.d("r2")));
}

// -------------------------------------------------------------- patterns

#[test]
fn fileop_parents_include_patterns_keep_structure() {
    // COPY --parents a/*/c.txt /dst/  (frontend: src "/", include pattern)
    let env = Env::new();
    env.src_file("a/x/c.txt", "1");
    env.src_file("a/y/c.txt", "2");
    env.src_file("a/y/other.txt", "no");
    env.src_file("b/c.txt", "no");
    let mut a = docker_copy("/", "/dst/");
    a.include_patterns = vec!["a/*/c.txt".into()];
    env.run(&[c(a)]).unwrap();
    assert_eq!(read(&env.d("dst/a/x/c.txt")), "1");
    assert_eq!(read(&env.d("dst/a/y/c.txt")), "2");
    assert!(!exists(&env.d("dst/a/y/other.txt")));
    assert!(!exists(&env.d("dst/b")));
}

#[test]
fn fileop_exclude_patterns() {
    let env = Env::new();
    env.src_file("d/a.log", "L");
    env.src_file("d/keep.log", "K");
    env.src_file("d/x.txt", "X");
    env.src_file("d/cache/big", "C");
    env.src_file("d/cache/wanted", "W");
    let mut a = docker_copy("d", "/e");
    a.exclude_patterns = vec![
        "*.log".into(),
        "!keep.log".into(),
        "cache".into(),
        "!cache/wanted".into(),
    ];
    env.run(&[c(a)]).unwrap();
    assert!(!exists(&env.d("e/a.log")));
    assert!(exists(&env.d("e/keep.log")));
    assert!(exists(&env.d("e/x.txt")));
    assert!(!exists(&env.d("e/cache/big")));
    assert!(exists(&env.d("e/cache/wanted")));
    let mut bad = docker_copy("d", "/f");
    bad.exclude_patterns = vec!["[".into()];
    assert!(matches!(
        env.run(&[c(bad)]),
        Err(FileOpError::InvalidPattern { .. })
    ));
}

// ------------------------------------------------------------- timestamps

#[test]
fn fileop_times_preserved_or_set_by_timestamp() {
    let env = Env::new();
    env.src_file("d/f", "F");
    env.src_file("d/sub/g", "G");
    set_mtime(&env.s("d/f"), 1_000_000);
    set_mtime(&env.s("d/sub/g"), 1_100_000);
    set_mtime(&env.s("d/sub"), 1_200_000);
    set_mtime(&env.s("d"), 1_300_000);
    env.run(&[c(docker_copy("d", "/keep/"))]).unwrap();
    assert_eq!(mtime(&env.d("keep/f")), 1_000_000);
    assert_eq!(mtime(&env.d("keep/sub/g")), 1_100_000);
    assert_eq!(mtime(&env.d("keep/sub")), 1_200_000);
    // The existing top directory takes the source directory's times.
    assert_eq!(mtime(&env.d("keep")), 1_300_000);

    let mut a = docker_copy("d", "/p/q/r/");
    a.timestamp = Some(1_700_000_000);
    symlink("f", env.s("d/link")).unwrap();
    env.run(&[c(a)]).unwrap();
    for p in [
        "p",
        "p/q",
        "p/q/r",
        "p/q/r/f",
        "p/q/r/sub",
        "p/q/r/sub/g",
        "p/q/r/link",
    ] {
        assert_eq!(mtime(&env.d(p)), 1_700_000_000, "{p}");
    }
}

#[test]
fn fileop_xattrs_are_copied() {
    let env = Env::new();
    env.src_file("x", "X");
    let path = std::ffi::CString::new(env.s("x").into_os_string().into_encoded_bytes()).unwrap();
    if rustix::fs::lsetxattr(
        path.as_c_str(),
        "user.kiln",
        b"yes",
        rustix::fs::XattrFlags::empty(),
    )
    .is_err()
    {
        eprintln!("skipping: no user xattrs on this filesystem");
        return;
    }
    env.run(&[c(docker_copy("x", "/x"))]).unwrap();
    let dest = std::ffi::CString::new(env.d("x").into_os_string().into_encoded_bytes()).unwrap();
    let mut buf = [0u8; 16];
    let n = rustix::fs::lgetxattr(dest.as_c_str(), "user.kiln", &mut buf[..]).unwrap();
    assert_eq!(&buf[..n], b"yes");
}

#[test]
fn fileop_large_file_is_streamed_intact() {
    let env = Env::new();
    let mut f = fs::File::create(env.s("big")).unwrap();
    let chunk: Vec<u8> = (0..=255u8).cycle().take(1 << 20).collect();
    for _ in 0..6 {
        f.write_all(&chunk).unwrap();
    }
    drop(f);
    env.run(&[c(docker_copy("big", "/big"))]).unwrap();
    assert_eq!(
        fs::read(env.d("big")).unwrap(),
        fs::read(env.s("big")).unwrap()
    );
}

// ----------------------------------------------------------- mkdir, mkfile

#[test]
fn fileop_mkdir() {
    let env = Env::new();
    passwd_root(&env);
    let a = FileAction::Mkdir(MkdirAction {
        path: "/w/x/y".into(),
        mode: 0o750,
        make_parents: true,
        owner: Some(Chown {
            user: IdRef::Name("kilnuser".into()),
            group: None,
        }),
        timestamp: Some(1_600_000_000),
    });
    env.run(std::slice::from_ref(&a)).unwrap();
    for p in ["w", "w/x", "w/x/y"] {
        assert_eq!(mode(&env.d(p)), 0o750, "{p}");
        assert_eq!(owner(&env.d(p)), (4242, 4343), "{p}");
        assert_eq!(mtime(&env.d(p)), 1_600_000_000, "{p}");
    }
    // Again: nothing to do.
    env.run(&[a]).unwrap();
    let no_parents = |path: &str| {
        FileAction::Mkdir(MkdirAction {
            path: path.into(),
            mode: 0o700,
            make_parents: false,
            owner: None,
            timestamp: None,
        })
    };
    assert!(env.run(&[no_parents("/missing/z")]).is_err());
    env.run(&[no_parents("/w/x/y")]).unwrap();
    env.run(&[no_parents("/solo")]).unwrap();
    assert_eq!(mode(&env.d("solo")), 0o700);
    // Over a file with parents: an error.
    env.dest_file("file", "F");
    let over = FileAction::Mkdir(MkdirAction {
        path: "/file/sub".into(),
        mode: 0o755,
        make_parents: true,
        owner: None,
        timestamp: None,
    });
    assert!(env.run(&[over]).is_err());
}

#[test]
fn fileop_mkfile() {
    let env = Env::new();
    passwd_root(&env);
    let a = FileAction::Mkfile(MkfileAction {
        path: "/etc/motd".into(),
        mode: 0o640,
        data: b"hello\n".to_vec(),
        owner: Some(Chown {
            user: IdRef::Id(5),
            group: Some(IdRef::Name("kilngrp".into())),
        }),
        timestamp: Some(1_500_000_000),
    });
    env.run(&[a]).unwrap();
    assert_eq!(read(&env.d("etc/motd")), "hello\n");
    assert_eq!(mode(&env.d("etc/motd")), 0o640);
    assert_eq!(owner(&env.d("etc/motd")), (5, 5151));
    assert_eq!(mtime(&env.d("etc/motd")), 1_500_000_000);
    // Overwriting keeps the existing mode (as os.WriteFile).
    let b = FileAction::Mkfile(MkfileAction {
        path: "/etc/motd".into(),
        mode: 0o600,
        data: b"x".to_vec(),
        owner: None,
        timestamp: None,
    });
    env.run(&[b]).unwrap();
    assert_eq!(read(&env.d("etc/motd")), "x");
    assert_eq!(mode(&env.d("etc/motd")), 0o640);
    let missing = FileAction::Mkfile(MkfileAction {
        path: "/no/dir/f".into(),
        mode: 0o600,
        data: Vec::new(),
        owner: None,
        timestamp: None,
    });
    assert!(env.run(&[missing]).is_err());
}

#[test]
fn fileop_actions_apply_in_order() {
    let env = Env::new();
    env.src_file("f", "F");
    let actions = [
        FileAction::Mkdir(MkdirAction {
            path: "/etc".into(),
            mode: 0o755,
            make_parents: true,
            owner: None,
            timestamp: None,
        }),
        FileAction::Mkfile(MkfileAction {
            path: "/etc/passwd".into(),
            mode: 0o644,
            data: b"late:x:321:322::/:\n".to_vec(),
            owner: None,
            timestamp: None,
        }),
        c(CopyAction {
            owner: Some(Chown {
                user: IdRef::Name("late".into()),
                group: None,
            }),
            ..docker_copy("f", "/f")
        }),
    ];
    env.run(&actions).unwrap();
    assert_eq!(owner(&env.d("f")), (321, 322));
}

// --------------------------------------------------------- attacks: dest

#[test]
fn fileop_attack_dest_through_symlink_to_root() {
    let env = Env::new();
    env.src_file("payload", "P");
    symlink("/", env.d("rootlink")).unwrap();
    env.run(&[c(docker_copy("payload", "/rootlink/etc/"))])
        .unwrap();
    assert_eq!(read(&env.d("etc/payload")), "P");
    env.assert_sentinel();
}

#[test]
fn fileop_attack_dest_through_relative_escape() {
    let env = Env::new();
    env.src_file("secret", "overwritten!");
    env.src_file("dir/secret", "overwritten!");
    symlink("../../..", env.d("up")).unwrap();
    symlink("../sentinel", env.d("sib")).unwrap();
    env.run(&[c(docker_copy("secret", "/up/sentinel/secret"))])
        .unwrap();
    env.run(&[c(docker_copy("secret", "/sib/"))]).unwrap();
    env.run(&[c(docker_copy("dir", "/up/up/sentinel"))])
        .unwrap();
    assert_eq!(read(&env.d("sentinel/secret")), "overwritten!");
    env.assert_sentinel();
}

#[test]
fn fileop_attack_dest_final_symlink_to_outside_file() {
    // The destination itself is a symlink to a host path: it is resolved
    // inside the root (BuildKit's RootPath), so the write lands there.
    let env = Env::new();
    env.src_file("f", "new");
    let outside = env.sentinel.join("secret");
    symlink(&outside, env.d("dst")).unwrap();
    env.run(&[c(docker_copy("f", "/dst"))]).unwrap();
    let inside = env.dest.join(outside.strip_prefix("/").unwrap());
    assert_eq!(read(&inside), "new");
    env.assert_sentinel();
}

#[test]
fn fileop_absolute_symlink_in_image_resolves_inside_root() {
    // A legitimate image layout: /usr/local/bin -> /opt/bin (absolute).
    let env = Env::new();
    fs::create_dir_all(env.d("opt/bin")).unwrap();
    fs::create_dir_all(env.d("usr/local")).unwrap();
    symlink("/opt/bin", env.d("usr/local/bin")).unwrap();
    env.src_file("tool", "T");
    env.run(&[c(docker_copy("tool", "/usr/local/bin/"))])
        .unwrap();
    assert_eq!(read(&env.d("opt/bin/tool")), "T");
    env.assert_sentinel();
}

#[test]
fn fileop_attack_symlinks_below_dest_are_not_followed() {
    // Copying a tree whose directory name is a symlink to outside in the
    // destination fails instead of writing through it; a file target that
    // is a symlink is replaced.
    let env = Env::new();
    env.src_file("tree/sub/f", "F");
    env.src_file("tree/file", "F2");
    fs::create_dir(env.d("app")).unwrap();
    symlink(env.sentinel.to_str().unwrap(), env.d("app/sub")).unwrap();
    symlink(
        env.sentinel.join("secret").to_str().unwrap(),
        env.d("app/file"),
    )
    .unwrap();
    let e = err_text(env.run(&[c(docker_copy("tree", "/app"))]));
    assert!(e.contains("non-directory"), "{e}");
    fs::remove_file(env.d("app/sub")).unwrap();
    env.run(&[c(docker_copy("tree", "/app"))]).unwrap();
    assert_eq!(read(&env.d("app/file")), "F2");
    env.assert_sentinel();
}

#[test]
fn fileop_attack_mkdir_and_mkfile_through_symlinks() {
    let env = Env::new();
    symlink("/../../../", env.d("evil")).unwrap();
    symlink("../../sentinel/secret", env.d("evilfile")).unwrap();
    let mk = FileAction::Mkdir(MkdirAction {
        path: "/evil/sentinel/new".into(),
        mode: 0o755,
        make_parents: true,
        owner: None,
        timestamp: None,
    });
    let mf = FileAction::Mkfile(MkfileAction {
        path: "/evilfile".into(),
        mode: 0o644,
        data: b"pwned".to_vec(),
        owner: None,
        timestamp: None,
    });
    let mf2 = FileAction::Mkfile(MkfileAction {
        path: "/evil/sentinel/secret".into(),
        mode: 0o644,
        data: b"pwned".to_vec(),
        owner: None,
        timestamp: None,
    });
    env.run(&[mk, mf, mf2]).unwrap();
    assert!(env.d("sentinel/new").is_dir());
    assert_eq!(read(&env.d("sentinel/secret")), "pwned");
    env.assert_sentinel();
}

#[test]
fn fileop_attack_symlink_loop_is_an_error() {
    let env = Env::new();
    symlink("loop2", env.d("loop1")).unwrap();
    symlink("loop1", env.d("loop2")).unwrap();
    env.src_file("f", "F");
    assert!(env.run(&[c(docker_copy("f", "/loop1/x"))]).is_err());
    env.assert_sentinel();
}

#[test]
fn fileop_resolver_walk_and_openat2_agree() {
    // The same layout resolved with the kernel's RESOLVE_IN_ROOT and with
    // the by-hand walk.
    let env = Env::new();
    fs::create_dir_all(env.d("a/b")).unwrap();
    symlink("/a", env.d("abs")).unwrap();
    symlink("../../../../a/b", env.d("a/rel")).unwrap();
    symlink(env.sentinel.to_str().unwrap(), env.d("host")).unwrap();
    for walk_only in [false, true] {
        let mut root = resolve::Root::open(&env.dest).unwrap();
        root.walk_only = walk_only;
        for (path, dir, rest) in [
            ("/abs/b/x", "a/b", vec!["x"]),
            ("/a/rel/y", "a/b", vec!["y"]),
            ("/host/secret", "", vec![]),
            ("/missing/p/q", "", vec!["missing", "p", "q"]),
        ] {
            let r = root.resolve(path, false).unwrap();
            let real = fs::read_link(format!(
                "/proc/self/fd/{}",
                std::os::fd::AsRawFd::as_raw_fd(&r.dir)
            ))
            .unwrap();
            if path == "/host/secret" {
                // host -> <sentinel> resolves to <dest>/<sentinel path>, missing.
                assert!(real.starts_with(&env.dest), "{path}: {}", real.display());
                continue;
            }
            assert_eq!(
                real,
                env.dest.join(dir).components().collect::<PathBuf>(),
                "{path} walk_only={walk_only}"
            );
            let rest_s: Vec<String> = r
                .rest
                .iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect();
            assert_eq!(rest_s, rest, "{path} walk_only={walk_only}");
        }
        let r = root.resolve("/abs", true).unwrap();
        assert_eq!(
            r.rest
                .iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect::<Vec<_>>(),
            ["a"]
        );
    }
    env.assert_sentinel();
}

// ----------------------------------------------------------------- unpack

/// A tar entry with a raw (possibly hostile) name.
fn tar_entry(
    b: &mut tar::Builder<Vec<u8>>,
    name: &[u8],
    kind: tar::EntryType,
    data: &[u8],
    link: &[u8],
    mode: u32,
) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(mode);
    h.set_uid(1000);
    h.set_gid(1001);
    h.set_mtime(1_234_567_890);
    {
        let bytes = h.as_mut_bytes();
        bytes[..100].fill(0);
        bytes[..name.len()].copy_from_slice(name);
        bytes[157..257].fill(0);
        bytes[157..157 + link.len()].copy_from_slice(link);
    }
    h.set_cksum();
    b.append(&h, data).unwrap();
}

fn sample_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    tar_entry(&mut b, b"pkg/", tar::EntryType::Directory, b"", b"", 0o750);
    tar_entry(
        &mut b,
        b"pkg/bin/tool",
        tar::EntryType::Regular,
        b"TOOL",
        b"",
        0o4755,
    );
    tar_entry(
        &mut b,
        b"pkg/readme",
        tar::EntryType::Regular,
        b"README",
        b"",
        0o644,
    );
    tar_entry(
        &mut b,
        b"pkg/link",
        tar::EntryType::Symlink,
        b"",
        b"readme",
        0o777,
    );
    tar_entry(
        &mut b,
        b"pkg/hard",
        tar::EntryType::Link,
        b"",
        b"pkg/readme",
        0o644,
    );
    b.into_inner().unwrap()
}

fn compress(kind: &str, data: &[u8]) -> Vec<u8> {
    match kind {
        "tar" => data.to_vec(),
        "gz" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "bz2" => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "xz" => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "zst" => zstd::encode_all(data, 3).unwrap(),
        _ => unreachable!(),
    }
}

#[test]
fn fileop_unpack_every_compression() {
    for kind in ["tar", "gz", "bz2", "xz", "zst"] {
        let env = Env::new();
        // Detected by content: the name says nothing.
        fs::write(env.s("archive.bin"), compress(kind, &sample_tar())).unwrap();
        env.run(&[c(add("archive.bin", "/opt/"))]).unwrap();
        assert_eq!(read(&env.d("opt/pkg/bin/tool")), "TOOL", "{kind}");
        assert_eq!(mode(&env.d("opt/pkg/bin/tool")), 0o4755, "{kind}");
        assert_eq!(owner(&env.d("opt/pkg/bin/tool")), (1000, 1001), "{kind}");
        assert_eq!(mtime(&env.d("opt/pkg/bin/tool")), 1_234_567_890, "{kind}");
        assert_eq!(mode(&env.d("opt/pkg")), 0o750, "{kind}");
        assert_eq!(mtime(&env.d("opt/pkg")), 1_234_567_890, "{kind}");
        // Implied parent directory.
        assert_eq!(mode(&env.d("opt/pkg/bin")), 0o755, "{kind}");
        assert_eq!(
            fs::read_link(env.d("opt/pkg/link")).unwrap(),
            Path::new("readme")
        );
        assert_eq!(
            fs::metadata(env.d("opt/pkg/hard")).unwrap().ino(),
            fs::metadata(env.d("opt/pkg/readme")).unwrap().ino(),
            "{kind}"
        );
    }
}

#[test]
fn fileop_unpack_into_a_path_without_slash_and_with_chown() {
    let env = Env::new();
    fs::write(env.s("a.tar.gz"), compress("gz", &sample_tar())).unwrap();
    let mut a = add("a.tar.gz", "/x");
    a.owner = Some(Chown {
        user: IdRef::Id(7),
        group: Some(IdRef::Id(8)),
    });
    a.timestamp = Some(1_650_000_000);
    env.run(&[c(a)]).unwrap();
    assert_eq!(read(&env.d("x/pkg/readme")), "README");
    assert_eq!(owner(&env.d("x/pkg/readme")), (7, 8));
    assert_eq!(owner(&env.d("x")), (7, 8));
    // Entries keep the archive's times; the created destination takes the timestamp.
    assert_eq!(mtime(&env.d("x/pkg/readme")), 1_234_567_890);
    assert_eq!(mtime(&env.d("x")), 1_650_000_000);
}

#[test]
fn fileop_unpack_non_archives_are_copied_as_files() {
    let env = Env::new();
    env.src_file("notes.tar.gz", "just text");
    fs::write(env.s("text.gz"), compress("gz", b"plain text, not a tar")).unwrap();
    fs::write(env.s("empty.tar"), [0u8; 1024]).unwrap();
    // Gzip magic, then garbage: not a valid stream, copied as is.
    fs::write(
        env.s("broken.gz"),
        [0x1F, 0x8B, 0x08, 0, 1, 2, 3, 4, 5, 6, 7, 8],
    )
    .unwrap();
    env.run(&[
        c(add("notes.tar.gz", "/o/")),
        c(add("text.gz", "/o/")),
        c(add("empty.tar", "/o/")),
        c(add("broken.gz", "/o/")),
    ])
    .unwrap();
    assert_eq!(read(&env.d("o/notes.tar.gz")), "just text");
    assert_eq!(
        fs::read(env.d("o/text.gz")).unwrap(),
        fs::read(env.s("text.gz")).unwrap()
    );
    assert_eq!(fs::read(env.d("o/empty.tar")).unwrap().len(), 1024);
    assert_eq!(fs::read(env.d("o/broken.gz")).unwrap().len(), 12);
    // COPY never unpacks.
    fs::write(env.s("real.tar"), sample_tar()).unwrap();
    env.run(&[c(docker_copy("real.tar", "/o/"))]).unwrap();
    assert!(env.d("o/real.tar").is_file());
}

#[test]
fn fileop_unpack_truncated_archive_is_an_error() {
    let env = Env::new();
    let mut t = sample_tar();
    // A valid first header, then the data of the second entry cut short.
    t.truncate(512 * 3 + 100);
    fs::write(env.s("cut.tar"), t).unwrap();
    let e = err_text(env.run(&[c(add("cut.tar", "/c/"))]));
    assert!(e.contains("unpacking /cut.tar"), "{e}");
}

#[test]
fn fileop_attack_archive_dotdot_names_fail() {
    let env = Env::new();
    let mut b = tar::Builder::new(Vec::new());
    tar_entry(&mut b, b"ok", tar::EntryType::Regular, b"fine", b"", 0o644);
    tar_entry(
        &mut b,
        b"a/../../../sentinel/secret",
        tar::EntryType::Regular,
        b"pwned",
        b"",
        0o644,
    );
    fs::write(env.s("evil.tar"), b.into_inner().unwrap()).unwrap();
    let e = err_text(env.run(&[c(add("evil.tar", "/x/"))]));
    assert!(e.contains("outside of the destination"), "{e}");
    env.assert_sentinel();
}

#[test]
fn fileop_attack_archive_absolute_names_stay_inside() {
    let env = Env::new();
    let mut b = tar::Builder::new(Vec::new());
    let abs = format!("{}/secret", env.sentinel.display());
    tar_entry(
        &mut b,
        abs.as_bytes(),
        tar::EntryType::Regular,
        b"pwned",
        b"",
        0o644,
    );
    tar_entry(
        &mut b,
        b"/etc/passwd",
        tar::EntryType::Regular,
        b"pwned",
        b"",
        0o644,
    );
    fs::write(env.s("abs.tar"), b.into_inner().unwrap()).unwrap();
    env.run(&[c(add("abs.tar", "/x/"))]).unwrap();
    assert_eq!(read(&env.d("x/etc/passwd")), "pwned");
    let inside = env
        .d("x")
        .join(env.sentinel.strip_prefix("/").unwrap())
        .join("secret");
    assert_eq!(read(&inside), "pwned");
    env.assert_sentinel();
}

#[test]
fn fileop_attack_archive_symlink_then_write_through() {
    let env = Env::new();
    let mut b = tar::Builder::new(Vec::new());
    // Plant symlinks, then write through them.
    tar_entry(&mut b, b"root", tar::EntryType::Symlink, b"", b"/", 0o777);
    tar_entry(
        &mut b,
        b"root/etc/pwned",
        tar::EntryType::Regular,
        b"1",
        b"",
        0o644,
    );
    tar_entry(
        &mut b,
        b"up",
        tar::EntryType::Symlink,
        b"",
        b"../../../../../../..",
        0o777,
    );
    tar_entry(
        &mut b,
        b"up/sentinel/secret",
        tar::EntryType::Regular,
        b"2",
        b"",
        0o644,
    );
    let host = env.sentinel.display().to_string();
    tar_entry(
        &mut b,
        b"host",
        tar::EntryType::Symlink,
        b"",
        host.as_bytes(),
        0o777,
    );
    tar_entry(
        &mut b,
        b"host/secret",
        tar::EntryType::Regular,
        b"3",
        b"",
        0o644,
    );
    // A symlink named like an existing file replaces it, then a file of
    // the same name replaces the symlink (never written through).
    tar_entry(
        &mut b,
        b"f",
        tar::EntryType::Symlink,
        b"",
        host.as_bytes(),
        0o777,
    );
    tar_entry(&mut b, b"f", tar::EntryType::Regular, b"4", b"", 0o644);
    fs::write(env.s("links.tar"), b.into_inner().unwrap()).unwrap();
    // The extraction directory also already holds a symlink to outside.
    fs::create_dir(env.d("x")).unwrap();
    symlink(env.sentinel.to_str().unwrap(), env.d("x/pre")).unwrap();
    env.run(&[c(add("links.tar", "/x/"))]).unwrap();
    assert_eq!(read(&env.d("x/etc/pwned")), "1");
    assert_eq!(read(&env.d("x/sentinel/secret")), "2");
    let inside = env
        .d("x")
        .join(env.sentinel.strip_prefix("/").unwrap())
        .join("secret");
    assert_eq!(read(&inside), "3");
    assert_eq!(read(&env.d("x/f")), "4");
    env.assert_sentinel();
}

#[test]
fn fileop_attack_archive_hardlinks_to_outside_fail() {
    let env = Env::new();
    for (i, target) in [&b"../../sentinel/secret"[..], b"a/../../x"]
        .iter()
        .enumerate()
    {
        let mut b = tar::Builder::new(Vec::new());
        tar_entry(&mut b, b"hl", tar::EntryType::Link, b"", target, 0o644);
        let name = format!("hl{i}.tar");
        fs::write(env.s(&name), b.into_inner().unwrap()).unwrap();
        let e = err_text(env.run(&[c(add(&name, "/x/"))]));
        assert!(e.contains("invalid hardlink target"), "{e}");
    }
    // An absolute hard link target is resolved inside the destination, and
    // so is one through a planted symlink.
    let mut b = tar::Builder::new(Vec::new());
    tar_entry(
        &mut b,
        b"sl",
        tar::EntryType::Symlink,
        b"",
        env.sentinel.to_str().unwrap().as_bytes(),
        0o777,
    );
    tar_entry(
        &mut b,
        b"hl",
        tar::EntryType::Link,
        b"",
        b"sl/secret",
        0o644,
    );
    fs::write(env.s("hl.tar"), b.into_inner().unwrap()).unwrap();
    assert!(
        env.run(&[c(add("hl.tar", "/y/"))]).is_err(),
        "the target does not exist inside"
    );
    let mut b = tar::Builder::new(Vec::new());
    tar_entry(&mut b, b"inner", tar::EntryType::Regular, b"in", b"", 0o644);
    tar_entry(&mut b, b"hl", tar::EntryType::Link, b"", b"/inner", 0o644);
    fs::write(env.s("hl2.tar"), b.into_inner().unwrap()).unwrap();
    env.run(&[c(add("hl2.tar", "/z/"))]).unwrap();
    assert_eq!(read(&env.d("z/hl")), "in");
    assert_eq!(
        fs::metadata(env.d("sentinel")).ok().map(|m| m.is_dir()),
        None
    );
    env.assert_sentinel();
}

#[test]
fn fileop_attack_add_dest_through_symlink() {
    let env = Env::new();
    fs::write(env.s("a.tar"), sample_tar()).unwrap();
    symlink("../../sentinel", env.d("out")).unwrap();
    env.run(&[c(add("a.tar", "/out/"))]).unwrap();
    assert_eq!(read(&env.d("sentinel/pkg/readme")), "README");
    env.assert_sentinel();
}

// ----------------------------------------------------------- odd corners

#[test]
fn fileop_non_utf8_names_survive() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let env = Env::new();
    let name = OsStr::from_bytes(b"caf\xe9.txt");
    fs::create_dir(env.s("d")).unwrap();
    fs::write(env.s("d").join(name), "latin1").unwrap();
    env.run(&[c(docker_copy("d", "/d"))]).unwrap();
    assert_eq!(read(&env.d("d").join(name)), "latin1");
    // Matched by a wildcard, copied under its own bytes.
    env.run(&[c(docker_copy("d/caf*", "/w/"))]).unwrap();
    assert_eq!(read(&env.d("w").join(name)), "latin1");
    // And inside an archive.
    let mut b = tar::Builder::new(Vec::new());
    tar_entry(
        &mut b,
        b"dir/\xff\xfe",
        tar::EntryType::Regular,
        b"raw",
        b"",
        0o644,
    );
    fs::write(env.s("raw.tar"), b.into_inner().unwrap()).unwrap();
    env.run(&[c(add("raw.tar", "/r/"))]).unwrap();
    assert_eq!(
        read(&env.d("r/dir").join(OsStr::from_bytes(b"\xff\xfe"))),
        "raw"
    );
}

#[test]
fn fileop_new_dest_dir_of_a_contents_copy_is_0755() {
    // BuildKit creates the destination of `COPY dir /new` with MkdirAll
    // (0755, or --chown's owner) and only copies the times of `dir`.
    let env = Env::new();
    env.src_file("dir/f", "F");
    fs::set_permissions(env.s("dir"), fs::Permissions::from_mode(0o700)).unwrap();
    lchown(&env.s("dir"), 1500, 1500);
    set_mtime(&env.s("dir"), 1_111_111);
    env.run(&[c(docker_copy("dir", "/new"))]).unwrap();
    assert_eq!(mode(&env.d("new")), 0o755);
    assert_eq!(owner(&env.d("new")), (0, 0));
    assert_eq!(mtime(&env.d("new")), 1_111_111);
    // Without dir_contents_only the directory itself is copied.
    env.run(&[c(copy("dir", "/itself"))]).unwrap();
    assert_eq!(mode(&env.d("itself")), 0o700);
    assert_eq!(owner(&env.d("itself")), (1500, 1500));
}

#[test]
fn fileop_add_follows_the_named_symlink_to_an_archive() {
    let env = Env::new();
    fs::write(env.s("real.tgz"), compress("gz", &sample_tar())).unwrap();
    symlink("real.tgz", env.s("latest.tgz")).unwrap();
    env.run(&[c(add("latest.tgz", "/opt"))]).unwrap();
    assert_eq!(read(&env.d("opt/pkg/readme")), "README");
}

#[test]
fn fileop_hidden_directory_prefix_of_a_wildcard() {
    let env = Env::new();
    env.src_file("priv/a.txt", "A");
    let exclude = |p: &str| p == "priv" || p.starts_with("priv/");
    let r = env.run_ctx(&[c(docker_copy("priv/*.txt", "/x/"))], &exclude);
    assert!(matches!(r, Err(FileOpError::NotFound { .. })), "{r:?}");
    // A directory the filter keeps (it holds re-included files) is walked,
    // and its hidden entries stay hidden.
    env.src_file("docs/keep.md", "K");
    env.src_file("docs/drop.md", "D");
    let exclude = |p: &str| p == "docs/drop.md";
    env.run_ctx(&[c(docker_copy("docs", "/docs"))], &exclude)
        .unwrap();
    assert!(exists(&env.d("docs/keep.md")));
    assert!(!exists(&env.d("docs/drop.md")));
}

#[test]
fn fileop_mkdir_without_parents_over_a_file_is_accepted() {
    // As os.Mkdir in BuildKit: EEXIST of any kind is fine.
    let env = Env::new();
    env.dest_file("f", "F");
    let a = FileAction::Mkdir(MkdirAction {
        path: "/f".into(),
        mode: 0o755,
        make_parents: false,
        owner: None,
        timestamp: None,
    });
    env.run(&[a]).unwrap();
    assert!(env.d("f").is_file());
}
