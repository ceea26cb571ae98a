//! Parsed nodes -> typed commands grouped into stages (BuildKit's
//! `instructions` package).
//!
//! The parser hands over one [`Node`](crate::parser::Node) per instruction:
//! keyword, flags and arguments as its per-instruction line parser split
//! them. This module gives each node a type ([`Instruction`]), checks its
//! flags and arguments with the reference's rules and error texts, and
//! groups the result into [`Stage`]s ([`parse_dockerfile`]).
//!
//! Nothing is expanded here: `ENV`, `COPY` paths, `--mount` values and the
//! like are kept as written, because their variables depend on the ARG/ENV
//! in scope when the stage is lowered. The lowering calls
//! [`Instruction::expand`] (and [`Instruction::expand_heredocs`],
//! [`ExposeInstruction::expand_ports`]) with the shell lexer; those touch
//! exactly the fields the reference expands.
//!
//! ```text
//! ARG BASE=alpine            -> Dockerfile::meta_args
//! FROM ${BASE} AS build      -> Stage { name: "build", base_name: "${BASE}" }
//! RUN --mount=type=cache,target=/c make
//!                            -> Instruction::Run(RunInstruction { mount_specs, .. })
//! ```
//!
//! Build checks that the reference raises while typing instructions
//! (`MaintainerDeprecated`, `StageNameCasing`, `FromAsCasing`, and the
//! experimental `InvalidDefinitionDescription`) are pushed as
//! [`crate::lint::Warning`]s; the others belong to the lowering.

pub mod checks;
mod commands;
mod duration;
mod flags;
mod mounts;
mod parse;
mod stages;
mod support;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod text_tests;

pub use checks::CheckConfig;
pub use commands::{
    AddInstruction, ArgDef, ArgInstruction, CmdInstruction, CommandLine, CopyInstruction,
    EntrypointInstruction, EnvInstruction, Expander, ExposeInstruction, FromInstruction,
    Healthcheck, HealthcheckInstruction, Instruction, KeyValue, LabelInstruction,
    MaintainerInstruction, NetworkMode, OnbuildInstruction, Origin, RunInstruction, SecurityMode,
    ShellInlineFile, ShellInstruction, SourceContent, SourcesAndDest, StopSignalInstruction,
    UserInstruction, VolumeInstruction, WordsExpander, WorkdirInstruction,
};
pub use mounts::{parse_device, parse_mount, CacheSharing, Device, Mount, MountType};
pub use parse::{parse_command, parse_instruction, parse_instruction_checked};
pub use stages::{parse_dockerfile, parse_dockerfile_with_checks, Dockerfile, Stage};
