//! Layer benchmarks: tar writing of a generated snapshot, gzip and zstd
//! throughput on ~256 MiB of image-like data, the one-pass compressed
//! export, and extraction.
//!
//! `cargo bench -p kiln-solver --bench layer -- --warm-up-time 1 --measurement-time 5`

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kiln_solver::layer::{
    extract_layer, write_layer, write_layer_compressed, CompressWriter, Compression,
    ExtractOptions, WriteOptions,
};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

const WORDS: &[&str] = &[
    "the",
    "package",
    "install",
    "error",
    "config",
    "usr",
    "lib",
    "share",
    "return",
    "function",
    "if",
    "else",
    "struct",
    "const",
    "import",
    "value",
    "string",
    "int",
    "for",
    "while",
    "static",
    "void",
    "include",
    "define",
    "python3",
    "site-packages",
    "__init__",
    "self",
    "node_modules",
    "index",
    "module",
    "exports",
    "require",
    "license",
    "copyright",
    "version",
    "debian",
    "amd64",
    "x86_64",
    "gnu",
    "locale",
    "UTF-8",
    "ENV",
    "PATH",
];

/// Data shaped like a container layer: ~32% text (source, configs, docs),
/// ~40% machine-code-like binary (skewed byte distribution, repeats), ~20%
/// already-compressed (random) bytes, ~8% zero padding. Compresses about
/// like a tar of a Debian /usr (gzip -6 ratio ~2).
fn image_like(len: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed | 1);
    let mut out = Vec::with_capacity(len + 65536);
    while out.len() < len {
        let kind = r.next() % 100;
        let chunk = 4096 + (r.next() % 61440) as usize;
        let end = out.len() + chunk;
        if kind < 32 {
            while out.len() < end {
                let indent = (r.next() % 4) as usize * 4;
                out.extend(std::iter::repeat_n(b' ', indent));
                for _ in 0..(3 + r.next() % 9) {
                    out.extend_from_slice(
                        WORDS[(r.next() % WORDS.len() as u64) as usize].as_bytes(),
                    );
                    out.push(if r.next().is_multiple_of(7) {
                        b'_'
                    } else {
                        b' '
                    });
                }
                if r.next().is_multiple_of(5) {
                    out.extend_from_slice(format!("{}", r.next() % 100_000).as_bytes());
                }
                out.push(b'\n');
            }
        } else if kind < 72 {
            // Opcode-like: a small alphabet of common bytes, with back-references.
            const COMMON: &[u8] = &[
                0x48, 0x89, 0x8b, 0xe8, 0x00, 0xff, 0x0f, 0x85, 0x84, 0x24, 0xc3, 0x31, 0xc0, 0x83,
                0x74, 0x75,
            ];
            while out.len() < end {
                let x = r.next();
                if x.is_multiple_of(8) && out.len() > 64 {
                    let back = 1 + (x >> 8) as usize % 64.min(out.len() - 1);
                    let n = 4 + (x >> 20) as usize % 12;
                    let start = out.len() - back;
                    for i in 0..n {
                        let b = out[start + i % back];
                        out.push(b);
                    }
                } else if x.is_multiple_of(3) {
                    out.push((x >> 16) as u8);
                } else {
                    out.push(COMMON[(x >> 24) as usize % COMMON.len()]);
                }
            }
        } else if kind < 92 {
            while out.len() < end {
                out.extend_from_slice(&r.next().to_le_bytes());
            }
        } else {
            out.resize(end, 0);
        }
    }
    out.truncate(len);
    out
}

/// A snapshot dir of `total` bytes spread over files of mixed sizes.
fn make_tree(root: &Path, total: usize) -> usize {
    let data = image_like(total, 7);
    let mut r = Rng(99);
    let mut off = 0;
    let mut n = 0;
    while off < data.len() {
        let size = match r.next() % 10 {
            0..=5 => (r.next() % 8192) as usize,
            6..=8 => (r.next() % 200_000) as usize,
            _ => (r.next() % 4_000_000) as usize,
        }
        .min(data.len() - off);
        let dir = root.join(format!("usr/lib/pkg{:03}/sub{}", n % 97, n % 5));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(format!("file-{n}.dat")), &data[off..off + size]).unwrap();
        if n % 50 == 0 {
            std::os::unix::fs::symlink(format!("file-{n}.dat"), dir.join(format!("link-{n}")))
                .unwrap();
        }
        off += size;
        n += 1;
    }
    n
}

fn compress_all(data: &[u8], c: Compression) -> u64 {
    let mut w = CompressWriter::new(io::sink(), c).unwrap();
    for chunk in data.chunks(1 << 20) {
        w.write_all(chunk).unwrap();
    }
    w.finish().unwrap().1.size
}

fn benches(c: &mut Criterion) {
    let data = image_like(256 << 20, 1);
    for comp in [Compression::gzip(), Compression::zstd()] {
        let size = compress_all(&data, comp);
        eprintln!(
            "{comp:?}: 256 MiB -> {:.1} MiB (ratio {:.2}), {} threads",
            size as f64 / (1 << 20) as f64,
            data.len() as f64 / size as f64,
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        );
    }

    let mut g = c.benchmark_group("compress-256MiB");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("gzip-6", |b| {
        b.iter(|| compress_all(&data, Compression::gzip()))
    });
    g.bench_function("zstd-3", |b| {
        b.iter(|| compress_all(&data, Compression::zstd()))
    });
    g.finish();
    drop(data);

    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    let files = make_tree(&tree, 96 << 20);
    let tar_size = write_layer(&tree, io::sink(), &WriteOptions::default())
        .unwrap()
        .size;
    eprintln!(
        "tree: {files} files, tar {:.1} MiB",
        tar_size as f64 / (1 << 20) as f64
    );

    let mut g = c.benchmark_group("layer-96MiB-tree");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(tar_size));
    g.bench_function("write-tar", |b| {
        b.iter(|| write_layer(&tree, io::sink(), &WriteOptions::default()).unwrap())
    });
    g.bench_function("write-tar+gzip", |b| {
        b.iter(|| {
            write_layer_compressed(
                &tree,
                io::sink(),
                &WriteOptions::default(),
                Compression::gzip(),
            )
            .unwrap()
        })
    });
    g.bench_function("write-tar+zstd", |b| {
        b.iter(|| {
            write_layer_compressed(
                &tree,
                io::sink(),
                &WriteOptions::default(),
                Compression::zstd(),
            )
            .unwrap()
        })
    });
    let mut tar = Vec::new();
    write_layer(&tree, &mut tar, &WriteOptions::default()).unwrap();
    let mut k = 0;
    g.bench_function("extract", |b| {
        b.iter_batched(
            || {
                // Remove the previous run's output outside the measurement.
                let _ = fs::remove_dir_all(tmp.path().join(format!("x{k}")));
                k += 1;
                let d = tmp.path().join(format!("x{k}"));
                fs::create_dir(&d).unwrap();
                d
            },
            |d| {
                extract_layer(
                    &tar[..],
                    &d,
                    &ExtractOptions {
                        same_owner: false,
                        ..Default::default()
                    },
                )
                .unwrap();
                d
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(layer, benches);
criterion_main!(layer);
