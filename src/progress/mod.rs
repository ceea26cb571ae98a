//! Build progress, rendered the way `--progress` asks:
//!
//! - `plain` (the default outside a terminal or with `CI` set): BuildKit's
//!   plain format, stable and greppable — `#N [stage k/n] INSTR`, output
//!   lines as `#N 0.123 text` (seconds since the step started), then
//!   `#N DONE 0.3s`, `#N CACHED` or `#N ERROR: ...` ([`plain`]);
//! - `tty` (the default on a terminal): a live view, one line per step
//!   with a spinner and its time, the last output lines of running steps
//!   and a summary line ([`tty`]);
//! - `rawjson`: one JSON object per line, for programs ([`json`] has the
//!   schema);
//! - `quiet`: nothing.
//!
//! [`Progress`] numbers the steps in the order they show up, keeps the
//! last output lines of each (for error reports) and hands every update to
//! the view.

pub mod json;
pub mod plain;
pub mod tty;

use std::collections::{HashMap, VecDeque};
use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use kiln_frontend::lint::Warning;
use kiln_solver::events::Event;
use kiln_solver::graph::VertexId;

/// How many output lines of a step are kept for its error report.
pub const TAIL_LINES: usize = 10;

/// `--progress` values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// `tty` on a terminal (stderr) unless `CI` is set, else `plain`.
    #[default]
    Auto,
    Tty,
    Plain,
    Quiet,
    Rawjson,
}

impl Mode {
    /// The concrete mode: resolves `auto`, and `tty` falls back to `plain`
    /// when stderr is not a terminal (there is nothing to redraw).
    pub fn resolve(self) -> Mode {
        let terminal = std::io::stderr().is_terminal();
        match self {
            Mode::Auto if terminal && std::env::var_os("CI").is_none() => Mode::Tty,
            Mode::Auto | Mode::Tty if !terminal => Mode::Plain,
            Mode::Auto => Mode::Plain,
            m => m,
        }
    }
}

/// Where a step is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum State {
    Running,
    Cached,
    Done(Duration),
    Failed,
}

/// One numbered step: a solver vertex with a name, or a step of the CLI
/// itself (exporting).
#[derive(Debug, Clone)]
pub struct Step {
    /// `#N`, from 1, in order of appearance.
    pub number: usize,
    pub name: String,
    pub started: Instant,
    pub state: State,
    /// Exit code of the step's process (RUN), once it exited.
    pub exit_code: Option<i32>,
    /// The last [`TAIL_LINES`] output lines: (seconds since the step
    /// started, text).
    pub tail: VecDeque<(f64, String)>,
}

/// How a build ended, for the views' summaries.
pub enum Outcome<'a> {
    Built {
        image_id: &'a str,
        tags: &'a [String],
    },
    Failed {
        message: &'a str,
    },
}

/// A way of showing progress. Every call is about a step already
/// announced with `started` or `cached`.
pub trait View: Send {
    fn started(&mut self, step: &Step);
    fn cached(&mut self, step: &Step);
    /// An output line, `offset` seconds after the step started.
    fn log(&mut self, step: &Step, offset: f64, line: &str);
    /// A status line of a CLI step (`writing image sha256:... done`).
    fn status(&mut self, step: &Step, text: &str);
    fn done(&mut self, step: &Step);
    fn failed(&mut self, step: &Step, message: &str);
    /// Build check findings of the Dockerfile.
    fn warnings(&mut self, file: &str, source: &str, warnings: &[Warning]);
    fn finished(&mut self, outcome: &Outcome<'_>);
}

/// A view that shows nothing (`--progress=quiet`, `-q`).
pub struct Quiet;

impl View for Quiet {
    fn started(&mut self, _: &Step) {}
    fn cached(&mut self, _: &Step) {}
    fn log(&mut self, _: &Step, _: f64, _: &str) {}
    fn status(&mut self, _: &Step, _: &str) {}
    fn done(&mut self, _: &Step) {}
    fn failed(&mut self, _: &Step, _: &str) {}
    fn warnings(&mut self, _: &str, _: &str, _: &[Warning]) {}
    fn finished(&mut self, _: &Outcome<'_>) {}
}

/// Numbers steps, keeps their output tails and drives a [`View`].
pub struct Progress {
    view: Box<dyn View>,
    steps: Vec<Step>,
    by_vertex: HashMap<VertexId, usize>,
    /// Cache keys the solver computed, by vertex.
    pub keys: HashMap<VertexId, String>,
    /// Vertices that ran (were not cache hits), in start order.
    pub ran: Vec<VertexId>,
}

impl Progress {
    /// A progress for `mode` (resolved with [`Mode::resolve`]), on stderr.
    pub fn new(mode: Mode) -> Progress {
        let view: Box<dyn View> = match mode.resolve() {
            Mode::Tty => Box::new(tty::Tty::new()),
            Mode::Plain | Mode::Auto => Box::new(plain::Plain::new(std::io::stderr())),
            Mode::Rawjson => Box::new(json::Json::new(std::io::stderr())),
            Mode::Quiet => Box::new(Quiet),
        };
        Progress::with_view(view)
    }

    pub fn with_view(view: Box<dyn View>) -> Progress {
        Progress {
            view,
            steps: Vec::new(),
            by_vertex: HashMap::new(),
            keys: HashMap::new(),
            ran: Vec::new(),
        }
    }

    /// Renders one solver event. Vertices without a name are internal and
    /// not shown.
    pub fn event(&mut self, event: Event) {
        match event {
            Event::Started { vertex, name } if !name.is_empty() => {
                self.ran.push(vertex);
                let i = self.step_for(vertex, name);
                self.steps[i].started = Instant::now();
                self.view.started(&self.steps[i]);
            }
            Event::Cached { vertex, name } if !name.is_empty() => {
                let i = self.step_for(vertex, name);
                self.steps[i].state = State::Cached;
                self.view.cached(&self.steps[i]);
            }
            Event::Log { vertex, line } => {
                let Some(&i) = self.by_vertex.get(&vertex) else {
                    return;
                };
                let step = &mut self.steps[i];
                let offset = step.started.elapsed().as_secs_f64();
                if step.tail.len() == TAIL_LINES {
                    step.tail.pop_front();
                }
                step.tail.push_back((offset, line.clone()));
                self.view.log(&self.steps[i], offset, &line);
            }
            Event::CacheKey { vertex, key } => {
                self.keys.insert(vertex, key);
            }
            Event::Exited { vertex, code } => {
                if let Some(&i) = self.by_vertex.get(&vertex) {
                    self.steps[i].exit_code = Some(code);
                }
            }
            Event::Done { vertex, elapsed } => {
                if let Some(&i) = self.by_vertex.get(&vertex) {
                    self.steps[i].state = State::Done(elapsed);
                    self.view.done(&self.steps[i]);
                }
            }
            Event::Error { vertex, message } => {
                if let Some(&i) = self.by_vertex.get(&vertex) {
                    self.steps[i].state = State::Failed;
                    self.view.failed(&self.steps[i], &message);
                }
            }
            Event::Started { .. } | Event::Cached { .. } => {}
        }
    }

    fn step_for(&mut self, vertex: VertexId, name: String) -> usize {
        if let Some(&i) = self.by_vertex.get(&vertex) {
            return i;
        }
        let i = self.push(name);
        self.by_vertex.insert(vertex, i);
        i
    }

    fn push(&mut self, name: String) -> usize {
        self.steps.push(Step {
            number: self.steps.len() + 1,
            name,
            started: Instant::now(),
            state: State::Running,
            exit_code: None,
            tail: VecDeque::new(),
        });
        self.steps.len() - 1
    }

    /// Starts a step of the CLI's own (`exporting to image`); returns its
    /// handle for [`status`](Self::status) and [`end`](Self::end).
    pub fn begin(&mut self, name: &str) -> usize {
        let i = self.push(name.to_string());
        self.view.started(&self.steps[i]);
        i
    }

    pub fn status(&mut self, step: usize, text: &str) {
        self.view.status(&self.steps[step], text);
    }

    pub fn end(&mut self, step: usize) {
        let s = &mut self.steps[step];
        s.state = State::Done(s.started.elapsed());
        self.view.done(&self.steps[step]);
    }

    /// Ends a CLI step with an error.
    pub fn fail(&mut self, step: usize, message: &str) {
        self.steps[step].state = State::Failed;
        self.view.failed(&self.steps[step], message);
    }

    /// Ends the build with `err`, failing the CLI step `step` first;
    /// returns `err` for the caller to propagate.
    pub fn abort(&mut self, step: Option<usize>, err: anyhow::Error) -> anyhow::Error {
        let message = format!("{err:#}");
        if let Some(step) = step {
            self.fail(step, &message);
        }
        self.finished(&Outcome::Failed { message: &message });
        err
    }

    pub fn warnings(&mut self, file: &str, source: &str, warnings: &[Warning]) {
        if !warnings.is_empty() {
            self.view.warnings(file, source, warnings);
        }
    }

    pub fn finished(&mut self, outcome: &Outcome<'_>) {
        self.view.finished(outcome);
    }

    /// The step of a solver vertex, once it showed up.
    pub fn step_of(&self, vertex: VertexId) -> Option<&Step> {
        self.by_vertex.get(&vertex).map(|&i| &self.steps[i])
    }
}

/// BuildKit's time prefix of output lines: more digits for short times.
pub fn offset_text(secs: f64) -> String {
    match secs {
        s if s < 10.0 => format!("{s:.3}"),
        s if s < 100.0 => format!("{s:.2}"),
        s => format!("{s:.1}"),
    }
}
