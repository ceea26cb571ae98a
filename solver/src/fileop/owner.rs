//! `--chown` names, looked up in the destination root's own `/etc/passwd`
//! and `/etc/group` (resolved inside that root, never the host's).
//!
//! As BuildKit: a numeric user also sets the group to the same number; a
//! named user without a group takes the primary group of its passwd entry;
//! a group, named or numeric, overrides that. `root` is 0 without a lookup,
//! and an empty name is 0 (`--chown=user:` means group 0 in BuildKit).

use std::io::Read;
use std::os::fd::AsFd;

use rustix::fs::{openat, FileType, Mode, OFlags};

use super::error::FileOpError;
use super::resolve::{file_type, Root};
use super::{Chown, IdRef};

/// BuildKit refuses passwd/group files larger than this.
const MAX_USER_FILE: u64 = 10 << 20;

/// The uid and gid `chown` names in the root `root`.
pub(crate) fn resolve(root: &Root, chown: &Chown) -> Result<(u32, u32), FileOpError> {
    let (uid, mut gid) = match &chown.user {
        IdRef::Id(id) => (*id, *id),
        IdRef::Name(name) if name == "root" || name.is_empty() => (0, 0),
        IdRef::Name(name) => {
            let passwd = read_user_file(root, "/etc/passwd")?;
            lookup_passwd(passwd.as_deref().unwrap_or(""), name)
                .ok_or_else(|| FileOpError::UnknownUser(name.clone()))?
        }
    };
    match &chown.group {
        None => {}
        Some(IdRef::Id(id)) => gid = *id,
        Some(IdRef::Name(name)) if name == "root" || name.is_empty() => gid = 0,
        Some(IdRef::Name(name)) => {
            let group = read_user_file(root, "/etc/group")?;
            gid = lookup_group(group.as_deref().unwrap_or(""), name)
                .ok_or_else(|| FileOpError::UnknownGroup(name.clone()))?;
        }
    }
    Ok((uid, gid))
}

/// The file's text, `None` if it does not exist.
fn read_user_file(root: &Root, path: &'static str) -> Result<Option<String>, FileOpError> {
    let fail = |reason: String| FileOpError::UserFile { path, reason };
    let r = match root.resolve(path, true) {
        Ok(r) => r,
        Err(e) if super::source::is_missing(&e) => return Ok(None),
        Err(e) => return Err(fail(e.to_string())),
    };
    if r.rest.len() != 1 {
        return Ok(None);
    }
    let fd = match openat(
        r.dir.as_fd(),
        r.rest[0].as_os_str(),
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR) => return Ok(None),
        Err(e) => return Err(fail(e.to_string())),
    };
    let st = rustix::fs::fstat(&fd).map_err(|e| fail(e.to_string()))?;
    if file_type(&st) != FileType::RegularFile {
        return Err(fail("not a regular file".into()));
    }
    let mut text = Vec::new();
    std::fs::File::from(fd)
        .take(MAX_USER_FILE + 1)
        .read_to_end(&mut text)
        .map_err(|e| fail(e.to_string()))?;
    if text.len() as u64 > MAX_USER_FILE {
        return Err(fail(format!("larger than {MAX_USER_FILE} bytes")));
    }
    Ok(Some(String::from_utf8_lossy(&text).into_owned()))
}

/// Numeric field as moby/sys/user parses it: invalid is 0.
fn id(field: Option<&str>) -> u32 {
    field
        .and_then(|f| f.trim().parse::<i64>().ok())
        .map(|v| v as u32)
        .unwrap_or(0)
}

/// `name:password:uid:gid:gecos:home:shell`, first match wins.
pub(crate) fn lookup_passwd(text: &str, name: &str) -> Option<(u32, u32)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .find_map(|line| {
            let mut f = line.split(':');
            (f.next()? == name).then(|| {
                let _password = f.next();
                (id(f.next()), id(f.next()))
            })
        })
}

/// `name:password:gid:members`, first match wins.
pub(crate) fn lookup_group(text: &str, name: &str) -> Option<u32> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .find_map(|line| {
            let mut f = line.split(':');
            (f.next()? == name).then(|| {
                let _password = f.next();
                id(f.next())
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fileop_owner_parse_files() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\n\n  app:x:1000:1001::/home/app:/bin/sh\napp:x:5:5::/:\n";
        assert_eq!(lookup_passwd(passwd, "app"), Some((1000, 1001)));
        assert_eq!(lookup_passwd(passwd, "nobody"), None);
        let group = "root:x:0:\nstaff:x:50:app,other\n";
        assert_eq!(lookup_group(group, "staff"), Some(50));
        assert_eq!(lookup_group(group, "app"), None);
    }
}
