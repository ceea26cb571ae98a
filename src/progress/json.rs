//! `--progress=rawjson`: one JSON object per line on stderr, for programs.
//!
//! Every event has `"type"` and `"time"` (seconds since the build started,
//! millisecond precision). Step events carry `"step"`, the number plain
//! progress shows as `#N`:
//!
//! | type | fields |
//! | --- | --- |
//! | `started` | `step`, `name` (`[stage k/n] INSTRUCTION`) |
//! | `cached` | `step`, `name` |
//! | `log` | `step`, `offset` (seconds since the step started), `line` |
//! | `status` | `step`, `text` (exporter progress: `writing image sha256:... done`) |
//! | `done` | `step`, `duration` (seconds), `exit_code` (RUN steps, else absent) |
//! | `error` | `step`, `message`, `exit_code` (when a process exited) |
//! | `warning` | `rule`, `message`, `url`, `file`, `line`, `end_line` (a build check finding) |
//! | `result` | `image_id`, `tags` (last event of a successful build) |
//! | `failed` | `message` (last event of a failed build) |
//!
//! A failed build still ends with the usual `error: ...` text on stderr
//! after its `failed` event.

use std::io::Write;
use std::time::Instant;

use kiln_frontend::lint::Warning;
use serde_json::{json, Value};

use super::{Outcome, State, Step, View};

pub struct Json<W: Write + Send> {
    out: W,
    start: Instant,
}

impl<W: Write + Send> Json<W> {
    pub fn new(out: W) -> Self {
        Json {
            out,
            start: Instant::now(),
        }
    }

    fn emit(&mut self, kind: &str, fields: Value) {
        // `type` and `time` first, for people reading the stream too.
        let head = format!(
            "{{\"type\":{},\"time\":{}",
            Value::from(kind),
            Value::from(round(self.start.elapsed().as_secs_f64()))
        );
        let rest = fields.to_string();
        let mut line = head.into_bytes();
        if rest.len() > 2 {
            line.push(b',');
            line.extend_from_slice(&rest.as_bytes()[1..]);
        } else {
            line.push(b'}');
        }
        // One write per line: lines of concurrent writers never mix.
        line.push(b'\n');
        let _ = self.out.write_all(&line);
        let _ = self.out.flush();
    }
}

fn round(secs: f64) -> f64 {
    (secs * 1000.0).round() / 1000.0
}

impl<W: Write + Send> View for Json<W> {
    fn started(&mut self, step: &Step) {
        self.emit("started", json!({"step": step.number, "name": step.name}));
    }

    fn cached(&mut self, step: &Step) {
        self.emit("cached", json!({"step": step.number, "name": step.name}));
    }

    fn log(&mut self, step: &Step, offset: f64, line: &str) {
        self.emit(
            "log",
            json!({"step": step.number, "offset": round(offset), "line": line}),
        );
    }

    fn status(&mut self, step: &Step, text: &str) {
        self.emit("status", json!({"step": step.number, "text": text}));
    }

    fn done(&mut self, step: &Step) {
        let secs = match step.state {
            State::Done(d) => d.as_secs_f64(),
            _ => step.started.elapsed().as_secs_f64(),
        };
        let mut fields = json!({"step": step.number, "duration": round(secs)});
        if let Some(code) = step.exit_code {
            fields["exit_code"] = code.into();
        }
        self.emit("done", fields);
    }

    fn failed(&mut self, step: &Step, message: &str) {
        let mut fields = json!({"step": step.number, "message": message});
        if let Some(code) = step.exit_code {
            fields["exit_code"] = code.into();
        }
        self.emit("error", fields);
    }

    fn warnings(&mut self, file: &str, _source: &str, warnings: &[Warning]) {
        for w in warnings {
            self.emit(
                "warning",
                json!({
                    "rule": w.rule,
                    "message": w.message,
                    "url": w.url,
                    "file": file,
                    "line": w.range.start_line,
                    "end_line": w.range.end_line.max(w.range.start_line),
                }),
            );
        }
    }

    fn finished(&mut self, outcome: &Outcome<'_>) {
        match outcome {
            Outcome::Built { image_id, tags } => {
                self.emit("result", json!({"image_id": image_id, "tags": tags}));
            }
            Outcome::Failed { message } => self.emit("failed", json!({"message": message})),
        }
    }
}
