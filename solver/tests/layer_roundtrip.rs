//! Layer round trips through the public API: snapshot dir -> tar ->
//! snapshot dir, reproducibility with SOURCE_DATE_EPOCH, byte equality with
//! the tars BuildKit writes, compression, and interoperability with GNU tar.
//!
//! These tests need root (device nodes, ownership, `trusted.*` xattrs), as
//! kiln's RUN steps do; without root they print a note and return.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use kiln_solver::layer::{
    compressed_reader, extract_compressed_layer, extract_layer, write_layer,
    write_layer_compressed, Compression, ExtractOptions, WriteOptions,
};
use rustix::fs::{AtFlags, FileType, Gid, Mode, Timespec, Timestamps, Uid, XattrFlags, CWD};

/// A scratch directory that can hold snapshots in overlay form. overlayfs
/// refuses to create whiteouts, and inside containers TMPDIR often is on
/// overlayfs: then /dev/shm (tmpfs) is used instead.
fn scratch() -> tempfile::TempDir {
    let on_overlay = |p: &Path| {
        rustix::fs::statfs(p).is_ok_and(
            |s| s.f_type as u64 == 0x794c_7630, /* OVERLAYFS_SUPER_MAGIC */
        )
    };
    let t = tempfile::tempdir().unwrap();
    if on_overlay(t.path()) {
        if let Ok(shm) = tempfile::tempdir_in("/dev/shm") {
            if !on_overlay(shm.path()) {
                return shm;
            }
        }
    }
    t
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

macro_rules! need_root {
    () => {
        if !is_root() {
            eprintln!("skipped: needs root (mknod, chown, trusted.* xattrs)");
            return;
        }
    };
}

/// Builds a snapshot tree with exact metadata; directory mtimes are applied
/// last (deepest first) so that creating children does not change them.
struct Tree {
    root: PathBuf,
    dir_times: Vec<(PathBuf, i64, i64)>,
}

impl Tree {
    fn new(root: &Path) -> Tree {
        fs::create_dir_all(root).unwrap();
        Tree {
            root: root.to_owned(),
            dir_times: Vec::new(),
        }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn meta(&self, rel: &str, mode: Option<u32>, uid: u32, gid: u32, mtime: (i64, i64)) {
        let p = self.p(rel);
        rustix::fs::chownat(
            CWD,
            &p,
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .unwrap();
        if let Some(m) = mode {
            rustix::fs::chmod(&p, Mode::from_raw_mode(m)).unwrap();
        }
        set_mtime(&p, mtime);
    }

    fn dir(&mut self, rel: &str, mode: u32, uid: u32, gid: u32, mtime: i64) {
        fs::create_dir_all(self.p(rel)).unwrap();
        rustix::fs::chownat(
            CWD,
            self.p(rel),
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            AtFlags::empty(),
        )
        .unwrap();
        rustix::fs::chmod(self.p(rel), Mode::from_raw_mode(mode)).unwrap();
        self.dir_times.push((self.p(rel), mtime, 0));
    }

    fn file(&self, rel: &str, data: &[u8], mode: u32, uid: u32, gid: u32, mtime: (i64, i64)) {
        fs::write(self.p(rel), data).unwrap();
        self.meta(rel, Some(mode), uid, gid, mtime);
    }

    fn symlink(&self, rel: &str, target: &str, mtime: i64) {
        std::os::unix::fs::symlink(target, self.p(rel)).unwrap();
        self.meta(rel, None, 0, 0, (mtime, 0));
    }

    #[allow(clippy::too_many_arguments)]
    fn node(
        &self,
        rel: &str,
        ft: FileType,
        maj: u32,
        min: u32,
        mode: u32,
        uid: u32,
        gid: u32,
        mtime: i64,
    ) {
        rustix::fs::mknodat(
            CWD,
            self.p(rel),
            ft,
            Mode::from_raw_mode(mode),
            rustix::fs::makedev(maj, min),
        )
        .unwrap();
        self.meta(rel, Some(mode), uid, gid, (mtime, 0));
    }

    fn whiteout(&self, rel: &str) {
        rustix::fs::mknodat(
            CWD,
            self.p(rel),
            FileType::CharacterDevice,
            Mode::empty(),
            0,
        )
        .unwrap();
    }

    fn xattr(&self, rel: &str, name: &str, value: &[u8]) {
        rustix::fs::lsetxattr(self.p(rel), name, value, XattrFlags::empty()).unwrap();
    }

    fn finish(mut self) {
        self.dir_times
            .sort_by_key(|(p, _, _)| std::cmp::Reverse(p.components().count()));
        for (p, s, ns) in &self.dir_times {
            set_mtime(p, (*s, *ns));
        }
    }
}

fn set_mtime(p: &Path, (s, ns): (i64, i64)) {
    let t = Timespec {
        tv_sec: s,
        tv_nsec: ns as _,
    };
    rustix::fs::utimensat(
        CWD,
        p,
        &Timestamps {
            last_access: t,
            last_modification: t,
        },
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

/// A capability xattr (VFS_CAP_REVISION_2) granting cap_net_raw.
fn cap_net_raw() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&0x0200_0001u32.to_le_bytes());
    v.extend_from_slice(&(1u32 << 13).to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v
}

fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if x.is_multiple_of(3) {
            v.extend_from_slice(b"lorem ipsum dolor sit amet ");
        } else {
            v.extend_from_slice(&x.to_le_bytes());
        }
    }
    v.truncate(len);
    v
}

const T0: i64 = 1_650_000_000;

/// The fixed tree whose tar is compared with BuildKit's bytes. Only
/// security.* and trusted.* xattrs (supported on tmpfs and ext4 alike).
fn golden_tree(root: &Path) {
    let mut t = Tree::new(root);
    t.dir("bin", 0o755, 0, 0, T0);
    t.file(
        "bin/ping",
        b"ping-binary\n",
        0o4755,
        0,
        0,
        (T0 + 1, 999_999_999),
    );
    t.xattr("bin/ping", "security.capability", &cap_net_raw());
    fs::hard_link(t.p("bin/ping"), t.p("bin/ping-hard")).unwrap();
    t.dir("dev", 0o755, 0, 0, T0 + 2);
    t.node(
        "dev/null",
        FileType::CharacterDevice,
        1,
        3,
        0o666,
        0,
        0,
        T0 + 3,
    );
    t.node(
        "dev/loop0",
        FileType::BlockDevice,
        7,
        0,
        0o660,
        0,
        6,
        T0 + 4,
    );
    t.node(
        "dev/bigminor",
        FileType::CharacterDevice,
        4095,
        1_048_575,
        0o600,
        0,
        0,
        T0 + 4,
    );
    t.dir("etc", 0o755, 0, 0, T0 + 5);
    t.file(
        "etc/hosts",
        b"127.0.0.1 localhost\n",
        0o644,
        0,
        0,
        (T0 + 6, 0),
    );
    t.file(
        "etc/shadow",
        b"root:*:19000::::::\n",
        0o640,
        0,
        42,
        (T0 + 7, 0),
    );
    t.symlink("etc/localtime", "/usr/share/zoneinfo/UTC", T0 + 8);
    t.dir("home", 0o755, 0, 0, T0 + 9);
    t.dir("home/user", 0o700, 1000, 1000, T0 + 10);
    t.file(
        "home/user/ünïcødé.txt",
        b"utf-8 name\n",
        0o600,
        1000,
        1000,
        (T0 + 11, 0),
    );
    t.file(
        "home/user/block-exact",
        &pattern(512, 3),
        0o644,
        1000,
        1000,
        (T0 + 12, 0),
    );
    t.file(
        "home/user/big",
        &pattern((1 << 20) + 7, 4),
        0o644,
        1000,
        1000,
        (T0 + 13, 0),
    );
    let deep = format!("deep/{}", "d".repeat(90));
    t.dir("deep", 0o755, 0, 0, T0 + 14);
    t.dir(&deep, 0o755, 0, 0, T0 + 15);
    t.file(
        &format!("{deep}/{}", "f".repeat(60)),
        b"split name\n",
        0o644,
        0,
        0,
        (T0 + 16, 0),
    );
    t.file(
        &format!("deep/{}", "p".repeat(120)),
        b"pax name\n",
        0o644,
        0,
        0,
        (T0 + 17, 0),
    );
    t.dir("srv", 0o2775, 3_000_000, 3_000_001, T0 + 18);
    t.file(
        "srv/big-ids",
        b"",
        0o644,
        3_000_000,
        3_000_001,
        (T0 + 19, 0),
    );
    t.node("srv/fifo", FileType::Fifo, 0, 0, 0o620, 0, 0, T0 + 20);
    t.dir("tmp", 0o1777, 0, 0, T0 + 21);
    t.dir("usr", 0o755, 0, 0, T0 + 22);
    t.dir("usr/lib", 0o755, 0, 0, T0 + 23);
    t.file(
        "usr/lib/libfoo.so.1.2.3",
        b"\x7fELF",
        0o755,
        0,
        0,
        (T0 + 24, 0),
    );
    t.symlink("usr/lib/libfoo.so.1", "libfoo.so.1.2.3", T0 + 25);
    t.symlink(
        "usr/lib/long-target",
        &format!("../{}", "x".repeat(120)),
        T0 + 26,
    );
    fs::hard_link(t.p("usr/lib/libfoo.so.1.2.3"), t.p("bin/a-first-link")).unwrap();
    t.dir("var", 0o755, 0, 0, T0 + 27);
    t.dir("var/cache", 0o750, 0, 0, T0 + 28);
    t.xattr("var/cache", "trusted.overlay.opaque", b"y");
    t.file("var/cache/keep", b"kept\n", 0o644, 0, 0, (T0 + 29, 0));
    t.whiteout("var/deleted");
    t.whiteout("etc/.hidden-deleted");
    t.file(
        "var/future",
        b"from the future\n",
        0o644,
        0,
        0,
        (2_000_000_000, 5),
    );
    t.file("etc/origin", b"copied up\n", 0o644, 0, 0, (T0 + 30, 0));
    t.xattr("etc/origin", "trusted.overlay.origin", b"\x00\xfb\x21");
    t.finish();
}

/// sha256 of the tars that Go's archive/tar writes for `golden_tree` when
/// driven as containerd's ChangeWriter (BuildKit's layer writer) drives it:
/// FileInfoHeader, Format=PAX, mtime truncated to seconds, atime/ctime
/// cleared, no uname/gname, whiteouts as `.wh.` files with mtime 0, Docker's
/// `.wh..wh..opq` entry after opaque directories. Produced with Go 1.19.
const GOLDEN_PLAIN: &str = "61bd398c0c79b2f2595db54f8108e7ecb07f13282a76a1fe38f2f7cd4f3dde3b";
const GOLDEN_EPOCH_1700000000: &str =
    "82eebb613fc0706ad25783c960a5b3ab5dfd02a12d9a532d99c2f81d1e4e27dc";

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

fn tar_of(dir: &Path, opts: &WriteOptions) -> Vec<u8> {
    let mut out = Vec::new();
    let info = write_layer(dir, &mut out, opts).unwrap();
    assert_eq!(info.size, out.len() as u64);
    assert_eq!(info.diff_id.hex(), sha256_hex(&out));
    out
}

#[test]
fn layer_tar_bytes_match_buildkit() {
    need_root!();
    let tmp = scratch();
    let root = match std::env::var_os("KILN_GOLDEN_TREE") {
        Some(p) => PathBuf::from(p), // to regenerate the digests with the Go reference
        None => tmp.path().join("tree"),
    };
    golden_tree(&root);
    let plain = tar_of(&root, &WriteOptions::default());
    let epoch = tar_of(
        &root,
        &WriteOptions {
            epoch: Some(1_700_000_000),
        },
    );
    assert_eq!(
        sha256_hex(&plain),
        GOLDEN_PLAIN,
        "plain tar differs from BuildKit's"
    );
    assert_eq!(
        sha256_hex(&epoch),
        GOLDEN_EPOCH_1700000000,
        "epoch tar differs from BuildKit's"
    );
}

/// Everything observable about a tree, by path.
#[derive(Debug, PartialEq)]
struct Node {
    kind: &'static str,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    content: Option<String>,
    link: Option<Vec<u8>>,
    rdev: (u32, u32),
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// First path (in walk order) of the inode, when it has several links.
    inode_group: Option<Vec<u8>>,
}

fn xattrs(p: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut buf = vec![0u8; 65536];
    let n = rustix::fs::llistxattr(p, &mut buf[..]).unwrap_or(0);
    let mut out = Vec::new();
    for name in buf[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let mut v = vec![0u8; 65536];
        let k = rustix::fs::lgetxattr(p, OsStr::from_bytes(name), &mut v[..]).unwrap();
        // overlay's bookkeeping (other than opaque) is not part of the image
        if name.starts_with(b"trusted.overlay.") && name != b"trusted.overlay.opaque" {
            continue;
        }
        out.push((name.to_vec(), v[..k].to_vec()));
    }
    out.sort();
    out
}

fn describe(root: &Path) -> BTreeMap<Vec<u8>, Node> {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<(u64, u64), Vec<u8>> = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let mut names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        for name in names {
            let p = dir.join(&name);
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .as_os_str()
                .as_bytes()
                .to_vec();
            let md = fs::symlink_metadata(&p).unwrap();
            let ft = md.file_type();
            let kind = if ft.is_dir() {
                "dir"
            } else if ft.is_file() {
                "file"
            } else if ft.is_symlink() {
                "symlink"
            } else if ft.is_char_device() {
                "char"
            } else if ft.is_block_device() {
                "block"
            } else if ft.is_fifo() {
                "fifo"
            } else {
                "other"
            };
            let whiteout = ft.is_char_device() && md.rdev() == 0;
            let inode_group = if !ft.is_dir() && md.nlink() > 1 {
                Some(
                    inodes
                        .entry((md.dev(), md.ino()))
                        .or_insert_with(|| rel.clone())
                        .clone(),
                )
            } else {
                None
            };
            out.insert(
                rel.clone(),
                Node {
                    kind,
                    mode: if ft.is_symlink() {
                        0
                    } else {
                        md.mode() & 0o7777
                    },
                    // a whiteout's owner and time carry no meaning
                    uid: if whiteout { 0 } else { md.uid() },
                    gid: if whiteout { 0 } else { md.gid() },
                    mtime: if whiteout { 0 } else { md.mtime() },
                    content: ft.is_file().then(|| sha256_hex(&fs::read(&p).unwrap())),
                    link: ft
                        .is_symlink()
                        .then(|| fs::read_link(&p).unwrap().into_os_string().into_vec()),
                    rdev: (rustix::fs::major(md.rdev()), rustix::fs::minor(md.rdev())),
                    xattrs: xattrs(&p),
                    inode_group: inode_group.map(|g| if g == rel { b"<self>".to_vec() } else { g }),
                },
            );
            if ft.is_dir() {
                stack.push(p);
            }
        }
    }
    out
}

use std::os::unix::ffi::OsStringExt;

/// The golden tree plus what it leaves out: user xattrs, sockets, a
/// three-link inode, sub-second mtimes.
fn rich_tree(root: &Path) -> bool {
    golden_tree(root);
    let t = Tree {
        root: root.to_owned(),
        dir_times: Vec::new(),
    };
    let user_xattrs = rustix::fs::lsetxattr(
        t.p("etc/hosts"),
        "user.kiln.test",
        b"v\0bin",
        XattrFlags::empty(),
    )
    .is_ok();
    fs::hard_link(t.p("etc/hosts"), t.p("home/user/hosts-link")).unwrap();
    fs::hard_link(t.p("etc/hosts"), t.p("tmp/hosts-link")).unwrap();
    let _ = std::os::unix::net::UnixListener::bind(t.p("tmp/socket"));
    set_mtime(&t.p("etc/hosts"), (T0 + 6, 0));
    for d in ["etc", "home/user", "tmp"] {
        set_mtime(&t.p(d), (T0 + 40, 0));
    }
    user_xattrs
}

#[test]
fn layer_round_trip_preserves_everything() {
    need_root!();
    let tmp = scratch();
    let src = tmp.path().join("src");
    rich_tree(&src);
    let tar1 = tar_of(&src, &WriteOptions::default());

    let dst = tmp.path().join("dst");
    fs::create_dir(&dst).unwrap();
    let stats = extract_layer(&tar1[..], &dst, &ExtractOptions::default()).unwrap();
    assert_eq!(stats.diff_id.hex(), sha256_hex(&tar1));
    assert_eq!(stats.tar_size, tar1.len() as u64);
    assert_eq!(stats.whiteouts, 2);
    assert_eq!(stats.opaque_dirs, 1);
    assert_eq!(stats.hardlinks, 4, "{stats:?}");
    assert_eq!(stats.devices, 3);
    assert_eq!(stats.fifos, 1);

    let mut want = describe(&src);
    want.remove(&b"tmp/socket"[..]); // sockets are not archived
    let got = describe(&dst);
    let keys: Vec<_> = want.keys().collect();
    assert_eq!(keys, got.keys().collect::<Vec<_>>());
    for (k, w) in &want {
        assert_eq!(Some(w), got.get(k), "{}", String::from_utf8_lossy(k));
    }
    // Same tree, same bytes.
    assert_eq!(tar_of(&dst, &WriteOptions::default()), tar1);
}

#[test]
fn layer_epoch_makes_layers_reproducible() {
    need_root!();
    let tmp = scratch();
    let epoch = 1_700_000_000;
    let build = |name: &str, now_offset: i64| {
        let root = tmp.path().join(name);
        rich_tree(&root);
        // Files touched "now" (at different times in each build).
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        fs::write(root.join("var/new"), b"x").unwrap();
        set_mtime(&root.join("var/new"), (now + now_offset, 17));
        set_mtime(&root.join("var"), (now + now_offset, 3));
        root
    };
    let a = build("a", 0);
    let b = build("b", 3600);
    let opts = WriteOptions { epoch: Some(epoch) };
    let ta = tar_of(&a, &opts);
    let tb = tar_of(&b, &opts);
    assert_eq!(sha256_hex(&ta), sha256_hex(&tb));
    assert_ne!(
        tar_of(&a, &WriteOptions::default()),
        tar_of(&b, &WriteOptions::default())
    );

    // Clamped, not replaced: older mtimes survive.
    let dst = tmp.path().join("x");
    fs::create_dir(&dst).unwrap();
    extract_layer(&ta[..], &dst, &ExtractOptions::default()).unwrap();
    assert_eq!(fs::metadata(dst.join("var/new")).unwrap().mtime(), epoch);
    assert_eq!(fs::metadata(dst.join("var/future")).unwrap().mtime(), epoch);
    assert_eq!(
        fs::metadata(dst.join("etc/shadow")).unwrap().mtime(),
        T0 + 7
    );
}

#[test]
fn layer_compressed_round_trip_in_one_pass() {
    need_root!();
    let tmp = scratch();
    let src = tmp.path().join("src");
    rich_tree(&src);
    let plain = tar_of(&src, &WriteOptions::default());
    for c in [Compression::gzip(), Compression::zstd(), Compression::None] {
        let mut blob = Vec::new();
        let info = write_layer_compressed(&src, &mut blob, &WriteOptions::default(), c).unwrap();
        assert_eq!(info.diff_id.hex(), sha256_hex(&plain), "{c:?}");
        assert_eq!(info.diff_size, plain.len() as u64);
        assert_eq!(info.digest.hex(), sha256_hex(&blob));
        assert_eq!(info.size, blob.len() as u64);
        let (mut r, _) = compressed_reader(&blob[..]).unwrap();
        let mut back = Vec::new();
        r.read_to_end(&mut back).unwrap();
        assert_eq!(back, plain, "{c:?}");

        let dst = tmp.path().join(format!(
            "dst-{}",
            c.media_type().rsplit('.').next().unwrap()
        ));
        fs::create_dir(&dst).unwrap();
        let stats = extract_compressed_layer(&blob[..], &dst, &ExtractOptions::default()).unwrap();
        assert_eq!(stats.diff_id, info.diff_id);
        assert_eq!(stats.blob.unwrap().digest, info.digest);
        assert_eq!(stats.blob.unwrap().size, info.size);
        assert_eq!(tar_of(&dst, &WriteOptions::default()), plain);
    }
}

fn gnu_tar() -> Option<PathBuf> {
    let ok = Command::new("tar")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        Some(PathBuf::from("tar"))
    } else if std::env::var_os("CI").is_some() {
        panic!("GNU tar is needed for the interoperability tests under CI");
    } else {
        eprintln!("skipped: no tar binary");
        None
    }
}

#[test]
fn layer_gnu_tar_reads_our_layers() {
    need_root!();
    let Some(tar) = gnu_tar() else { return };
    let tmp = scratch();
    let src = tmp.path().join("src");
    let user_xattrs = rich_tree(&src);
    let layer = tmp.path().join("layer.tar");
    write_layer(
        &src,
        fs::File::create(&layer).unwrap(),
        &WriteOptions::default(),
    )
    .unwrap();
    let out = tmp.path().join("out");
    fs::create_dir(&out).unwrap();
    let st = Command::new(&tar)
        .args([
            "--warning=no-timestamp",
            "--xattrs",
            "--xattrs-include=*",
            "--same-owner",
            "-xpf",
        ])
        .arg(&layer)
        .arg("-C")
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    // GNU tar sees the OCI form: whiteouts as .wh. files.
    assert!(out.join("var/.wh.deleted").is_file());
    assert!(out.join("var/cache/.wh..wh..opq").is_file());
    let m = |p: &str| fs::symlink_metadata(out.join(p)).unwrap();
    assert_eq!(m("bin/ping").mode() & 0o7777, 0o4755);
    assert_eq!(m("bin/ping").ino(), m("bin/ping-hard").ino());
    assert_eq!(
        (m("srv/big-ids").uid(), m("srv/big-ids").gid()),
        (3_000_000, 3_000_001)
    );
    assert_eq!(
        fs::read_link(out.join("usr/lib/long-target")).unwrap(),
        Path::new(&format!("../{}", "x".repeat(120)))
    );
    assert_eq!(m(&format!("deep/{}", "p".repeat(120))).len(), 9);
    assert_eq!(rustix::fs::major(m("dev/bigminor").rdev()), 4095);
    assert_eq!(rustix::fs::minor(m("dev/bigminor").rdev()), 1_048_575);
    assert_eq!(
        xattrs(&out.join("bin/ping")),
        vec![(b"security.capability".to_vec(), cap_net_raw())]
    );
    if user_xattrs {
        assert!(xattrs(&out.join("etc/hosts"))
            .contains(&(b"user.kiln.test".to_vec(), b"v\0bin".to_vec())));
    }
    assert_eq!(m("home/user/big").mtime(), T0 + 13);
}

#[test]
fn layer_we_read_gnu_tar_layers() {
    need_root!();
    let Some(tar) = gnu_tar() else { return };
    let tmp = scratch();
    let src = tmp.path().join("src");
    let mut t = Tree::new(&src);
    t.dir("a", 0o755, 0, 0, T0);
    t.file("a/file", &pattern(70_000, 9), 0o640, 12, 34, (T0 + 1, 0));
    fs::hard_link(t.p("a/file"), t.p("a/link")).unwrap();
    let long = format!("a/{}/{}", "L".repeat(150), "n".repeat(200));
    fs::create_dir_all(t.p(&long).parent().unwrap()).unwrap();
    t.file(&long, b"long", 0o644, 0, 0, (T0 + 2, 0));
    t.symlink("a/sym", "/abs/target", T0 + 3);
    t.file("a/.wh.gone", b"", 0o644, 0, 0, (T0 + 4, 0));
    t.dir("a/opq", 0o700, 0, 0, T0 + 5);
    t.file("a/opq/.wh..wh..opq", b"", 0o644, 0, 0, (T0 + 6, 0));
    t.xattr("a/file", "security.capability", &cap_net_raw());
    t.finish();
    for format in ["pax", "gnu"] {
        let layer = tmp.path().join(format!("{format}.tar"));
        let st = Command::new(&tar)
            .args([
                &format!("--format={format}"),
                "--xattrs",
                "--xattrs-include=*",
                "-cf",
            ])
            .arg(&layer)
            .arg("-C")
            .arg(&src)
            .arg("a")
            .status()
            .unwrap();
        assert!(st.success());
        let dst = tmp.path().join(format!("dst-{format}"));
        fs::create_dir(&dst).unwrap();
        let mut f = fs::File::open(&layer).unwrap();
        extract_layer(&mut f, &dst, &ExtractOptions::default()).unwrap();
        let m = |p: &str| fs::symlink_metadata(dst.join(p)).unwrap();
        assert_eq!(fs::read(dst.join("a/file")).unwrap(), pattern(70_000, 9));
        assert_eq!(
            (
                m("a/file").uid(),
                m("a/file").gid(),
                m("a/file").mode() & 0o7777
            ),
            (12, 34, 0o640)
        );
        assert_eq!(m("a/file").ino(), m("a/link").ino());
        assert_eq!(fs::read(dst.join(&long)).unwrap(), b"long");
        assert_eq!(
            fs::read_link(dst.join("a/sym")).unwrap(),
            Path::new("/abs/target")
        );
        assert!(
            m("a/gone").file_type().is_char_device() && m("a/gone").rdev() == 0,
            "whiteout"
        );
        assert!(!dst.join("a/.wh.gone").exists());
        assert_eq!(
            xattrs(&dst.join("a/opq")),
            vec![(b"trusted.overlay.opaque".to_vec(), b"y".to_vec())]
        );
        assert!(!dst.join("a/opq/.wh..wh..opq").exists());
        assert_eq!(m("a/opq").mtime(), T0 + 5);
        if format == "pax" {
            assert_eq!(
                xattrs(&dst.join("a/file")),
                vec![(b"security.capability".to_vec(), cap_net_raw())]
            );
        }
    }
}

#[test]
fn layer_write_errors_are_typed() {
    let tmp = scratch();
    let missing = tmp.path().join("nope");
    let err = write_layer(&missing, Vec::new(), &WriteOptions::default()).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");

    // An output that fails.
    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    fs::write(tmp.path().join("f"), b"x").unwrap();
    let err = write_layer(tmp.path(), Broken, &WriteOptions::default()).unwrap_err();
    assert!(
        matches!(err, kiln_solver::layer::LayerError::Output(_)),
        "{err}"
    );

    if is_root() {
        let d = tmp.path().join("redirected");
        fs::create_dir(&d).unwrap();
        rustix::fs::lsetxattr(
            &d,
            "trusted.overlay.redirect",
            b"/elsewhere",
            XattrFlags::empty(),
        )
        .unwrap();
        let err = write_layer(tmp.path(), Vec::new(), &WriteOptions::default()).unwrap_err();
        assert!(
            matches!(
                err,
                kiln_solver::layer::LayerError::UnsupportedOverlay { .. }
            ),
            "{err}"
        );
    }
}
