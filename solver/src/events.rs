//! Progress events of a solve, sent on a channel for the CLI to render.

use std::time::Duration;

use crate::graph::VertexId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Started { vertex: VertexId, name: String },
    Cached { vertex: VertexId, name: String },
    Log { vertex: VertexId, line: String },
    Done { vertex: VertexId, elapsed: Duration },
    Error { vertex: VertexId, message: String },
}
