//! Layer compression: gzip on all cores, zstd with worker threads, and the
//! digests of both the uncompressed and the compressed stream in one pass.
//!
//! **gzip** is compressed in parallel the way pigz does it: the input is cut
//! into fixed 1 MiB blocks, each block is deflated by a worker thread
//! (zlib-rs) with the previous block's last 32 KiB as its dictionary and
//! ends with a sync flush (the last one with the final block), and the
//! per-block CRC32s are combined. The result is one ordinary gzip member,
//! readable by every gzip decoder, with a ratio within a fraction of a
//! percent of single-threaded gzip. Block boundaries depend on byte
//! offsets only, so the output is byte-identical whatever the number of
//! threads. The header is Go's (`compress/gzip`): mtime 0, OS 255.
//!
//! **zstd** uses libzstd's own workers (`ZSTD_c_nbWorkers` >= 1, whose
//! output libzstd guarantees identical for any worker count) and writes a
//! content checksum.
//!
//! Memory stays flat: at most about `2 * threads + 1` gzip blocks are in
//! flight; zstd's buffers are its own and bounded.

use std::collections::VecDeque;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flate2::{Compress, FlushCompress, Status};
use sha2::{Digest as _, Sha256};

use super::write::{write_layer, WriteOptions};
use super::{Digest, LayerError, Result};

/// A layer compression and its level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip, level 0 (store) to 9. BuildKit's default is 6 ([`Compression::gzip`]).
    Gzip { level: u32 },
    /// zstd, level 1 to 22 (negative levels: faster). BuildKit's default is 3.
    Zstd { level: i32 },
}

impl Compression {
    /// gzip at the default level (6, as Go's `gzip.DefaultCompression`).
    pub const fn gzip() -> Compression {
        Compression::Gzip { level: 6 }
    }

    /// zstd at the default level (3).
    pub const fn zstd() -> Compression {
        Compression::Zstd { level: 3 }
    }

    /// The OCI media type of a layer with this compression.
    pub fn media_type(&self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip { .. } => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd { .. } => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// Digest and size of a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobInfo {
    pub digest: Digest,
    pub size: u64,
}

/// What [`write_layer_compressed`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompressedLayerInfo {
    /// sha256 of the uncompressed tar.
    pub diff_id: Digest,
    /// Size of the uncompressed tar.
    pub diff_size: u64,
    /// sha256 of the compressed blob (the layer's descriptor digest).
    pub digest: Digest,
    /// Size of the compressed blob.
    pub size: u64,
    pub compression: Compression,
    /// Entries in the tar.
    pub entries: u64,
}

/// Write the layer of `diff_dir` compressed into `out`, in one pass over
/// the diff: returns both the diff id and the compressed digest and size.
pub fn write_layer_compressed(
    diff_dir: &Path,
    out: impl Write,
    opts: &WriteOptions,
    compression: Compression,
) -> Result<CompressedLayerInfo> {
    if compression == Compression::None {
        let info = write_layer(diff_dir, out, opts)?;
        return Ok(CompressedLayerInfo {
            diff_id: info.diff_id,
            diff_size: info.size,
            digest: info.diff_id,
            size: info.size,
            compression,
            entries: info.entries,
        });
    }
    let mut cw = CompressWriter::new(out, compression).map_err(LayerError::Output)?;
    let info = write_layer(diff_dir, &mut cw, opts)?;
    let (_, blob) = cw.finish().map_err(LayerError::Output)?;
    Ok(CompressedLayerInfo {
        diff_id: info.diff_id,
        diff_size: info.size,
        digest: blob.digest,
        size: blob.size,
        compression,
        entries: info.entries,
    })
}

/// Hashes and counts what is written through it.
pub(crate) struct HashWriter<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> HashWriter<W> {
    fn new(inner: W) -> Self {
        HashWriter {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    fn finish(self) -> (W, BlobInfo) {
        let size = self.size;
        (
            self.inner,
            BlobInfo {
                digest: Digest::from_hasher(self.hasher),
                size,
            },
        )
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Hashes and counts what is read through it.
pub(crate) struct HashReader<R> {
    inner: R,
    hasher: Sha256,
    size: u64,
}

impl<R: Read> HashReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        HashReader {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    pub(crate) fn finish(self) -> (Digest, u64) {
        (Digest::from_hasher(self.hasher), self.size)
    }
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

/// A streaming compressor: what is written to it goes compressed into the
/// inner writer, whose digest and size it computes. Call
/// [`finish`](CompressWriter::finish) to end the stream.
pub struct CompressWriter<W: Write> {
    enc: Enc<W>,
}

enum Enc<W: Write> {
    Plain(HashWriter<W>),
    Gzip(ParGzip<HashWriter<W>>),
    Zstd(zstd::stream::write::Encoder<'static, HashWriter<W>>),
}

/// The number of cores this process may use.
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

impl<W: Write> CompressWriter<W> {
    /// A compressor using all cores.
    pub fn new(out: W, compression: Compression) -> io::Result<Self> {
        Self::with_threads(out, compression, default_threads())
    }

    /// A compressor using `threads` worker threads (at least 1). The output
    /// does not depend on `threads`.
    pub fn with_threads(out: W, compression: Compression, threads: usize) -> io::Result<Self> {
        let threads = threads.max(1);
        let out = HashWriter::new(out);
        let enc = match compression {
            Compression::None => Enc::Plain(out),
            Compression::Gzip { level } => {
                if level > 9 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("gzip level {level} is not in 0..=9"),
                    ));
                }
                Enc::Gzip(ParGzip::new(out, level, threads))
            }
            Compression::Zstd { level } => {
                let mut e = zstd::stream::write::Encoder::new(out, level)?;
                e.multithread(threads as u32)?;
                e.include_checksum(true)?;
                Enc::Zstd(e)
            }
        };
        Ok(CompressWriter { enc })
    }

    /// End the compressed stream, flush, and return the inner writer with
    /// the compressed blob's digest and size.
    pub fn finish(self) -> io::Result<(W, BlobInfo)> {
        let mut hw = match self.enc {
            Enc::Plain(hw) => hw,
            Enc::Gzip(gz) => gz.finish()?,
            Enc::Zstd(z) => z.finish()?,
        };
        hw.flush()?;
        Ok(hw.finish())
    }
}

impl<W: Write> Write for CompressWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.enc {
            Enc::Plain(w) => w.write(buf),
            Enc::Gzip(w) => w.write(buf),
            Enc::Zstd(w) => w.write(buf),
        }
    }

    /// Flushes what the inner writer holds; compressed data still in
    /// flight is only guaranteed out by `finish`.
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.enc {
            Enc::Plain(w) => w.flush(),
            Enc::Gzip(w) => w.out.flush(),
            Enc::Zstd(w) => w.get_mut().flush(),
        }
    }
}

/// Wrap a layer blob reader in the decoder its first bytes call for
/// (gzip, zstd, or none) and say which it was (at the default level).
pub fn compressed_reader<'a, R: Read + Send + 'a>(
    mut r: R,
) -> io::Result<(Box<dyn Read + Send + 'a>, Compression)> {
    let mut magic = [0u8; 4];
    let mut n = 0;
    while n < magic.len() {
        match r.read(&mut magic[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    let head = io::Cursor::new(magic[..n].to_vec()).chain(r);
    if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        Ok((
            Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
                256 << 10,
                head,
            ))),
            Compression::gzip(),
        ))
    } else if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        Ok((
            Box::new(zstd::stream::read::Decoder::new(head)?),
            Compression::zstd(),
        ))
    } else {
        Ok((Box::new(head), Compression::None))
    }
}

// ---------------------------------------------------------------------------
// Parallel gzip.

const GZ_BLOCK: usize = 1 << 20;
const GZ_DICT: usize = 32 << 10;

struct Job {
    data: Vec<u8>,
    dict: Vec<u8>,
    last: bool,
    reply: SyncSender<io::Result<Done>>,
}

struct Done {
    out: Vec<u8>,
    crc: crc32fast::Hasher,
    /// The input buffer, handed back for reuse.
    input: Vec<u8>,
}

pub(crate) struct ParGzip<W: Write> {
    out: W,
    buf: Vec<u8>,
    dict: Vec<u8>,
    pending: VecDeque<Receiver<io::Result<Done>>>,
    pool: Pool,
    crc: crc32fast::Hasher,
    len: u64,
    max_pending: usize,
    free: Vec<Vec<u8>>,
    header: [u8; 10],
    header_done: bool,
}

impl<W: Write> ParGzip<W> {
    fn new(out: W, level: u32, threads: usize) -> Self {
        let (tx, rx) = mpsc::sync_channel::<Job>(threads);
        let rx = Arc::new(Mutex::new(rx));
        let workers = (0..threads)
            .map(|i| {
                let rx = Arc::clone(&rx);
                std::thread::Builder::new()
                    .name(format!("kiln-gzip-{i}"))
                    .spawn(move || gzip_worker(rx, level))
                    .expect("spawning a gzip worker thread")
            })
            .collect();
        // Go's compress/gzip header: no name, mtime 0, XFL by level, OS unknown.
        let xfl = match level {
            9 => 2,
            1 => 4,
            _ => 0,
        };
        ParGzip {
            out,
            buf: Vec::with_capacity(GZ_BLOCK),
            dict: Vec::new(),
            pending: VecDeque::new(),
            pool: Pool {
                jobs: Some(tx),
                handles: workers,
            },
            crc: crc32fast::Hasher::new(),
            len: 0,
            max_pending: 2 * threads,
            free: Vec::new(),
            header: [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255],
            header_done: false,
        }
    }

    fn write_header(&mut self) -> io::Result<()> {
        if !self.header_done {
            self.out.write_all(&self.header)?;
            self.header_done = true;
        }
        Ok(())
    }

    fn submit(&mut self, last: bool) -> io::Result<()> {
        let next = self
            .free
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(GZ_BLOCK));
        let data = std::mem::replace(&mut self.buf, next);
        let dict = std::mem::replace(
            &mut self.dict,
            data[data.len().saturating_sub(GZ_DICT)..].to_vec(),
        );
        let (reply, rx) = mpsc::sync_channel(1);
        let jobs = self
            .pool
            .jobs
            .as_ref()
            .ok_or_else(|| io::Error::other("gzip stream already finished"))?;
        jobs.send(Job {
            data,
            dict,
            last,
            reply,
        })
        .map_err(|_| io::Error::other("gzip worker threads stopped"))?;
        self.pending.push_back(rx);
        while self.pending.len() > self.max_pending {
            self.drain_one()?;
        }
        Ok(())
    }

    fn drain_one(&mut self) -> io::Result<()> {
        let Some(rx) = self.pending.pop_front() else {
            return Ok(());
        };
        let mut done = rx
            .recv()
            .map_err(|_| io::Error::other("a gzip worker thread died"))??;
        self.write_header()?;
        self.out.write_all(&done.out)?;
        self.crc.combine(&done.crc);
        self.len += done.input.len() as u64;
        if self.free.len() < 2 {
            done.input.clear();
            self.free.push(done.input);
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<W> {
        self.write_header()?;
        self.submit(true)?;
        while !self.pending.is_empty() {
            self.drain_one()?;
        }
        let crc = self.crc.clone().finalize();
        let mut trailer = [0u8; 8];
        trailer[..4].copy_from_slice(&crc.to_le_bytes());
        trailer[4..].copy_from_slice(&(self.len as u32).to_le_bytes());
        self.out.write_all(&trailer)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// The gzip worker threads; dropping it closes the job queue and joins them.
struct Pool {
    jobs: Option<SyncSender<Job>>,
    handles: Vec<JoinHandle<()>>,
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.jobs = None;
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

impl<W: Write> Write for ParGzip<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        let n = data.len().min(GZ_BLOCK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == GZ_BLOCK {
            self.submit(false)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

fn gzip_worker(rx: Arc<Mutex<Receiver<Job>>>, level: u32) {
    let mut c = Compress::new(flate2::Compression::new(level), false);
    let mut fresh = true;
    loop {
        let job = {
            let Ok(guard) = rx.lock() else { return };
            match guard.recv() {
                Ok(j) => j,
                Err(_) => return,
            }
        };
        if !fresh {
            c.reset();
        }
        fresh = false;
        let res = deflate_block(&mut c, &job.data, &job.dict, job.last);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&job.data);
        let _ = job.reply.send(res.map(|out| Done {
            out,
            crc,
            input: job.data,
        }));
    }
}

/// Raw-deflate one block, primed with `dict`, ending with a sync flush
/// (byte-aligned, not final) or, for the last block, the final block.
fn deflate_block(c: &mut Compress, data: &[u8], dict: &[u8], last: bool) -> io::Result<Vec<u8>> {
    if !dict.is_empty() {
        c.set_dictionary(dict).map_err(io::Error::other)?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(data.len() / 2 + 1024);
    let mut pos = 0usize;
    loop {
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity().max(64 << 10));
        }
        let before = c.total_in();
        let status = c
            .compress_vec(&data[pos..], &mut out, flush)
            .map_err(io::Error::other)?;
        pos += (c.total_in() - before) as usize;
        match status {
            Status::StreamEnd => break,
            // A sync flush is complete once deflate leaves output space unused.
            _ if !last && pos == data.len() && out.len() < out.capacity() => break,
            Status::BufError if pos == data.len() && !last => break,
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(len: usize) -> Vec<u8> {
        let words = [
            "layer",
            "kiln",
            "overlay",
            "tar",
            "\n",
            "0x7f",
            "gzip",
            " ",
            "zstd",
            "/usr/lib/",
        ];
        let mut out = Vec::with_capacity(len);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        while out.len() < len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x.is_multiple_of(5) {
                out.extend_from_slice(&x.to_le_bytes());
            } else {
                out.extend_from_slice(words[(x % words.len() as u64) as usize].as_bytes());
            }
        }
        out.truncate(len);
        out
    }

    fn compress(data: &[u8], c: Compression, threads: usize, chunk: usize) -> (Vec<u8>, BlobInfo) {
        let mut w = CompressWriter::with_threads(Vec::new(), c, threads).unwrap();
        for part in data.chunks(chunk.max(1)) {
            w.write_all(part).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn gzip_is_one_member_and_thread_count_independent() {
        for len in [
            0,
            1,
            GZ_BLOCK - 1,
            GZ_BLOCK,
            GZ_BLOCK + 1,
            3 * GZ_BLOCK + 12345,
        ] {
            let data = sample(len);
            let (a, info) = compress(&data, Compression::gzip(), 1, 7777);
            let (b, _) = compress(&data, Compression::gzip(), 3, 1 << 20);
            assert_eq!(a, b, "len {len}: output depends on threads or write sizes");
            assert_eq!(info.size, a.len() as u64);
            assert_eq!(info.digest, Digest(Sha256::digest(&a).into()));
            // A single-member decoder reads it all, and nothing follows.
            let mut dec = flate2::read::GzDecoder::new(&a[..]);
            let mut back = Vec::new();
            dec.read_to_end(&mut back).unwrap();
            assert_eq!(back, data, "len {len}");
            assert_eq!(
                dec.into_inner().len(),
                0,
                "trailing bytes after the gzip member"
            );
        }
    }

    #[test]
    fn gzip_ratio_close_to_serial() {
        let data = sample(4 * GZ_BLOCK);
        let (par, _) = compress(&data, Compression::gzip(), 2, 1 << 16);
        let mut serial = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        serial.write_all(&data).unwrap();
        let serial = serial.finish().unwrap();
        assert!(
            (par.len() as f64) < serial.len() as f64 * 1.01,
            "{} vs {}",
            par.len(),
            serial.len()
        );
    }

    #[test]
    fn zstd_round_trip_and_deterministic() {
        let data = sample(3 * GZ_BLOCK);
        let (a, _) = compress(&data, Compression::zstd(), 1, 10000);
        let (b, _) = compress(&data, Compression::zstd(), 2, 1 << 20);
        assert_eq!(a, b);
        assert_eq!(zstd::decode_all(&a[..]).unwrap(), data);
    }

    #[test]
    fn sniffing() {
        let data = sample(100_000);
        for c in [Compression::None, Compression::gzip(), Compression::zstd()] {
            let (blob, _) = compress(&data, c, 2, 4096);
            let (mut r, found) = compressed_reader(&blob[..]).unwrap();
            assert_eq!(std::mem::discriminant(&found), std::mem::discriminant(&c));
            let mut back = Vec::new();
            r.read_to_end(&mut back).unwrap();
            assert_eq!(back, data);
        }
        let (mut r, found) = compressed_reader(&b"ab"[..]).unwrap();
        assert_eq!(found, Compression::None);
        let mut back = Vec::new();
        r.read_to_end(&mut back).unwrap();
        assert_eq!(back, b"ab");
    }

    #[test]
    fn bad_levels_and_corrupt_input() {
        assert!(CompressWriter::new(Vec::new(), Compression::Gzip { level: 10 }).is_err());
        let (mut blob, _) = compress(&sample(50_000), Compression::gzip(), 2, 4096);
        let n = blob.len();
        blob[n / 2] ^= 0xff;
        blob.truncate(n - 3);
        let (mut r, _) = compressed_reader(&blob[..]).unwrap();
        assert!(r.read_to_end(&mut Vec::new()).is_err());
    }
}
