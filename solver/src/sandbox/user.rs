//! `USER` resolution against the image's own `/etc/passwd` and `/etc/group`.
//!
//! The rules are BuildKit's (`executor/oci.GetUser`) on top of runc's
//! `GetExecUser`:
//!
//! - empty: uid 0, looked up as `0` (root's supplementary groups), root
//!   with no groups if that lookup fails;
//! - `uid:gid` with both parts numeric (or `root`): taken as is, no lookup
//!   and no supplementary groups;
//! - otherwise the user part is matched by name, or by uid when numeric;
//!   a numeric uid missing from passwd is used as is with gid 0; the group
//!   part (when given) by name or gid, a numeric gid missing from group is
//!   used as is; without a group part, the supplementary groups are the
//!   groups whose member list names the user.
//!
//! The files are opened with `RESOLVE_IN_ROOT`, so symlinks in the image
//! resolve inside it.

use std::ffi::CString;
use std::io::Read;
use std::os::fd::FromRawFd;

use libc::c_int;

use super::sys;
use super::SandboxError;

/// The ids a step runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (`setgroups`), possibly empty.
    pub groups: Vec<u32>,
}

/// uids and gids must fit in a signed 32-bit integer (runc's range check).
const MAX_ID: i64 = i32::MAX as i64;

/// Larger user databases are not read (BuildKit's limit).
const MAX_FILE: u64 = 10 << 20;

/// Resolves `spec` (`user[:group]`) in the rootfs whose directory
/// descriptor is `root`.
pub(super) fn resolve(root: c_int, spec: &str) -> Result<ExecUser, SandboxError> {
    let (spec, is_default) = if spec.is_empty() {
        ("0", true)
    } else {
        (spec, false)
    };
    if let Some((uid, gid)) = fast_path(spec) {
        return Ok(ExecUser {
            uid,
            gid,
            groups: Vec::new(),
        });
    }
    let passwd = read_file(root, "etc/passwd");
    let group = read_file(root, "etc/group");
    match exec_user(spec, passwd.as_deref(), group.as_deref()) {
        Ok(user) => Ok(user),
        Err(_) if is_default => Ok(ExecUser {
            uid: 0,
            gid: 0,
            groups: Vec::new(),
        }),
        Err(message) => Err(SandboxError::User(message)),
    }
}

/// The `HOME` a step gets when its environment has none: runc looks the
/// final uid up in the image's `/etc/passwd` and falls back to `/`.
pub(super) fn home(root: c_int, uid: u32) -> String {
    read_file(root, "etc/passwd")
        .and_then(|text| home_of(&text, uid))
        .unwrap_or_else(|| "/".to_string())
}

fn home_of(passwd: &str, uid: u32) -> Option<String> {
    passwd
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.get(2).map(|u| atoi(u)) == Some(i64::from(uid)))
        .map(|f| f.get(5).copied().unwrap_or("").to_string())
}

/// `uid:gid`, both numeric (or `root`).
fn fast_path(spec: &str) -> Option<(u32, u32)> {
    let (u, g) = spec.split_once(':')?;
    let id = |s: &str| {
        if s == "root" {
            Some(0)
        } else {
            s.parse::<u32>().ok()
        }
    };
    Some((id(u)?, id(g)?))
}

fn read_file(root: c_int, path: &str) -> Option<String> {
    let c = CString::new(path).ok()?;
    let fd = sys::openat2(root, &c, libc::O_RDONLY, 0, sys::RESOLVE_IN_ROOT).ok()?;
    // SAFETY: we own the descriptor; File takes it over.
    let file = unsafe { std::fs::File::from_raw_fd(fd.raw()) };
    std::mem::forget(fd);
    let mut bytes = Vec::new();
    file.take(MAX_FILE).read_to_end(&mut bytes).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: i64,
    gid: i64,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: i64,
    members: Vec<&'a str>,
}

/// Go's `strconv.Atoi` as runc's parser uses it: junk is 0.
fn atoi(s: &str) -> i64 {
    s.parse::<i64>().unwrap_or(0)
}

fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut f = l.split(':');
            let name = f.next().unwrap_or("");
            let _password = f.next();
            let uid = atoi(f.next().unwrap_or(""));
            let gid = atoi(f.next().unwrap_or(""));
            PasswdEntry { name, uid, gid }
        })
}

fn group_entries(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut f = l.split(':');
            let name = f.next().unwrap_or("");
            let _password = f.next();
            let gid = atoi(f.next().unwrap_or(""));
            let members = match f.next() {
                Some(list) if !list.is_empty() => list.split(',').collect(),
                _ => Vec::new(),
            };
            GroupEntry { name, gid, members }
        })
}

fn check_range(id: i64) -> Result<u32, String> {
    if (0..=MAX_ID).contains(&id) {
        Ok(id as u32)
    } else {
        Err(format!("uids and gids must be in range 0-{MAX_ID}"))
    }
}

/// runc's `GetExecUser` with no defaults (uid 0, gid 0).
fn exec_user(spec: &str, passwd: Option<&str>, group: Option<&str>) -> Result<ExecUser, String> {
    let mut parts = spec.split(':');
    let user_arg = parts.next().unwrap_or("");
    let group_arg = parts.next().unwrap_or("");
    let uid_num = user_arg.parse::<i64>().ok();
    let gid_num = group_arg.parse::<i64>().ok();

    let mut user = ExecUser {
        uid: 0,
        gid: 0,
        groups: Vec::new(),
    };
    let matched = passwd.and_then(|text| {
        passwd_entries(text).find(|u| match uid_num {
            _ if user_arg.is_empty() => u.uid == 0,
            Some(n) => u.uid == n,
            None => u.name == user_arg,
        })
    });
    let mut matched_name = "";
    if let Some(u) = &matched {
        matched_name = u.name;
        user.uid = check_range(u.uid)?;
        user.gid = check_range(u.gid)?;
    } else if !user_arg.is_empty() {
        match uid_num {
            Some(n) => user.uid = check_range(n)?,
            None => {
                return Err(format!(
                    "unable to find user {user_arg}: no matching entries in passwd file"
                ))
            }
        }
    }

    if !group_arg.is_empty() || !matched_name.is_empty() {
        let groups: Vec<GroupEntry> = group
            .map(|text| {
                group_entries(text)
                    .filter(|g| {
                        if group_arg.is_empty() {
                            g.members.contains(&matched_name)
                        } else if let Some(n) = gid_num {
                            g.gid == n
                        } else {
                            g.name == group_arg
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        if !group_arg.is_empty() {
            if let Some(g) = groups.first() {
                user.gid = check_range(g.gid)?;
            } else {
                match gid_num {
                    Some(n) => user.gid = check_range(n)?,
                    None => {
                        return Err(format!(
                            "unable to find group {group_arg}: no matching entries in group file"
                        ))
                    }
                }
            }
        } else {
            for g in &groups {
                user.groups.push(check_range(g.gid)?);
            }
        }
    }
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_from_passwd_or_root_dir() {
        assert_eq!(home_of(PASSWD, 0).as_deref(), Some("/root"));
        assert_eq!(home_of(PASSWD, 1000).as_deref(), Some("/home/app"));
        assert_eq!(home_of(PASSWD, 4242), None);
    }

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1::/:/bin/false\n\
        app:x:1000:1000::/home/app:/bin/sh\n\
        \n\
        other:x:1001:100::/home/other:/bin/sh\n";
    const GROUP: &str = "root:x:0:\n\
        wheel:x:10:root,app\n\
        app:x:1000:\n\
        users:x:100:other\n\
        docker:x:999:app\n";

    fn user(spec: &str) -> Result<ExecUser, String> {
        exec_user(spec, Some(PASSWD), Some(GROUP))
    }

    fn ids(uid: u32, gid: u32, groups: &[u32]) -> ExecUser {
        ExecUser {
            uid,
            gid,
            groups: groups.to_vec(),
        }
    }

    #[test]
    fn names_and_supplementary_groups() {
        assert_eq!(user("app").unwrap(), ids(1000, 1000, &[10, 999]));
        assert_eq!(user("1000").unwrap(), ids(1000, 1000, &[10, 999]));
        assert_eq!(user("0").unwrap(), ids(0, 0, &[10]));
        assert_eq!(user("other").unwrap(), ids(1001, 100, &[100]));
    }

    #[test]
    fn explicit_group_drops_supplementary_groups() {
        assert_eq!(user("app:users").unwrap(), ids(1000, 100, &[]));
        assert_eq!(user("app:999").unwrap(), ids(1000, 999, &[]));
        assert_eq!(user("app:4242").unwrap(), ids(1000, 4242, &[]));
        assert_eq!(
            user("app:nogroup").unwrap_err(),
            "unable to find group nogroup: no matching entries in group file"
        );
    }

    #[test]
    fn unknown_users() {
        assert_eq!(user("4242").unwrap(), ids(4242, 0, &[]));
        assert_eq!(
            user("nobody").unwrap_err(),
            "unable to find user nobody: no matching entries in passwd file"
        );
        assert_eq!(
            exec_user("app", None, None).unwrap_err(),
            "unable to find user app: no matching entries in passwd file"
        );
        assert_eq!(exec_user("42", None, None).unwrap(), ids(42, 0, &[]));
        assert!(user("-1").is_err());
    }

    #[test]
    fn numeric_pairs_take_the_fast_path() {
        assert_eq!(fast_path("1000:1000"), Some((1000, 1000)));
        assert_eq!(fast_path("root:root"), Some((0, 0)));
        assert_eq!(fast_path("root:5"), Some((0, 5)));
        assert_eq!(fast_path("app:5"), None);
        assert_eq!(fast_path("1000"), None);
    }
}
