//! Ctrl-C and SIGTERM. A build stops: its running RUN steps are killed,
//! no new step starts, mounts and scratch directories are cleaned up as
//! the build unwinds, and kiln exits 130 (SIGINT) or 143 (SIGTERM). A
//! second signal, or one while no build is running, exits at once (the
//! store tolerates that: nothing is visible half-written, and the mounts
//! live in kiln's private mount namespace, which dies with it).
//!
//! The signals are blocked in every thread and taken by one watcher
//! thread with `sigwait`, so no code runs in a signal handler; the sandbox
//! and `std::process::Command` reset the mask for what they start.

use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

static SIGNAL: AtomicI32 = AtomicI32::new(0);
static GRACEFUL: AtomicUsize = AtomicUsize::new(0);

/// Takes SIGINT and SIGTERM over. Call first thing in `main`, before any
/// other thread exists (threads inherit the blocked mask).
pub fn install() {
    // SAFETY: sigset manipulation on a local, then masking this thread.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || loop {
            let mut sig = 0;
            // SAFETY: waiting on a valid set.
            if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                continue;
            }
            let first = SIGNAL.swap(sig, Ordering::SeqCst) == 0;
            if !first || GRACEFUL.load(Ordering::SeqCst) == 0 {
                std::process::exit(128 + sig);
            }
            kiln_solver::solve::interrupt();
            kiln_solver::sandbox::kill_all();
        });
    if spawned.is_err() {
        // Without a watcher, let the signals act as they normally do.
        // SAFETY: unmasking this thread.
        unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
    }
}

/// While the guard lives, the first signal stops the work gracefully
/// instead of exiting.
pub struct Graceful(());

pub fn graceful() -> Graceful {
    GRACEFUL.fetch_add(1, Ordering::SeqCst);
    Graceful(())
}

impl Drop for Graceful {
    fn drop(&mut self) {
        GRACEFUL.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The exit code for the signal received, if any (128 + its number).
pub fn exit_code() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        sig => Some(128 + sig),
    }
}

/// An error once a signal has arrived, to stop before the next phase.
pub fn check() -> anyhow::Result<()> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => Ok(()),
        libc::SIGINT => Err(anyhow::anyhow!("interrupted")),
        _ => Err(anyhow::anyhow!("terminated")),
    }
}
