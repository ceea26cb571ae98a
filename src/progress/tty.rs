//! `--progress=tty`: a live view on the terminal (indicatif), after
//! BuildKit's:
//!
//! ```text
//! [+] Building 1.4s (3/4)
//!  => CACHED [base 1/2] COPY busybox /bin/busybox          0.0s
//!  => [base 2/2] COPY passwd /etc/                         0.0s
//!  ⠙ [stage-1 1/1] RUN make                                1.2s
//!  => => # cc -o hello hello.c
//! ```
//!
//! Running steps show a spinner, their time and their last output lines;
//! finished ones their total time. The first line counts finished steps
//! and ends with `FINISHED` or `ERROR`.

use std::collections::HashMap;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use kiln_frontend::lint::Warning;

use super::{Outcome, State, Step, View};

/// Output lines shown under a running step.
const SHOWN_LINES: usize = 6;

pub struct Tty {
    multi: MultiProgress,
    header: ProgressBar,
    bars: HashMap<usize, ProgressBar>,
    tails: HashMap<usize, Vec<ProgressBar>>,
    total: usize,
    completed: usize,
}

fn seconds(state: &ProgressState, w: &mut dyn std::fmt::Write) {
    let _ = write!(w, "{:.1}s", state.elapsed().as_secs_f64());
}

fn running_style() -> ProgressStyle {
    ProgressStyle::with_template(" {spinner:.cyan} {wide_msg} {secs:>6}")
        .expect("valid template")
        .with_key("secs", seconds)
}

fn finished_style(colour: &str) -> ProgressStyle {
    ProgressStyle::with_template(&format!(" => {{wide_msg:.{colour}}} {{prefix:>6}}"))
        .expect("valid template")
}

fn line_style() -> ProgressStyle {
    ProgressStyle::with_template(" => => # {wide_msg:.dim}").expect("valid template")
}

impl Tty {
    pub fn new() -> Tty {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        let header = multi.add(ProgressBar::new_spinner());
        header.set_style(
            ProgressStyle::with_template("[+] Building {secs} {msg}")
                .expect("valid template")
                .with_key("secs", seconds),
        );
        header.set_message("(0/0)");
        header.enable_steady_tick(Duration::from_millis(100));
        Tty {
            multi,
            header,
            bars: HashMap::new(),
            tails: HashMap::new(),
            total: 0,
            completed: 0,
        }
    }

    fn counts(&self) -> String {
        format!("({}/{})", self.completed, self.total)
    }

    fn bar(&mut self, step: &Step) -> ProgressBar {
        if let Some(bar) = self.bars.get(&step.number) {
            return bar.clone();
        }
        self.total += 1;
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(running_style());
        bar.set_message(step.name.clone());
        bar.enable_steady_tick(Duration::from_millis(100));
        self.bars.insert(step.number, bar.clone());
        self.header.set_message(self.counts());
        bar
    }

    /// Freezes the step's line with `label` and its time; drops its
    /// output lines.
    fn finish(&mut self, step: &Step, label: &str, colour: &str) {
        let bar = self.bar(step);
        for line in self.tails.remove(&step.number).unwrap_or_default() {
            line.finish_and_clear();
            self.multi.remove(&line);
        }
        let secs = match step.state {
            State::Done(d) => d.as_secs_f64(),
            State::Cached => 0.0,
            _ => step.started.elapsed().as_secs_f64(),
        };
        bar.set_style(finished_style(colour));
        bar.set_prefix(format!("{secs:.1}s"));
        bar.finish_with_message(format!("{label}{}", step.name));
        self.completed += 1;
        self.header.set_message(self.counts());
    }
}

impl Default for Tty {
    fn default() -> Self {
        Tty::new()
    }
}

impl View for Tty {
    fn started(&mut self, step: &Step) {
        self.bar(step);
    }

    fn cached(&mut self, step: &Step) {
        self.finish(step, "CACHED ", "blue");
    }

    fn log(&mut self, step: &Step, _offset: f64, _line: &str) {
        let bar = self.bar(step);
        let lines = self.tails.entry(step.number).or_default();
        if lines.len() < SHOWN_LINES {
            let after = lines.last().unwrap_or(&bar).clone();
            let new = self.multi.insert_after(&after, ProgressBar::new_spinner());
            new.set_style(line_style());
            lines.push(new);
        }
        // Scroll: each shown line takes the text of the one below it.
        let n = lines.len();
        let texts: Vec<String> = step
            .tail
            .iter()
            .skip(step.tail.len().saturating_sub(n))
            .map(|(_, l)| l.clone())
            .collect();
        for (bar, text) in lines.iter().zip(texts) {
            bar.set_message(text);
        }
    }

    fn status(&mut self, step: &Step, text: &str) {
        let bar = self.bar(step);
        bar.set_message(format!("{} > {text}", step.name));
    }

    fn done(&mut self, step: &Step) {
        self.finish(step, "", "white");
    }

    fn failed(&mut self, step: &Step, _message: &str) {
        self.finish(step, "ERROR ", "red");
    }

    fn warnings(&mut self, file: &str, source: &str, warnings: &[Warning]) {
        let text = crate::checks::render_build_warnings(file, source, warnings);
        let _ = self.multi.println(text.trim_end());
    }

    fn finished(&mut self, outcome: &Outcome<'_>) {
        let end = match outcome {
            Outcome::Built { .. } => "FINISHED",
            Outcome::Failed { .. } => "ERROR",
        };
        self.header
            .finish_with_message(format!("{} {end}", self.counts()));
        for bar in self.bars.values() {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
        // indicatif leaves the cursor at the end of the last line.
        eprintln!();
    }
}
