//! Stages + build args -> [`BuildDefinition`](crate::definition::BuildDefinition)
//! (BuildKit's `dockerfile2llb`).

// The dispatch that uses these helpers lands next; until then they are
// exercised by their unit tests only.
#![allow(dead_code)]

mod args;
mod env;
mod expose;
mod gofmt;
mod paths;
mod stage;
