//! Instructions grouped into build stages: every FROM starts a stage that
//! owns the instructions up to the next FROM; ARGs before the first FROM
//! are the global ("meta") ARGs usable in FROM lines.

use super::checks::CheckConfig;
use super::commands::{ArgInstruction, FromInstruction, Instruction, Origin};
use super::parse::parse_instruction_checked;
use crate::lint::Warning;
use crate::parser::Node;
use crate::{Error, Result, SourceRange};

/// A typed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// ARGs before the first FROM, in order.
    pub meta_args: Vec<ArgInstruction>,
    /// At least one stage.
    pub stages: Vec<Stage>,
}

impl Dockerfile {
    /// The index of the stage called `name` (stage names compare without
    /// regard to case).
    pub fn stage_index(&self, name: &str) -> Option<usize> {
        self.stages.iter().position(|s| {
            s.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
    }
}

/// A FROM and the instructions after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// `AS` name, lower-cased (the reference's stage name).
    pub name: Option<String>,
    /// `AS` name as written (for lints and messages).
    pub name_as_written: Option<String>,
    /// The image or stage to start from, unexpanded.
    pub base_name: String,
    /// `--platform=`, unexpanded.
    pub platform: Option<String>,
    /// From a comment `# <name> <description>` above FROM.
    pub doc_comment: String,
    /// The FROM line itself (keyword as written, text, range, comments).
    pub origin: Origin,
    /// The stage's instructions, FROM excluded.
    pub instructions: Vec<Instruction>,
}

impl Stage {
    pub fn range(&self) -> SourceRange {
        self.origin.range
    }
}

impl From<FromInstruction> for Stage {
    fn from(from: FromInstruction) -> Self {
        Stage {
            name: from.name,
            name_as_written: from.name_as_written,
            base_name: from.base_name,
            platform: from.platform,
            doc_comment: from.doc_comment,
            origin: from.origin,
            instructions: Vec::new(),
        }
    }
}

/// Types every node and groups the instructions into stages, with the
/// default check configuration (only `# check=` comments above an
/// instruction change which rules run for it).
pub fn parse_dockerfile(nodes: &[Node], warnings: &mut Vec<Warning>) -> Result<Dockerfile> {
    parse_dockerfile_with_checks(nodes, &CheckConfig::default(), warnings)
}

/// [`parse_dockerfile`] under a check configuration (the Dockerfile's
/// `# check=` directive or the build's override); skipped rules are not
/// raised and experimental ones only when enabled.
///
/// Errors: a node that does not type is reported as
/// `dockerfile parse error on line N: <reason>`; an instruction other than
/// ARG before the first FROM as `no build stage in current context`; a file
/// without FROM as `dockerfile contains no stages to build`.
pub fn parse_dockerfile_with_checks(
    nodes: &[Node],
    config: &CheckConfig,
    warnings: &mut Vec<Warning>,
) -> Result<Dockerfile> {
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for node in nodes {
        let instruction = parse_instruction_checked(node, config, warnings).map_err(|e| Error {
            message: format!(
                "dockerfile parse error on line {}: {}",
                node.start_line, e.message
            ),
            range: e.range.or(Some(node.range())),
        })?;
        match instruction {
            Instruction::From(from) => stages.push(Stage::from(from)),
            Instruction::Arg(arg) if stages.is_empty() => meta_args.push(arg),
            other => match stages.last_mut() {
                Some(stage) => stage.instructions.push(other),
                None => return Err(Error::at("no build stage in current context", node.range())),
            },
        }
    }
    if stages.is_empty() {
        return Err(Error::new("dockerfile contains no stages to build"));
    }
    Ok(Dockerfile { meta_args, stages })
}
