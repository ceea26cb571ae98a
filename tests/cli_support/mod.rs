//! Shared by the CLI tests (progress, flags, errors): a store with a
//! busybox base image.

use crate::common::{busybox, context, Kiln};

/// A store holding `base:1` (busybox with its applets).
pub fn with_base() -> Kiln {
    let kiln = Kiln::new();
    let dir = context(&[(
        "Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
    )]);
    std::fs::copy(
        busybox().expect("busybox-static"),
        dir.path().join("busybox"),
    )
    .unwrap();
    kiln.ok(dir.path(), &["build", "-t", "base:1", "."]);
    kiln
}
