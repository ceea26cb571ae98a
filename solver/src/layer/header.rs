//! Tar header encoding, byte-compatible with Go's `archive/tar` writer as
//! containerd's `ChangeWriter` (hence BuildKit) drives it: `Format = PAX`,
//! mtime truncated to seconds, atime/ctime cleared, empty uname/gname.
//!
//! What Go does with such a header, and so what this module does:
//!
//! - If a plain USTAR header can hold every field, it is written alone
//!   (magic `ustar\0`, version `00`); a name longer than 100 bytes is split
//!   into the 155-byte prefix and 100-byte name fields when it can be.
//! - Otherwise a PAX extended header (typeflag `x`, named
//!   `<dir>/PaxHeaders.0/<base>`, mode/uid/gid/mtime 0) carries the records
//!   `%d key=value\n` sorted by key, and the main header follows with the
//!   fields that did not fit truncated (strings, non-ASCII dropped) or zeroed
//!   (numbers). No prefix split in that case.
//! - Numeric fields are zero-padded octal with a NUL terminator
//!   (`0000644\0`), devmajor/devminor are always written (`0000000\0`),
//!   the checksum is six octal digits, NUL, space.
//! - The archive ends with two zero blocks and no padding to a record size.

use std::collections::BTreeMap;

pub(crate) const BLOCK: usize = 512;
const NAME_SIZE: usize = 100;
const PREFIX_SIZE: usize = 155;

pub(crate) const TYPE_REG: u8 = b'0';
pub(crate) const TYPE_LINK: u8 = b'1';
pub(crate) const TYPE_SYMLINK: u8 = b'2';
pub(crate) const TYPE_CHAR: u8 = b'3';
pub(crate) const TYPE_BLOCK: u8 = b'4';
pub(crate) const TYPE_DIR: u8 = b'5';
pub(crate) const TYPE_FIFO: u8 = b'6';
const TYPE_PAX: u8 = b'x';

pub(crate) const PAX_XATTR: &str = "SCHILY.xattr.";

/// One entry's metadata, ready to be encoded.
#[derive(Debug, Clone, Default)]
pub(crate) struct EntryHeader<'a> {
    /// Full name inside the archive; directories end with '/'.
    pub name: &'a [u8],
    pub typeflag: u8,
    /// Permission bits plus setuid/setgid/sticky (no file type bits).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    /// Whole seconds since the Unix epoch.
    pub mtime: i64,
    pub linkname: &'a [u8],
    pub devmajor: u64,
    pub devminor: u64,
    /// Extended attributes (name without the `SCHILY.xattr.` prefix, value).
    pub xattrs: &'a [(Vec<u8>, Vec<u8>)],
}

/// Why a header cannot be encoded.
#[derive(Debug)]
pub(crate) struct HeaderError(pub String);

fn is_ascii(s: &[u8]) -> bool {
    s.iter().all(|&b| b != 0 && b < 0x80)
}

/// Go's `toASCII`: drop every non-ASCII (and NUL) byte. Bytes >= 0x80 are
/// exactly the bytes of multi-byte or invalid UTF-8 sequences.
fn to_ascii(s: &[u8]) -> Vec<u8> {
    s.iter().copied().filter(|&b| b != 0 && b < 0x80).collect()
}

fn fits_octal(field_len: usize, x: i64) -> bool {
    let oct_bits = (field_len as u32 - 1) * 3;
    x >= 0 && (field_len >= 22 || x < (1i64 << oct_bits))
}

fn fits_octal_u(field_len: usize, x: u64) -> bool {
    i64::try_from(x).is_ok_and(|x| fits_octal(field_len, x))
}

/// Go's `formatter.formatOctal`: zero-padded octal leaving room for a NUL;
/// a value that does not fit is written as 0.
fn put_octal(field: &mut [u8], x: i64) {
    let x = if fits_octal(field.len(), x) { x } else { 0 };
    let digits = format!("{x:o}");
    let pad = field.len().saturating_sub(digits.len() + 1);
    let mut s = Vec::with_capacity(field.len());
    s.resize(pad, b'0');
    s.extend_from_slice(digits.as_bytes());
    put_str(field, &s);
}

fn put_octal_u(field: &mut [u8], x: u64) {
    put_octal(field, i64::try_from(x).unwrap_or(-1));
}

/// Go's `formatter.formatString`: copy, NUL-terminate when shorter, and
/// when truncated never leave a trailing '/' in the field.
fn put_str(field: &mut [u8], s: &[u8]) {
    let n = s.len().min(field.len());
    field[..n].copy_from_slice(&s[..n]);
    if s.len() < field.len() {
        field[s.len()] = 0;
    }
    if s.len() > field.len() && field[field.len() - 1] == b'/' {
        let kept = s[..field.len()]
            .iter()
            .rposition(|&b| b != b'/')
            .map_or(0, |i| i + 1);
        field[kept] = 0;
    }
}

/// Go's `splitUSTARPath`.
fn split_ustar(name: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut length = name.len();
    if length <= NAME_SIZE || !is_ascii(name) {
        return None;
    } else if length > PREFIX_SIZE + 1 {
        length = PREFIX_SIZE + 1;
    } else if name[length - 1] == b'/' {
        length -= 1;
    }
    let i = name[..length].iter().rposition(|&b| b == b'/')?;
    let nlen = name.len() - i - 1;
    if i == 0 || nlen > NAME_SIZE || nlen == 0 || i > PREFIX_SIZE {
        return None;
    }
    Some((&name[..i], &name[i + 1..]))
}

/// Go's `formatPAXRecord`: `"<len> <key>=<value>\n"`, len counting itself.
fn pax_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let base = key.len() + value.len() + 3;
    let mut size = base + base.to_string().len();
    if (base + size.to_string().len()) != size {
        size = base + size.to_string().len();
    }
    out.extend_from_slice(size.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// Field offsets of a USTAR header block.
mod off {
    pub const NAME: std::ops::Range<usize> = 0..100;
    pub const MODE: std::ops::Range<usize> = 100..108;
    pub const UID: std::ops::Range<usize> = 108..116;
    pub const GID: std::ops::Range<usize> = 116..124;
    pub const SIZE: std::ops::Range<usize> = 124..136;
    pub const MTIME: std::ops::Range<usize> = 136..148;
    pub const CHKSUM: std::ops::Range<usize> = 148..156;
    pub const TYPEFLAG: usize = 156;
    pub const LINKNAME: std::ops::Range<usize> = 157..257;
    pub const MAGIC: std::ops::Range<usize> = 257..263;
    pub const VERSION: std::ops::Range<usize> = 263..265;
    pub const DEVMAJOR: std::ops::Range<usize> = 329..337;
    pub const DEVMINOR: std::ops::Range<usize> = 337..345;
    pub const PREFIX: std::ops::Range<usize> = 345..500;
}

/// Set the USTAR magic and the checksum (Go's `block.setFormat`).
fn finish_block(b: &mut [u8; BLOCK]) {
    b[off::MAGIC].copy_from_slice(b"ustar\0");
    b[off::VERSION].copy_from_slice(b"00");
    let sum: i64 = b
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if off::CHKSUM.contains(&i) {
                b' ' as i64
            } else {
                v as i64
            }
        })
        .sum();
    put_octal(&mut b[off::CHKSUM.start..off::CHKSUM.start + 7], sum);
    b[off::CHKSUM.end - 1] = b' ';
}

/// Go's `templateV7Plus` with the given name/linkname field contents.
fn template(h: &EntryHeader<'_>, name: &[u8], linkname: &[u8]) -> [u8; BLOCK] {
    let mut b = [0u8; BLOCK];
    b[off::TYPEFLAG] = h.typeflag;
    put_str(&mut b[off::NAME], name);
    put_str(&mut b[off::LINKNAME], linkname);
    put_octal(&mut b[off::MODE], h.mode as i64);
    put_octal_u(&mut b[off::UID], h.uid);
    put_octal_u(&mut b[off::GID], h.gid);
    put_octal_u(&mut b[off::SIZE], h.size);
    put_octal(&mut b[off::MTIME], h.mtime);
    // uname/gname: empty strings -> already NUL.
    put_octal_u(&mut b[off::DEVMAJOR], h.devmajor);
    put_octal_u(&mut b[off::DEVMINOR], h.devminor);
    b
}

/// Name of the PAX extended header block: Go's
/// `path.Join(dir, "PaxHeaders.0", file)` then ASCII-only, at most 100
/// bytes, no trailing '/'.
fn pax_header_name(name: &[u8]) -> Vec<u8> {
    let (dir, file) = match name.iter().rposition(|&b| b == b'/') {
        Some(i) => (&name[..=i], &name[i + 1..]),
        None => (&name[..0], name),
    };
    let mut joined = Vec::with_capacity(name.len() + 14);
    let dir = trim_trailing_slashes(dir);
    if !dir.is_empty() {
        joined.extend_from_slice(dir);
        joined.push(b'/');
    }
    joined.extend_from_slice(b"PaxHeaders.0");
    if !file.is_empty() {
        joined.push(b'/');
        joined.extend_from_slice(file);
    }
    let mut out = to_ascii(&joined);
    out.truncate(NAME_SIZE);
    let n = trim_trailing_slashes(&out).len();
    out.truncate(n);
    out
}

fn trim_trailing_slashes(s: &[u8]) -> &[u8] {
    let n = s.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
    &s[..n]
}

/// Encode the header block(s) of one entry and append them to `out`.
/// The entry's data (if any) and its padding are the caller's.
pub(crate) fn encode(h: &EntryHeader<'_>, out: &mut Vec<u8>) -> Result<(), HeaderError> {
    let mut pax: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut ustar_ok = true;

    if !is_ascii(h.name) || h.name.len() > NAME_SIZE {
        if split_ustar(h.name).is_none() {
            ustar_ok = false;
        }
        pax.insert(b"path".to_vec(), h.name.to_vec());
    }
    if !is_ascii(h.linkname) || h.linkname.len() > NAME_SIZE {
        ustar_ok = false;
        pax.insert(b"linkpath".to_vec(), h.linkname.to_vec());
    }
    if h.name.contains(&0) || h.linkname.contains(&0) {
        return Err(HeaderError("name contains a NUL byte".into()));
    }
    for (key, v, len) in [
        (&b"uid"[..], h.uid, 8),
        (b"gid", h.gid, 8),
        (b"size", h.size, 12),
    ] {
        if !fits_octal_u(len, v) {
            ustar_ok = false;
            pax.insert(key.to_vec(), v.to_string().into_bytes());
        }
    }
    if !fits_octal(12, h.mtime) {
        ustar_ok = false;
        pax.insert(b"mtime".to_vec(), h.mtime.to_string().into_bytes());
    }
    if !fits_octal_u(8, h.devmajor) || !fits_octal_u(8, h.devminor) {
        return Err(HeaderError(format!(
            "device number {}:{} too large for a tar header",
            h.devmajor, h.devminor
        )));
    }
    for (k, v) in h.xattrs {
        if k.is_empty() || k.contains(&b'=') || k.contains(&0) {
            return Err(HeaderError(format!(
                "xattr name {:?} cannot be a PAX record key",
                String::from_utf8_lossy(k)
            )));
        }
        let mut key = PAX_XATTR.as_bytes().to_vec();
        key.extend_from_slice(k);
        pax.insert(key, v.clone());
        ustar_ok = false;
    }

    if ustar_ok {
        let (prefix, name) = split_ustar(h.name).unwrap_or((&[], h.name));
        let mut b = template(h, name, h.linkname);
        put_str(&mut b[off::PREFIX], prefix);
        finish_block(&mut b);
        out.extend_from_slice(&b);
        return Ok(());
    }

    // PAX extended header, then the main header.
    let mut data = Vec::new();
    for (k, v) in &pax {
        pax_record(&mut data, k, v);
    }
    let mut b = [0u8; BLOCK];
    b[off::TYPEFLAG] = TYPE_PAX;
    put_str(&mut b[off::NAME], &pax_header_name(h.name));
    put_octal(&mut b[off::MODE], 0);
    put_octal(&mut b[off::UID], 0);
    put_octal(&mut b[off::GID], 0);
    put_octal(&mut b[off::SIZE], data.len() as i64);
    put_octal(&mut b[off::MTIME], 0);
    finish_block(&mut b);
    out.extend_from_slice(&b);
    out.extend_from_slice(&data);
    out.resize(out.len() + padding(data.len() as u64), 0);

    let mut b = template(h, &to_ascii(h.name), &to_ascii(h.linkname));
    finish_block(&mut b);
    out.extend_from_slice(&b);
    Ok(())
}

/// Zero bytes needed after `size` bytes of data to reach a block boundary.
pub(crate) fn padding(size: u64) -> usize {
    ((BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(name: &[u8]) -> EntryHeader<'_> {
        EntryHeader {
            name,
            typeflag: TYPE_REG,
            mode: 0o644,
            ..Default::default()
        }
    }

    #[test]
    fn octal_fields_match_go() {
        let mut f = [0xffu8; 8];
        put_octal(&mut f, 0o644);
        assert_eq!(&f, b"0000644\0");
        let mut f = [0xffu8; 12];
        put_octal(&mut f, 1 << 33);
        assert_eq!(&f, b"00000000000\0", "too large -> 0");
    }

    #[test]
    fn ustar_header_bytes() {
        let mut out = Vec::new();
        let h = EntryHeader {
            uid: 1000,
            gid: 1000,
            size: 5,
            mtime: 1_700_000_000,
            ..hdr(b"etc/hosts")
        };
        encode(&h, &mut out).unwrap();
        assert_eq!(out.len(), 512);
        assert_eq!(&out[..9], b"etc/hosts");
        assert_eq!(&out[100..108], b"0000644\0");
        assert_eq!(&out[108..116], b"0001750\0");
        assert_eq!(&out[124..136], b"00000000005\0");
        assert_eq!(&out[136..148], b"14524770400\0");
        assert_eq!(&out[257..265], b"ustar\x0000");
        assert_eq!(&out[329..345], b"0000000\x000000000\0");
        assert_eq!(out[155], b' ');
        assert_eq!(out[154], 0);
        // The tar crate agrees on the checksum.
        let th = tar::Header::from_byte_slice(&out);
        let expect: u32 = out
            .iter()
            .enumerate()
            .map(|(i, b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    *b as u32
                }
            })
            .sum();
        assert_eq!(th.cksum().unwrap(), expect);
    }

    #[test]
    fn long_names_split_or_pax() {
        let name = format!("{}/{}", "d".repeat(120), "f".repeat(90));
        let mut out = Vec::new();
        encode(&hdr(name.as_bytes()), &mut out).unwrap();
        assert_eq!(out.len(), 512, "splittable -> plain USTAR");
        assert_eq!(&out[345..465], "d".repeat(120).as_bytes());

        let name = "n".repeat(150);
        let mut out = Vec::new();
        encode(&hdr(name.as_bytes()), &mut out).unwrap();
        assert_eq!(out.len(), 3 * 512, "pax header, records, main header");
        assert_eq!(out[156], b'x');
        assert!(out.starts_with(b"PaxHeaders.0/nnnn"));
        assert!(out[512..].starts_with(format!("160 path={name}\n").as_bytes()));
        assert_eq!(&out[1024..1124], "n".repeat(100).as_bytes());
    }

    #[test]
    fn pax_record_length_counts_itself() {
        let mut v = Vec::new();
        pax_record(&mut v, b"path", &[b'a'; 92]); // 99 bytes + 2 digits = 101: needs 3 digits
        let s = String::from_utf8(v.clone()).unwrap();
        let n: usize = s.split(' ').next().unwrap().parse().unwrap();
        assert_eq!(n, v.len());
        for len in 0..300 {
            let mut v = Vec::new();
            pax_record(&mut v, b"k", &vec![b'x'; len]);
            let s = String::from_utf8(v.clone()).unwrap();
            let n: usize = s.split(' ').next().unwrap().parse().unwrap();
            assert_eq!(n, v.len(), "len {len}");
        }
    }

    #[test]
    fn truncated_dir_name_has_no_trailing_slash() {
        let mut f = [0u8; 4];
        put_str(&mut f, b"abc//x");
        assert_eq!(&f, b"abc\0");
    }
}
