//! kiln: CLI, build context, registry client, exporters, image store
//! commands and progress rendering on top of `kiln-frontend` and
//! `kiln-solver`.

pub mod build;
pub mod checks;
pub mod cli;
pub mod commands;
pub mod config;
pub mod context;
pub mod diagnostic;
pub mod docker_engine;
pub mod explain;
pub mod export;
pub mod hints;
pub mod images;
pub mod interrupt;
pub mod progress;
pub mod registry;
pub mod report;
