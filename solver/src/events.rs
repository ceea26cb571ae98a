//! Progress events of a solve, sent on a channel for the CLI to render.

use std::time::Duration;

use crate::graph::VertexId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Started {
        vertex: VertexId,
        name: String,
    },
    Cached {
        vertex: VertexId,
        name: String,
    },
    /// One line of a RUN step's output (without its newline).
    Log {
        vertex: VertexId,
        line: String,
    },
    Done {
        vertex: VertexId,
        elapsed: Duration,
    },
    /// The step failed; `message` is the cause, without the step's name.
    Error {
        vertex: VertexId,
        message: String,
    },
    /// The cache key of a vertex, computed before anything runs (for the
    /// CLI to explain cache misses).
    CacheKey {
        vertex: VertexId,
        key: String,
    },
    /// The process of a RUN step exited with `code` (128 + signal when
    /// killed); sent before its `Done` or `Error`.
    Exited {
        vertex: VertexId,
        code: i32,
    },
}
