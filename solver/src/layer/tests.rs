//! Hostile and malformed layers: every path-escape attack must leave
//! everything outside the destination untouched, through both resolvers
//! (openat2 and the by-hand walk); broken tars must give typed errors.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::extract::extract_with;
use super::header::{self, EntryHeader};
use super::{extract_compressed_layer, ExtractOptions, ExtractStats, LayerError};

/// A tar written entry by entry, names taken verbatim (no cleaning).
#[derive(Default)]
struct RawTar(Vec<u8>);

impl RawTar {
    fn entry(&mut self, name: &str, typeflag: u8, linkname: &str, data: &[u8]) -> &mut Self {
        let mode = if typeflag == header::TYPE_DIR {
            0o755
        } else {
            0o644
        };
        let h = EntryHeader {
            name: name.as_bytes(),
            typeflag,
            mode,
            size: data.len() as u64,
            mtime: 1_600_000_000,
            linkname: linkname.as_bytes(),
            devmajor: if typeflag == header::TYPE_CHAR { 1 } else { 0 },
            devminor: if typeflag == header::TYPE_CHAR { 3 } else { 0 },
            ..Default::default()
        };
        header::encode(&h, &mut self.0).unwrap();
        self.0.extend_from_slice(data);
        self.0
            .resize(self.0.len() + header::padding(data.len() as u64), 0);
        self
    }
    fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.entry(name, header::TYPE_REG, "", data)
    }
    fn dir(&mut self, name: &str) -> &mut Self {
        self.entry(name, header::TYPE_DIR, "", b"")
    }
    fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(name, header::TYPE_SYMLINK, target, b"")
    }
    fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(name, header::TYPE_LINK, target, b"")
    }
    fn finish(&mut self) -> Vec<u8> {
        let mut v = std::mem::take(&mut self.0);
        v.resize(v.len() + 1024, 0);
        v
    }
}

/// A tempdir with `dest/` and a `sentinel/` sibling holding a secret.
struct Layout {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    dest: PathBuf,
    sentinel: PathBuf,
    before: BTreeMap<PathBuf, String>,
}

fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let md = fs::symlink_metadata(&d).unwrap();
        let mut xattrs = vec![0u8; 4096];
        let n = rustix::fs::llistxattr(&d, &mut xattrs[..]).unwrap_or(0);
        let content = if md.is_file() {
            fs::read(&d).unwrap()
        } else {
            Vec::new()
        };
        out.insert(
            d.clone(),
            format!(
                "{:o} {}:{} {} nlink={} x={:?} {:?}",
                md.mode(),
                md.uid(),
                md.gid(),
                md.mtime(),
                md.nlink(),
                String::from_utf8_lossy(&xattrs[..n]),
                String::from_utf8_lossy(&content)
            ),
        );
        if md.is_dir() {
            for e in fs::read_dir(&d).unwrap() {
                stack.push(e.unwrap().path());
            }
        }
    }
    out
}

impl Layout {
    fn new() -> Layout {
        let tmp = scratch();
        let base = tmp.path().to_owned();
        let dest = base.join("dest");
        let sentinel = base.join("sentinel");
        fs::create_dir(&dest).unwrap();
        fs::create_dir(&sentinel).unwrap();
        fs::write(sentinel.join("secret"), b"do not touch").unwrap();
        let before = snapshot(&sentinel);
        Layout {
            _tmp: tmp,
            base,
            dest,
            sentinel,
            before,
        }
    }

    /// The absolute host path of the sentinel, as a tar name or target.
    fn abs(&self) -> String {
        self.sentinel.to_str().unwrap().to_owned()
    }

    fn extract(&self, tar: &[u8], manual: bool) -> super::Result<ExtractStats> {
        extract_with(tar, &self.dest, &ExtractOptions::default(), manual)
    }

    /// Nothing outside `dest` changed.
    fn check(&self, what: &str) {
        assert_eq!(
            snapshot(&self.sentinel),
            self.before,
            "{what}: sentinel changed"
        );
        let mut names: Vec<_> = fs::read_dir(&self.base)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["dest", "sentinel"],
            "{what}: something was written beside dest"
        );
        let abs = self.abs();
        for probe in [
            format!("{abs}/pwned"),
            "/pwned".to_owned(),
            "/tmp/pwned-kiln".to_owned(),
        ] {
            assert!(
                fs::symlink_metadata(&probe).is_err(),
                "{what}: {probe} exists"
            );
        }
    }

    fn inside(&self, rel: &str) -> PathBuf {
        self.dest.join(rel.trim_start_matches('/'))
    }
}

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

type Attack = (
    &'static str,
    fn(&Layout) -> Vec<u8>,
    fn(&Layout, &super::Result<ExtractStats>),
);

fn attacks() -> Vec<Attack> {
    vec![
        (
            "dot-dot names",
            |_| {
                RawTar::default()
                    .file("../../sentinel/pwned", b"x")
                    .file("../sentinel/pwned2", b"x")
                    .finish()
            },
            |l, r| {
                r.as_ref().unwrap();
                assert!(l.inside("sentinel/pwned").is_file());
                assert!(l.inside("sentinel/pwned2").is_file());
            },
        ),
        (
            "absolute names",
            |l| {
                RawTar::default()
                    .file(&format!("{}/pwned", l.abs()), b"x")
                    .file("/pwned", b"x")
                    .finish()
            },
            |l, r| {
                r.as_ref().unwrap();
                assert!(l.inside(&format!("{}/pwned", l.abs())).is_file());
                assert!(l.inside("pwned").is_file());
            },
        ),
        (
            "relative symlink out, then write through it",
            |_| {
                RawTar::default()
                    .symlink("esc", "../../sentinel")
                    .file("esc/pwned", b"x")
                    .finish()
            },
            |l, r| {
                r.as_ref().unwrap();
                assert!(
                    l.inside("sentinel/pwned").is_file(),
                    "resolved with dest as /"
                );
            },
        ),
        (
            "symlink to /, then write through it",
            |l| {
                RawTar::default()
                    .symlink("r", "/")
                    .file(&format!("r{}/pwned", l.abs()), b"x")
                    .file("r/../../sentinel/pwned", b"x")
                    .finish()
            },
            |l, r| {
                r.as_ref().unwrap();
                assert!(l.inside(&format!("{}/pwned", l.abs())).is_file());
            },
        ),
        (
            "symlink to the host path, then files, dirs, devices through it",
            |l| {
                RawTar::default()
                    .symlink("h", &l.abs())
                    .file("h/pwned", b"x")
                    .dir("h/sub/")
                    .entry("h/null", header::TYPE_CHAR, "", b"")
                    .file("h/secret", b"overwritten")
                    .finish()
            },
            |l, r| {
                r.as_ref().unwrap();
                assert!(l.inside(&format!("{}/pwned", l.abs())).is_file());
                assert!(l.inside(&format!("{}/sub", l.abs())).is_dir());
            },
        ),
        (
            "regular file over a planted symlink",
            |l| {
                RawTar::default()
                    .symlink("f", &format!("{}/secret", l.abs()))
                    .file("f", b"pwned")
                    .symlink("g", "../../sentinel/secret")
                    .file("g", b"pwned")
                    .finish()
            },
            |l, r| {
                r.as_ref().unwrap();
                assert_eq!(fs::read(l.inside("f")).unwrap(), b"pwned");
                assert!(fs::symlink_metadata(l.inside("g")).unwrap().is_file());
            },
        ),
        (
            "hard link to a file outside",
            |_| {
                RawTar::default()
                    .hardlink("hl", "../../sentinel/secret")
                    .finish()
            },
            |_, r| assert!(matches!(r, Err(LayerError::HardlinkTarget { .. })), "{r:?}"),
        ),
        (
            "hard link through a symlink to the host",
            |l| {
                RawTar::default()
                    .symlink("s", &l.abs())
                    .hardlink("hl2", "s/secret")
                    .finish()
            },
            |_, r| assert!(matches!(r, Err(LayerError::HardlinkTarget { .. })), "{r:?}"),
        ),
        (
            "symlink loop",
            |_| {
                RawTar::default()
                    .symlink("a", "b")
                    .symlink("b", "a")
                    .file("a/x", b"x")
                    .finish()
            },
            |_, r| assert!(r.is_err(), "{r:?}"),
        ),
        (
            "whiteout through a symlink",
            |l| {
                RawTar::default()
                    .symlink("w", &l.abs())
                    .file("w/.wh.secret", b"")
                    .finish()
            },
            |l, r| {
                r.as_ref().unwrap();
                let wh = fs::symlink_metadata(l.inside(&format!("{}/secret", l.abs()))).unwrap();
                assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
            },
        ),
        (
            "opaque marker through a symlink",
            |_| {
                RawTar::default()
                    .symlink("o", "../../sentinel")
                    .file("o/.wh..wh..opq", b"")
                    .finish()
            },
            |l, r| {
                r.as_ref().unwrap();
                let mut v = [0u8; 8];
                let n = rustix::fs::lgetxattr(
                    l.inside("sentinel"),
                    "trusted.overlay.opaque",
                    &mut v[..],
                )
                .unwrap();
                assert_eq!(&v[..n], b"y");
            },
        ),
        (
            "directory over a symlink to the host",
            |l| {
                RawTar::default()
                    .symlink("d", &l.abs())
                    .entry("d/", header::TYPE_DIR, "", b"")
                    .finish()
            },
            |l, r| {
                r.as_ref().unwrap();
                assert!(fs::symlink_metadata(l.inside("d")).unwrap().is_dir());
            },
        ),
        (
            "symlink chains with dot-dots",
            |_| {
                RawTar::default()
                    .symlink("l2", ".")
                    .symlink("l1", "l2/../../..")
                    .file("l1/sentinel/p", b"x")
                    .symlink("up", "..")
                    .file("up/sentinel/pwned", b"x")
                    .finish()
            },
            |l, r| {
                r.as_ref().unwrap();
                assert!(l.inside("sentinel/p").is_file());
                assert!(l.inside("sentinel/pwned").is_file());
            },
        ),
    ]
}

#[test]
fn path_escapes_stay_inside_dest() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    for manual in [false, true] {
        for (name, build, expect) in attacks() {
            let l = Layout::new();
            let tar = build(&l);
            let r = l.extract(&tar, manual);
            let what = format!("{name} (manual walk: {manual})");
            l.check(&what);
            expect(&l, &r);
        }
    }
}

#[test]
fn entries_replace_what_is_there() {
    if !is_root() {
        return;
    }
    for manual in [false, true] {
        let l = Layout::new();
        let tar = RawTar::default()
            .file("x", b"file first")
            .dir("x/")
            .file("x/y", b"then a dir")
            .dir("d/")
            .file("d/inner", b"gone")
            .file("d", b"dir replaced by a file")
            .dir("m/")
            .entry("m/", header::TYPE_DIR, "", b"") // merged, not emptied
            .file("m/a", b"a")
            .dir("m/")
            .file("plain", b"1")
            .file("plain", b"2")
            .finish();
        l.extract(&tar, manual).unwrap();
        assert_eq!(fs::read(l.inside("x/y")).unwrap(), b"then a dir");
        assert_eq!(fs::read(l.inside("d")).unwrap(), b"dir replaced by a file");
        assert_eq!(fs::read(l.inside("m/a")).unwrap(), b"a");
        assert_eq!(fs::read(l.inside("plain")).unwrap(), b"2");
        l.check("replace");
    }
}

#[test]
fn foreign_overlay_xattrs_are_ignored() {
    if !is_root() {
        return;
    }
    let l = Layout::new();
    let xattrs = vec![
        (b"trusted.overlay.redirect".to_vec(), b"/elsewhere".to_vec()),
        (b"trusted.overlay.metacopy".to_vec(), Vec::new()),
    ];
    let h = EntryHeader {
        name: b"f",
        typeflag: header::TYPE_REG,
        mode: 0o644,
        xattrs: &xattrs,
        ..Default::default()
    };
    let mut tar = Vec::new();
    header::encode(&h, &mut tar).unwrap();
    tar.resize(tar.len() + 1024, 0);
    let stats = l.extract(&tar, false).unwrap();
    assert_eq!(stats.xattrs_skipped, 2);
    let mut v = [0u8; 64];
    assert!(rustix::fs::lgetxattr(l.inside("f"), "trusted.overlay.redirect", &mut v[..]).is_err());
}

fn one_file_tar(size: usize) -> Vec<u8> {
    RawTar::default()
        .file("dir/file", &vec![b'z'; size])
        .finish()
}

#[test]
fn malformed_archives_give_typed_errors() {
    let l = Layout::new();
    let run = |tar: &[u8]| {
        extract_with(
            tar,
            &l.dest,
            &ExtractOptions {
                same_owner: is_root(),
                ..Default::default()
            },
            false,
        )
    };

    // Garbage: header checksum cannot match.
    let mut x: u64 = 42;
    let garbage: Vec<u8> = (0..4096)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as u8
        })
        .collect();
    assert!(
        matches!(run(&garbage), Err(LayerError::Input(_))),
        "{:?}",
        run(&garbage)
    );

    // An empty stream and bare end blocks are empty layers.
    assert_eq!(run(b"").unwrap().files, 0);
    assert_eq!(run(&[0u8; 1024]).unwrap().files, 0);

    // Cut inside a file's data, inside a header, just after a header.
    let tar = one_file_tar(10_000);
    for cut in [512 + 3000, 512 + 10_000 - 1, 700, 512] {
        let r = run(&tar[..cut]);
        assert!(
            matches!(r, Err(LayerError::Truncated { .. })),
            "cut at {cut}: {r:?}"
        );
    }

    // A corrupt checksum.
    let mut bad = one_file_tar(10);
    bad[0] ^= 0x20;
    assert!(matches!(run(&bad), Err(LayerError::Input(_))));

    // A size field that is not octal.
    let mut bad = one_file_tar(10);
    bad[124..136].copy_from_slice(b"zzzzzzzzzzz\0");
    fix_checksum(&mut bad[..512]);
    assert!(run(&bad).is_err());

    // A size far beyond the data.
    let mut bad = one_file_tar(10);
    bad[124..136].copy_from_slice(b"77777777777\0");
    fix_checksum(&mut bad[..512]);
    assert!(
        matches!(run(&bad), Err(LayerError::Truncated { .. })),
        "{:?}",
        run(&bad)
    );

    // Entries that cannot be represented.
    let tar = RawTar::default().file("a/.wh.", b"").finish();
    assert!(matches!(run(&tar), Err(LayerError::Malformed { .. })));
    let tar = RawTar::default().hardlink("a", "missing").finish();
    assert!(matches!(run(&tar), Err(LayerError::HardlinkTarget { .. })));
    let tar = RawTar::default().entry("vol", b'V', "", b"").finish();
    assert!(
        matches!(run(&tar), Err(LayerError::UnsupportedEntry { .. })),
        "{:?}",
        run(&tar)
    );
    let tar = RawTar::default().symlink("s", "").finish();
    assert!(matches!(run(&tar), Err(LayerError::Malformed { .. })));

    // A broken PAX record.
    let mut tar = RawTar::default()
        .entry("x/PaxHeaders.0/f", b'x', "", b"99 path=oops\n")
        .finish();
    tar.truncate(tar.len() - 1024);
    tar.extend_from_slice(&one_file_tar(3));
    assert!(run(&tar).is_err());

    // Compressed garbage and truncated compressed layers.
    let opts = ExtractOptions::default();
    let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    gz.extend_from_slice(&garbage[..100]);
    assert!(matches!(
        extract_compressed_layer(&gz[..], &l.dest, &opts),
        Err(LayerError::Input(_))
    ));
    let mut w = super::CompressWriter::new(Vec::new(), super::Compression::zstd()).unwrap();
    std::io::Write::write_all(&mut w, &one_file_tar(100_000)).unwrap();
    let (zst, _) = w.finish().unwrap();
    let r = extract_compressed_layer(&zst[..zst.len() / 2], &l.dest, &opts);
    assert!(
        matches!(r, Err(LayerError::Truncated { .. } | LayerError::Input(_))),
        "{r:?}"
    );
    l.check("malformed");
}

fn fix_checksum(h: &mut [u8]) {
    let sum: u32 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                b as u32
            }
        })
        .sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

#[test]
fn ownership_can_be_left_alone() {
    let l = Layout::new();
    let mut tar = Vec::new();
    let h = EntryHeader {
        name: b"owned",
        typeflag: header::TYPE_REG,
        mode: 0o640,
        uid: 4242,
        gid: 4343,
        ..Default::default()
    };
    header::encode(&h, &mut tar).unwrap();
    tar.resize(tar.len() + 1024, 0);
    let opts = ExtractOptions {
        same_owner: false,
        ..Default::default()
    };
    extract_with(&tar[..], &l.dest, &opts, false).unwrap();
    let md = fs::metadata(l.inside("owned")).unwrap();
    assert_eq!(md.uid(), rustix::process::geteuid().as_raw());
    assert_eq!(md.mode() & 0o7777, 0o640);
    let _ = l.dest.as_os_str().as_bytes();
}

#[test]
fn mutated_archives_never_panic_or_escape() {
    let same_owner = is_root();
    let l = Layout::new();
    // A small layer with every kind of header: PAX (long name, xattr),
    // links, symlinks, whiteouts, an opaque marker.
    let long = format!("d/{}", "n".repeat(130));
    let xattrs = vec![(b"user.k".to_vec(), b"v".to_vec())];
    let mut base = RawTar::default();
    base.dir("d/")
        .file("d/f", b"hello")
        .hardlink("d/h", "d/f")
        .symlink("d/s", "../..");
    base.file(&long, b"long")
        .file("d/.wh.gone", b"")
        .file("d/.wh..wh..opq", b"");
    let h = EntryHeader {
        name: b"d/x",
        typeflag: header::TYPE_REG,
        mode: 0o4755,
        size: 3,
        xattrs: &xattrs,
        ..Default::default()
    };
    header::encode(&h, &mut base.0).unwrap();
    base.0.extend_from_slice(b"abc");
    base.0.resize(base.0.len() + header::padding(3), 0);
    let base = base.finish();

    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..400 {
        let mut t = base.clone();
        match next() % 4 {
            0 => t.truncate((next() % base.len() as u64) as usize),
            1 => {
                for _ in 0..1 + next() % 8 {
                    let at = (next() % t.len() as u64) as usize;
                    t[at] ^= 1 << (next() % 8);
                }
            }
            2 => {
                // Damage a header field but keep its checksum valid.
                let blk = (next() % (t.len() / 512) as u64) as usize * 512;
                let at = blk + (next() % 345) as usize;
                t[at] = next() as u8;
                fix_checksum(&mut t[blk..blk + 512]);
            }
            _ => {
                let at = (next() % t.len() as u64) as usize;
                let n = (next() % 64) as usize;
                for b in t.iter_mut().skip(at).take(n) {
                    *b = next() as u8;
                }
            }
        }
        let dest = l.dest.join(format!("m{i}"));
        fs::create_dir(&dest).unwrap();
        let opts = ExtractOptions {
            same_owner,
            ..Default::default()
        };
        let r = std::panic::catch_unwind(|| extract_with(&t[..], &dest, &opts, i % 2 == 1));
        assert!(r.is_ok(), "mutation {i} panicked");
    }
    l.check("mutations");
}
