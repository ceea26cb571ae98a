//! Times `Context::selection_digest(["."])` on a generated context of
//! 20,000 files / ~500 MB, cold (no metadata cache) and warm (cache loaded
//! from disk, `stat` only).
//!
//! ```text
//! cargo run --release --example context_bench [-- DIR [--drop-caches] [--repeat N]]
//! ```
//!
//! DIR (default `$TMPDIR/kiln-context-bench`) is generated if missing and
//! kept for later runs. `--drop-caches` (root only) empties the page cache
//! before the first cold run, to include disk reads. Each of cold and warm
//! is run `--repeat N` times (default 5): min and median wall and CPU time
//! are reported (CPU time shows the cost when the machine is shared).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kiln::context::Context;

const FILES: u32 = 20_000;

fn generate(root: &Path) -> std::io::Result<u64> {
    // Mostly small files (0-32 KB), one in 200 of 1.5-2.5 MB, in 20 x 10
    // directories; contents from a xorshift generator.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let pool: Vec<u8> = (0..4 << 20).map(|_| rnd() as u8).collect();
    let tmp = root.with_extension("partial");
    let _ = fs::remove_dir_all(&tmp);
    let mut total = 0;
    for i in 0..FILES {
        let dir = tmp.join(format!("d{:02}/s{:02}", i % 20, (i / 20) % 10));
        fs::create_dir_all(&dir)?;
        let size = if i % 200 == 0 {
            1_500_000 + rnd() % 1_000_000
        } else {
            rnd() % 32_000
        } as usize;
        let offset = (rnd() % (1 << 20)) as usize;
        fs::File::create(dir.join(format!("f{i}.bin")))?.write_all(&pool[offset..offset + size])?;
        total += size as u64;
    }
    fs::rename(&tmp, root)?;
    Ok(total)
}

/// User + system CPU time of this process (all threads).
fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn report(what: &str, runs: &mut [(Duration, Duration)]) {
    if runs.is_empty() {
        return;
    }
    runs.sort();
    let (min, median) = (runs[0], runs[runs.len() / 2]);
    println!(
        "{what}, {} runs: min {:.1?} wall ({:.1?} cpu), median {:.1?} wall ({:.1?} cpu)",
        runs.len(),
        min.0,
        min.1,
        median.0,
        median.1
    );
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let root = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("kiln-context-bench"));
    let rest: Vec<String> = args.collect();
    let drop_caches = rest.iter().any(|a| a == "--drop-caches");
    let repeat: usize = rest
        .iter()
        .position(|a| a == "--repeat")
        .and_then(|i| rest.get(i + 1))
        .map_or(Ok(5), |n| n.parse())?;
    if !root.exists() {
        let t = Instant::now();
        let total = generate(&root)?;
        println!(
            "generated {FILES} files, {:.0} MB in {:.1?}",
            mb(total),
            t.elapsed()
        );
        // Files younger than the racy-timestamp margin are not cached.
        std::thread::sleep(Duration::from_millis(2500));
    }
    let srcs = [".".to_owned()];

    // Cold: no metadata cache; every file is read and hashed.
    let mut cold_runs = Vec::new();
    let mut cold = String::new();
    let mut cache = tempfile::tempdir()?;
    for run in 0..repeat {
        cache = tempfile::tempdir()?;
        if drop_caches && run == 0 {
            let _ = std::process::Command::new("sync").status();
            fs::write("/proc/sys/vm/drop_caches", "3")?;
        }
        let (cpu0, t) = (cpu_time(), Instant::now());
        let ctx = Context::open(&root, None, Some(cache.path()))?;
        let digest = ctx.selection_digest(&srcs, true)?;
        let (wall, cpu) = (t.elapsed(), cpu_time() - cpu0);
        ctx.save()?;
        let stats = ctx.stats();
        if run == 0 {
            println!(
                "cold run 1{}: {wall:.1?} wall, {cpu:.1?} cpu; {} files hashed, {:.0} MB",
                if drop_caches {
                    " (page cache dropped)"
                } else {
                    ""
                },
                stats.files_hashed,
                mb(stats.bytes_hashed)
            );
            cold = digest;
        } else {
            assert_eq!(digest, cold);
        }
        cold_runs.push((wall, cpu));
    }
    report(
        "cold (page cache warm)",
        &mut cold_runs[usize::from(drop_caches)..],
    );

    // Warm: a new Context loads the persisted cache; stat calls only.
    let mut warm_runs = Vec::new();
    for _ in 0..repeat {
        let (cpu0, t) = (cpu_time(), Instant::now());
        let ctx = Context::open(&root, None, Some(cache.path()))?;
        let digest = ctx.selection_digest(&srcs, true)?;
        warm_runs.push((t.elapsed(), cpu_time() - cpu0));
        assert_eq!(digest, cold);
        assert_eq!(ctx.stats().files_hashed, 0);
    }
    report("warm (open + load cache + stat walk)", &mut warm_runs);
    println!("{cold}");
    Ok(())
}
