//! `--progress=plain`: BuildKit's plain format.
//!
//! ```text
//! #1 [base 1/2] COPY busybox /bin/busybox
//! #1 DONE 0.0s
//!
//! #2 [stage-1 1/1] RUN make
//! #2 0.112 cc -o hello hello.c
//! #2 DONE 0.9s
//! ```
//!
//! Blocks of different steps are separated by a blank line; when output of
//! another step interrupts a running one, the running one gets a `#N ...`
//! line and its header is repeated when it resumes, as BuildKit does.

use std::collections::HashSet;
use std::io::Write;

use kiln_frontend::lint::Warning;

use super::{offset_text, Outcome, State, Step, View};

pub struct Plain<W: Write + Send> {
    out: W,
    /// The step whose block is open.
    current: Option<usize>,
    any: bool,
    completed: HashSet<usize>,
}

impl<W: Write + Send> Plain<W> {
    pub fn new(out: W) -> Self {
        Plain {
            out,
            current: None,
            any: false,
            completed: HashSet::new(),
        }
    }

    /// Opens the block of `step` unless it is the open one.
    fn switch_to(&mut self, step: &Step) {
        if self.current == Some(step.number) {
            return;
        }
        if let Some(c) = self.current {
            if !self.completed.contains(&c) {
                let _ = writeln!(self.out, "#{c} ...");
            }
        }
        if self.any {
            let _ = writeln!(self.out);
        }
        self.any = true;
        let _ = writeln!(self.out, "#{} {}", step.number, step.name);
        self.current = Some(step.number);
    }

    fn close(&mut self, step: &Step, line: &str) {
        self.switch_to(step);
        let _ = writeln!(self.out, "#{} {line}", step.number);
        self.completed.insert(step.number);
        self.current = None;
        let _ = self.out.flush();
    }
}

impl<W: Write + Send> View for Plain<W> {
    fn started(&mut self, step: &Step) {
        self.switch_to(step);
        let _ = self.out.flush();
    }

    fn cached(&mut self, step: &Step) {
        self.close(step, "CACHED");
    }

    fn log(&mut self, step: &Step, offset: f64, line: &str) {
        self.switch_to(step);
        let _ = writeln!(self.out, "#{} {} {line}", step.number, offset_text(offset));
        let _ = self.out.flush();
    }

    fn status(&mut self, step: &Step, text: &str) {
        self.switch_to(step);
        let _ = writeln!(self.out, "#{} {text}", step.number);
    }

    fn done(&mut self, step: &Step) {
        let secs = match step.state {
            State::Done(d) => d.as_secs_f64(),
            _ => step.started.elapsed().as_secs_f64(),
        };
        self.close(step, &format!("DONE {secs:.1}s"));
    }

    fn failed(&mut self, step: &Step, message: &str) {
        self.close(step, &format!("ERROR: {message}"));
    }

    fn warnings(&mut self, file: &str, source: &str, warnings: &[Warning]) {
        let text = crate::checks::render_build_warnings(file, source, warnings);
        let _ = write!(self.out, "{text}");
        let _ = self.out.flush();
    }

    fn finished(&mut self, _: &Outcome<'_>) {
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use kiln_solver::events::Event;

    use super::*;
    use crate::progress::Progress;

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn started(vertex: usize, name: &str) -> Event {
        Event::Started {
            vertex,
            name: name.into(),
        }
    }

    #[test]
    fn interleaved_steps_reopen_their_blocks() {
        let buf = Buf::default();
        let mut p = Progress::with_view(Box::new(Plain::new(buf.clone())));
        p.event(Event::Cached {
            vertex: 0,
            name: "[a 1/2] COPY x /".into(),
        });
        p.event(started(9, "")); // internal: not shown
        p.event(started(1, "[a 2/2] RUN one"));
        p.event(started(2, "[b 1/1] RUN two"));
        p.event(Event::Log {
            vertex: 1,
            line: "out".into(),
        });
        p.event(Event::Done {
            vertex: 2,
            elapsed: Duration::from_millis(300),
        });
        p.event(Event::Error {
            vertex: 1,
            message: "boom".into(),
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let text = regex::Regex::new(r"#2 \d\.\d{3} out")
            .unwrap()
            .replace(&text, "#2 T out");
        assert_eq!(
            text,
            "#1 [a 1/2] COPY x /\n#1 CACHED\n\n#2 [a 2/2] RUN one\n#2 ...\n\n\
             #3 [b 1/1] RUN two\n#3 ...\n\n#2 [a 2/2] RUN one\n#2 T out\n#2 ...\n\n\
             #3 [b 1/1] RUN two\n#3 DONE 0.3s\n\n#2 [a 2/2] RUN one\n#2 ERROR: boom\n"
        );
    }
}
