//! An SSH agent socket for one RUN step: a fresh unix socket with the
//! mount's owner and mode that relays every connection to the build's
//! agent (as BuildKit forwards `--ssh` through its session). Binding the
//! agent's own socket instead would keep its owner and mode, which a
//! non-root step could not use.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

/// A listening socket relaying to an agent; stops accepting on drop.
/// Connections already relayed end when either side closes them (the
/// step's processes are gone by then).
pub struct Forward {
    path: PathBuf,
    stop: std::os::fd::OwnedFd,
    thread: Option<JoinHandle<()>>,
}

impl Forward {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Listens on `at` (owned by `uid:gid`, permissions `mode`) and relays
/// each connection to the agent at `agent`.
pub fn forward(agent: &Path, at: &Path, uid: u32, gid: u32, mode: u32) -> io::Result<Forward> {
    // Fail now, not in the step, when the agent is not there.
    UnixStream::connect(agent)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", agent.display())))?;
    let listener = UnixListener::bind(at)?;
    std::os::unix::fs::chown(at, Some(uid), Some(gid))?;
    std::fs::set_permissions(at, std::fs::Permissions::from_mode(mode & 0o777))?;
    // SAFETY: plain eventfd creation; the OwnedFd takes it over.
    let stop = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if stop < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor we own.
    let stop = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(stop) };
    let stop_fd = stop.as_raw_fd();
    let agent = agent.to_path_buf();
    let thread = std::thread::Builder::new()
        .name("ssh-forward".into())
        .spawn(move || accept_loop(&listener, stop_fd, &agent))?;
    Ok(Forward {
        path: at.to_path_buf(),
        stop,
        thread: Some(thread),
    })
}

impl Drop for Forward {
    fn drop(&mut self) {
        let one: u64 = 1;
        // SAFETY: writing 8 bytes to our eventfd.
        unsafe { libc::write(self.stop.as_raw_fd(), (&raw const one).cast(), 8) };
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn accept_loop(listener: &UnixListener, stop: i32, agent: &Path) {
    loop {
        let mut fds = [
            libc::pollfd {
                fd: listener.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: stop,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: polling two descriptors we own.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if r < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if fds[1].revents != 0 {
            return;
        }
        if fds[0].revents == 0 {
            continue;
        }
        let Ok((client, _)) = listener.accept() else {
            continue;
        };
        // An agent that went away: the client sees its connection closed.
        if let Ok(upstream) = UnixStream::connect(agent) {
            relay(client, upstream);
        }
    }
}

/// Copies both ways until each side is done.
fn relay(a: UnixStream, b: UnixStream) {
    let pipe = |mut from: UnixStream, mut to: UnixStream| {
        let _ = std::thread::Builder::new()
            .name("ssh-relay".into())
            .spawn(move || {
                let _ = io::copy(&mut from, &mut to);
                let _ = to.shutdown(std::net::Shutdown::Write);
            });
    };
    if let (Ok(a2), Ok(b2)) = (a.try_clone(), b.try_clone()) {
        pipe(a, b2);
        pipe(b, a2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn relays_both_ways_and_applies_owner_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let agent_path = dir.path().join("agent");
        let agent = UnixListener::bind(&agent_path).unwrap();
        let server = std::thread::spawn(move || {
            // The probe connection of `forward`, then the relayed one.
            let _probe = agent.accept().unwrap();
            let (mut c, _) = agent.accept().unwrap();
            let mut buf = [0u8; 5];
            c.read_exact(&mut buf).unwrap();
            c.write_all(&buf.map(|b| b.to_ascii_uppercase())).unwrap();
        });
        let at = dir.path().join("fwd");
        let fwd = forward(&agent_path, &at, 1000, 1001, 0o600).unwrap();
        let meta = std::fs::metadata(&at).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o777),
            (1000, 1001, 0o600)
        );
        let mut c = UnixStream::connect(&at).unwrap();
        c.write_all(b"hello").unwrap();
        let mut back = String::new();
        c.read_to_string(&mut back).unwrap();
        assert_eq!(back, "HELLO");
        server.join().unwrap();
        drop(fwd);
        assert!(!at.exists());
    }

    #[test]
    fn a_missing_agent_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = forward(
            &dir.path().join("none"),
            &dir.path().join("fwd"),
            0,
            0,
            0o600,
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("none"), "{err}");
    }
}
