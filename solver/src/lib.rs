//! kiln-solver: executes a build graph with a content-addressed cache; owns
//! the stores (`store`), the layer format (`layer`), file operations
//! (`fileop`) and, later, the RUN sandbox.

pub mod events;
pub mod executor;
pub mod fileop;
pub mod gopath;
pub mod graph;
pub mod image;
pub mod layer;
mod lower_stack;
pub mod mount;
pub mod sandbox;
pub mod session;
pub mod solve;
pub mod source;
pub mod ssh_forward;
pub mod store;
