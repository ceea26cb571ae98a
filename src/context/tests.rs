use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::{Context, ContextError};

fn write(root: &Path, rel: &str, data: &[u8]) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, data).unwrap();
}

/// A context whose cache trusts files written just now (tests run faster
/// than the racy-timestamp margin).
fn open(dir: &Path, cache: Option<&Path>) -> Context {
    let mut ctx = Context::open(dir, None, cache).unwrap();
    ctx.set_racy_margin_ns(0);
    ctx
}

fn digest(ctx: &Context, srcs: &[&str]) -> String {
    try_digest(ctx, srcs, true).unwrap()
}

fn try_digest(ctx: &Context, srcs: &[&str], follow: bool) -> Result<String, ContextError> {
    let srcs: Vec<String> = srcs.iter().map(|s| s.to_string()).collect();
    ctx.selection_digest(&srcs, follow)
}

/// The digest of `srcs` in a fresh context (no cache).
fn fresh(dir: &Path, srcs: &[&str]) -> String {
    digest(&open(dir, None), srcs)
}

fn sample() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    write(r, "a.txt", b"alpha");
    write(r, "b.txt", b"bravo");
    write(r, "c.md", b"charlie");
    write(r, "sub/d.txt", b"delta");
    write(r, "sub/deep/e.txt", b"echo");
    t
}

#[test]
fn context_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Context>();
}

#[test]
fn digest_format_and_determinism() {
    let t = sample();
    let d = fresh(t.path(), &["."]);
    assert!(d.starts_with("sha256:") && d.len() == 7 + 64, "{d}");
    assert_eq!(d, fresh(t.path(), &["."]));
    assert_eq!(d, fresh(t.path(), &["/"]));
    assert_eq!(d, fresh(t.path(), &["./"]));
    assert_eq!(d, fresh(t.path(), &[""]));
    // Source order is part of the selection.
    assert_ne!(
        fresh(t.path(), &["a.txt", "b.txt"]),
        fresh(t.path(), &["b.txt", "a.txt"])
    );
    // Following or not is part of it too.
    let ctx = open(t.path(), None);
    assert_ne!(
        try_digest(&ctx, &["a.txt"], true).unwrap(),
        try_digest(&ctx, &["a.txt"], false).unwrap()
    );
}

#[test]
fn dockerignored_files_are_left_out() {
    let t = sample();
    let r = t.path();
    write(r, "secret.key", b"one");
    write(r, "sub/other.key", b"one");
    write(r, "build/out.bin", b"one");
    write(r, ".dockerignore", b"*.key\nbuild\n");
    let ctx = open(r, None);
    assert!(ctx.is_excluded("secret.key"));
    assert!(ctx.is_excluded("./secret.key"));
    assert!(ctx.is_excluded("build"));
    assert!(ctx.is_excluded("build/out.bin"));
    assert!(!ctx.is_excluded("sub/other.key"), "`*.key` is root-only");
    assert!(!ctx.is_excluded("a.txt"));
    assert!(!ctx.is_excluded("."));
    assert!(ctx.ignore_file().unwrap().ends_with(".dockerignore"));

    let all = digest(&ctx, &["."]);
    let sub = digest(&ctx, &["sub"]);
    let wild = digest(&ctx, &["*"]);
    write(r, "secret.key", b"two");
    write(r, "build/out.bin", b"two");
    write(r, "build/new.bin", b"two");
    assert_eq!(fresh(r, &["."]), all);
    assert_eq!(fresh(r, &["*"]), wild);
    write(r, "sub/other.key", b"two");
    assert_ne!(fresh(r, &["sub"]), sub);

    // An ignored source does not exist.
    for src in ["secret.key", "build", "build/out.bin"] {
        match try_digest(&ctx, &[src], true) {
            Err(ContextError::NotFound { path }) => assert_eq!(path, format!("/{src}")),
            other => panic!("{src}: {other:?}"),
        }
    }
}

#[test]
fn excluded_directory_kept_for_reincluded_entries() {
    let t = sample();
    let r = t.path();
    write(r, "dir/keep", b"k");
    write(r, "dir/drop", b"d");
    write(r, "gone/drop", b"d");
    write(r, ".dockerignore", b"dir\ngone\n!dir/keep\n");
    let ctx = open(r, None);
    assert!(ctx.is_excluded("dir/drop"));
    assert!(!ctx.is_excluded("dir/keep"));
    let d = digest(&ctx, &["dir"]);
    let all = digest(&ctx, &["."]);
    write(r, "dir/drop", b"changed");
    assert_eq!(fresh(r, &["dir"]), d);
    assert_eq!(fresh(r, &["."]), all);
    write(r, "dir/keep", b"changed");
    assert_ne!(fresh(r, &["dir"]), d);
    assert!(matches!(
        try_digest(&ctx, &["gone"], true),
        Err(ContextError::NotFound { .. })
    ));
    // Through a wildcard: `dir` matches (it holds `keep`), `gone` does not.
    let w = digest(&ctx, &["[dg]*"]);
    write(r, "gone/drop", b"changed");
    write(r, "dir/drop", b"changed again");
    assert_eq!(fresh(r, &["[dg]*"]), w);
    write(r, "dir/keep", b"changed again");
    assert_ne!(fresh(r, &["[dg]*"]), w);
}

#[test]
fn dockerfile_specific_ignore_file_wins() {
    let t = sample();
    let r = t.path();
    write(r, ".dockerignore", b"a.txt\n");
    let ctx = Context::open(r, None, None).unwrap();
    assert!(ctx.is_excluded("a.txt") && !ctx.is_excluded("b.txt"));

    // Default Dockerfile name: `Dockerfile.dockerignore` beside it.
    write(r, "Dockerfile.dockerignore", b"b.txt\n");
    let ctx = Context::open(r, None, None).unwrap();
    assert!(!ctx.is_excluded("a.txt") && ctx.is_excluded("b.txt"));
    assert!(ctx
        .ignore_file()
        .unwrap()
        .ends_with("Dockerfile.dockerignore"));
    let ctx = Context::open(r, Some(&r.join("Dockerfile")), None).unwrap();
    assert!(!ctx.is_excluded("a.txt") && ctx.is_excluded("b.txt"));

    // `-f docker/prod.Dockerfile`: `docker/prod.Dockerfile.dockerignore`.
    write(r, "docker/prod.Dockerfile", b"FROM scratch\n");
    write(r, "docker/prod.Dockerfile.dockerignore", b"c.md\n");
    let ctx = Context::open(r, Some(&r.join("docker/prod.Dockerfile")), None).unwrap();
    assert!(ctx.is_excluded("c.md"));
    assert!(!ctx.is_excluded("a.txt") && !ctx.is_excluded("b.txt"));

    // A Dockerfile without its own ignore file falls back to the root's.
    let ctx = Context::open(r, Some(&r.join("docker/dev.Dockerfile")), None).unwrap();
    assert!(ctx.is_excluded("a.txt") && !ctx.is_excluded("c.md"));

    // A bad pattern is an error naming the file.
    write(r, "bad.Dockerfile.dockerignore", b"[z-a]\n");
    let err = Context::open(r, Some(&r.join("bad.Dockerfile")), None).unwrap_err();
    assert!(matches!(err, ContextError::IgnorePattern { .. }));
    assert!(
        err.to_string().contains("bad.Dockerfile.dockerignore"),
        "{err}"
    );
}

#[test]
fn wildcard_selections() {
    let t = sample();
    let r = t.path();
    let txt = fresh(r, &["*.txt"]);
    let nested = fresh(r, &["*/d.txt"]);
    write(r, "c.md", b"changed");
    write(r, "sub/deep/e.txt", b"changed");
    assert_eq!(fresh(r, &["*.txt"]), txt, "`*` does not cross `/`");
    assert_eq!(fresh(r, &["*/d.txt"]), nested);
    write(r, "sub/d.txt", b"changed");
    assert_eq!(fresh(r, &["*.txt"]), txt);
    assert_ne!(fresh(r, &["*/d.txt"]), nested);
    write(r, "a.txt", b"changed");
    assert_ne!(fresh(r, &["*.txt"]), txt);
    // A new match changes it too.
    let txt = fresh(r, &["*.txt"]);
    write(r, "z.txt", b"new");
    assert_ne!(fresh(r, &["*.txt"]), txt);

    // `[...]` and `?`; a matching directory brings its contents.
    let ab = fresh(r, &["[ab].txt"]);
    write(r, "z.txt", b"not matched");
    assert_eq!(fresh(r, &["[ab].txt"]), ab);
    write(r, "b.txt", b"matched");
    assert_ne!(fresh(r, &["[ab].txt"]), ab);
    let s = fresh(r, &["s?b"]);
    write(r, "sub/deep/e.txt", b"again");
    assert_ne!(fresh(r, &["s?b"]), s);

    // No match is not an error, and differs from another empty pattern
    // only through the pattern itself.
    let ctx = open(r, None);
    let none = try_digest(&ctx, &["*.nothing"], true).unwrap();
    assert_eq!(none, try_digest(&ctx, &["*.nothing"], true).unwrap());
    // An escaped wildcard is a literal name.
    write(r, "lit*eral", b"x");
    assert!(try_digest(&ctx, &[r"lit\*eral"], true).is_err());
    assert!(try_digest(&ctx, &["lit*eral"], true).is_ok());
    // The directory part must exist.
    assert!(matches!(
        try_digest(&ctx, &["nope/*.txt"], true),
        Err(ContextError::NotFound { path }) if path == "/nope"
    ));
}

#[test]
fn directory_selections() {
    let t = sample();
    let r = t.path();
    let d = fresh(r, &["sub"]);
    assert_eq!(d, fresh(r, &["sub/"]));
    assert_eq!(d, fresh(r, &["./sub"]));
    assert_eq!(d, fresh(r, &["/sub/"]));
    write(r, "a.txt", b"outside the selection");
    assert_eq!(fresh(r, &["sub"]), d);
    write(r, "sub/deep/e.txt", b"changed");
    assert_ne!(fresh(r, &["sub"]), d);
    let d = fresh(r, &["sub"]);
    fs::create_dir(r.join("sub/empty")).unwrap();
    assert_ne!(fresh(r, &["sub"]), d, "an empty directory counts");
}

#[test]
fn digest_tracks_content_mode_and_new_files_not_mtime() {
    let t = sample();
    let r = t.path();
    let base = fresh(r, &["."]);

    // Same size, different content.
    write(r, "a.txt", b"ALPHA");
    let content = fresh(r, &["."]);
    assert_ne!(content, base);

    // Mode.
    fs::set_permissions(r.join("a.txt"), fs::Permissions::from_mode(0o755)).unwrap();
    let mode = fresh(r, &["."]);
    assert_ne!(mode, content);
    fs::set_permissions(r.join("sub"), fs::Permissions::from_mode(0o700)).unwrap();
    let dir_mode = fresh(r, &["."]);
    assert_ne!(dir_mode, mode);

    // A new file.
    write(r, "sub/new", b"");
    let new = fresh(r, &["."]);
    assert_ne!(new, dir_mode);

    // Only mtime: unchanged (also through a warm cache).
    let ctx = open(r, None);
    assert_eq!(digest(&ctx, &["."]), new);
    let f = fs::File::options()
        .write(true)
        .open(r.join("a.txt"))
        .unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(86_400))
        .unwrap();
    drop(f);
    assert_eq!(digest(&ctx, &["."]), new);
    assert_eq!(fresh(r, &["."]), new);
}

#[test]
fn warm_cache_reverifies_with_stat_only() {
    let t = sample();
    let cache = tempfile::tempdir().unwrap();
    let r = t.path();
    for i in 0..40 {
        write(r, &format!("many/f{i}"), format!("file {i}").as_bytes());
    }
    let files = 5 + 40;

    let ctx = open(r, Some(cache.path()));
    let cold = digest(&ctx, &["."]);
    assert_eq!(ctx.stats().files_hashed, files);
    assert_eq!(ctx.stats().cache_hits, 0);
    // Same context, again: nothing read.
    assert_eq!(digest(&ctx, &["."]), cold);
    assert_eq!(ctx.stats().files_hashed, files);
    ctx.save().unwrap();
    let file = ctx.cache_file().unwrap();
    assert!(file.starts_with(cache.path()) && file.exists());
    drop(ctx);

    // A new process: digests come from the persisted cache.
    let ctx = open(r, Some(cache.path()));
    assert_eq!(digest(&ctx, &["."]), cold);
    assert_eq!(ctx.stats().files_hashed, 0);
    assert_eq!(ctx.stats().cache_hits, files);
    assert_eq!(digest(&ctx, &["sub", "*.txt"]), fresh(r, &["sub", "*.txt"]));
    assert_eq!(ctx.stats().files_hashed, 0);

    // One changed file is the only one read.
    write(r, "many/f7", b"changed");
    let changed = digest(&ctx, &["."]);
    assert_ne!(changed, cold);
    assert_eq!(ctx.stats().files_hashed, 1);
    ctx.save().unwrap();
    drop(ctx);
    let ctx = open(r, Some(cache.path()));
    assert_eq!(digest(&ctx, &["."]), changed);
    assert_eq!(ctx.stats().files_hashed, 0);

    // Deleted files are pruned after a whole-context walk.
    fs::remove_dir_all(r.join("many")).unwrap();
    let before = ctx.cached_records();
    digest(&ctx, &["."]);
    ctx.save().unwrap();
    drop(ctx);
    let ctx = open(r, Some(cache.path()));
    assert_eq!(ctx.cached_records(), before - 40);
}

#[test]
fn racy_files_are_not_cached() {
    let t = sample();
    let cache = tempfile::tempdir().unwrap();
    // The real margin: files written just now are hashed every time.
    let ctx = Context::open(t.path(), None, Some(cache.path())).unwrap();
    digest(&ctx, &["."]);
    digest(&ctx, &["."]);
    assert_eq!(ctx.stats().files_hashed, 10);
    assert_eq!(ctx.stats().cache_hits, 0);
}

#[test]
fn corrupt_or_foreign_cache_is_ignored() {
    let t = sample();
    let cache = tempfile::tempdir().unwrap();
    let r = t.path();
    let ctx = open(r, Some(cache.path()));
    let d = digest(&ctx, &["."]);
    ctx.save().unwrap();
    let file = ctx.cache_file().unwrap();
    drop(ctx);
    let good = fs::read(&file).unwrap();

    let bad: Vec<Vec<u8>> = vec![
        b"garbage".to_vec(),
        Vec::new(),
        good[..good.len() / 2].to_vec(),
        {
            let mut flipped = good.clone();
            flipped[20] ^= 0x40;
            flipped
        },
    ];
    for data in bad {
        fs::write(&file, &data).unwrap();
        let ctx = open(r, Some(cache.path()));
        assert_eq!(digest(&ctx, &["."]), d);
        assert_eq!(ctx.stats().files_hashed, 5);
        ctx.save().unwrap();
        drop(ctx);
        // Rebuilt.
        let ctx = open(r, Some(cache.path()));
        assert_eq!(digest(&ctx, &["."]), d);
        assert_eq!(ctx.stats().files_hashed, 0);
    }

    // Another context's cache under this context's name.
    let other = sample();
    write(other.path(), "a.txt", b"other");
    let octx = open(other.path(), Some(cache.path()));
    digest(&octx, &["."]);
    octx.save().unwrap();
    fs::copy(octx.cache_file().unwrap(), &file).unwrap();
    let ctx = open(r, Some(cache.path()));
    assert_eq!(digest(&ctx, &["."]), d);
    assert_eq!(ctx.stats().files_hashed, 5);

    // A cache directory that cannot be created is an error on save only.
    let blocker = cache.path().join("blocker");
    fs::write(&blocker, b"").unwrap();
    let ctx = open(r, Some(&blocker.join("sub")));
    digest(&ctx, &["."]);
    assert!(matches!(ctx.save(), Err(ContextError::CacheWrite { .. })));
}

#[test]
fn symlinks_never_leave_the_context() {
    let outside = tempfile::tempdir().unwrap();
    let sentinel = outside.path().join("sentinel");
    fs::write(&sentinel, b"SENTINEL ONE").unwrap();
    let t = sample();
    let r = t.path();
    symlink(&sentinel, r.join("abs-link")).unwrap();
    let rel_target = Path::new("../".repeat(20).as_str()).join(sentinel.strip_prefix("/").unwrap());
    symlink(&rel_target, r.join("rel-link")).unwrap();
    symlink(outside.path(), r.join("dir-link")).unwrap();
    symlink("/sub/d.txt", r.join("inside-link")).unwrap();

    let ctx = open(r, None);
    // Walks and wildcards see symlinks as symlinks. (Followed, a wildcard
    // match that resolves to nothing is an error, as in BuildKit.)
    let sels: &[(&[&str], bool)] = &[
        (&["."], true),
        (&["."], false),
        (&["*"], false),
        (&["*-link"], false),
        (&["sub", "*.txt"], true),
    ];
    let mut before = Vec::new();
    for &(srcs, follow) in sels {
        before.push(try_digest(&ctx, srcs, follow).unwrap());
    }
    for src in ["abs-link", "rel-link", "dir-link"] {
        before.push(try_digest(&ctx, &[src], false).unwrap());
    }
    let hashed = ctx.stats().bytes_hashed;

    fs::write(&sentinel, b"SENTINEL TWO, longer").unwrap();
    let ctx = open(r, None);
    let mut after = Vec::new();
    for &(srcs, follow) in sels {
        after.push(try_digest(&ctx, srcs, follow).unwrap());
    }
    for src in ["abs-link", "rel-link", "dir-link"] {
        after.push(try_digest(&ctx, &[src], false).unwrap());
    }
    assert_eq!(before, after);
    assert_eq!(ctx.stats().bytes_hashed, hashed);

    // Followed, they resolve inside the root, where there is nothing.
    for src in ["abs-link", "rel-link", "dir-link", "dir-link/sentinel"] {
        assert!(
            matches!(
                try_digest(&ctx, &[src], true),
                Err(ContextError::NotFound { .. })
            ),
            "{src}"
        );
    }
    assert!(try_digest(&ctx, &["dir-link/sentinel"], false).is_err());

    // ... and an absolute target means the context root.
    let ctx = open(r, None);
    let inside = try_digest(&ctx, &["inside-link"], true).unwrap();
    assert_ne!(inside, try_digest(&ctx, &["inside-link"], false).unwrap());
    write(r, "sub/d.txt", b"DELTA");
    assert_ne!(fresh(r, &["inside-link"]), inside);

    // Inside the context, the same file at the root-relative path exists.
    write(
        r,
        sentinel.strip_prefix("/").unwrap().to_str().unwrap(),
        b"in",
    );
    assert!(try_digest(&open(r, None), &["abs-link"], true).is_ok());
    assert!(try_digest(&open(r, None), &["rel-link"], true).is_ok());

    // A symlink loop is an error, not a hang.
    symlink("loop-b", r.join("loop-a")).unwrap();
    symlink("loop-a", r.join("loop-b")).unwrap();
    assert!(matches!(
        try_digest(&open(r, None), &["loop-a"], true),
        Err(ContextError::TooManyLinks { .. })
    ));
    assert!(try_digest(&open(r, None), &["loop-a"], false).is_ok());
}

#[test]
fn dot_dot_sources_stay_inside() {
    let outside = tempfile::tempdir().unwrap();
    let t = tempfile::tempdir_in(outside.path()).unwrap();
    let r = t.path();
    write(r, "x", b"inside");
    write(outside.path(), "x", b"outside");
    let name = r.file_name().unwrap().to_str().unwrap();
    let ctx = open(r, None);
    let x = digest(&ctx, &["x"]);
    assert_eq!(digest(&ctx, &["../x"]), x);
    assert_eq!(digest(&ctx, &["../../../x"]), x);
    assert_eq!(digest(&ctx, &["/../x"]), x);
    assert_eq!(digest(&ctx, &["a/../../x"]), x);
    assert_eq!(digest(&ctx, &[".."]), digest(&ctx, &["."]));
    assert!(try_digest(&ctx, &[&format!("../{name}/x")], true).is_err());
    write(outside.path(), "x", b"outside, changed");
    assert_eq!(digest(&ctx, &["../x"]), x);
    assert!(!ctx.is_excluded("../x"));
}

#[test]
fn missing_source_is_an_error_naming_it() {
    let t = sample();
    let ctx = open(t.path(), None);
    let err = try_digest(&ctx, &["a.txt", "no/such/file"], true).unwrap_err();
    match &err {
        ContextError::NotFound { path } => assert_eq!(path, "/no/such/file"),
        other => panic!("{other:?}"),
    }
    assert_eq!(err.to_string(), "\"/no/such/file\": not found");
    // A file used as a directory.
    assert!(matches!(
        try_digest(&ctx, &["a.txt/x"], true),
        Err(ContextError::NotFound { .. })
    ));
    assert!(matches!(
        Context::open(&t.path().join("nope"), None, None),
        Err(ContextError::Root { .. })
    ));
    assert!(matches!(
        Context::open(&t.path().join("a.txt"), None, None),
        Err(ContextError::NotADirectory { .. })
    ));
}

#[test]
fn hard_links_hashed_once_and_recorded() {
    let t = sample();
    let r = t.path();
    fs::hard_link(r.join("a.txt"), r.join("a-link.txt")).unwrap();
    let ctx = open(r, None);
    let linked = digest(&ctx, &["*.txt"]);
    assert_eq!(ctx.stats().files_hashed, 2, "a.txt and b.txt");
    // A copy instead of a link: same contents, different digest.
    fs::remove_file(r.join("a-link.txt")).unwrap();
    write(r, "a-link.txt", b"alpha");
    assert_ne!(fresh(r, &["*.txt"]), linked);
}

#[test]
fn large_sets_hash_in_parallel_deterministically() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    let block: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    for i in 0..30 {
        write(r, &format!("d{}/f{i}", i % 4), &block[i..]);
    }
    let a = fresh(r, &["."]);
    let ctx = open(r, None);
    assert_eq!(digest(&ctx, &["."]), a);
    assert_eq!(ctx.stats().files_hashed, 30);
    assert!(ctx.stats().bytes_hashed > 8_000_000);
    write(r, "d2/f10", &block[11..]);
    assert_ne!(fresh(r, &["."]), a);
}

#[test]
fn special_files_are_not_opened() {
    let t = sample();
    let r = t.path();
    let status = std::process::Command::new("mkfifo")
        .arg(r.join("fifo"))
        .status();
    if !status.is_ok_and(|s| s.success()) {
        return;
    }
    // Reading the FIFO would block forever.
    let d = fresh(r, &["."]);
    assert_eq!(d, fresh(r, &["."]));
    assert_ne!(d, fresh(r, &["*.txt"]));
}
