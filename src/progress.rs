//! Progress output in BuildKit's plain format (`--progress=plain`, the
//! default outside a terminal): one numbered line per step, then its
//! outcome, greppable and stable.
//!
//! ```text
//! #1 [build 1/3] FROM docker.io/library/alpine:3.20
//! #1 CACHED
//! #2 [build 2/3] COPY . /src
//! #2 DONE 0.1s
//! ```

use std::collections::HashMap;
use std::io::Write;
use std::sync::mpsc::Receiver;

use kiln_solver::events::Event;

/// Prints events until the channel closes. Vertices without a name
/// (internal steps) are not shown.
pub fn print_plain(events: Receiver<Event>, mut out: impl Write) {
    let mut numbers: HashMap<usize, usize> = HashMap::new();
    let mut next = 1;
    let mut number = |vertex: usize| {
        *numbers.entry(vertex).or_insert_with(|| {
            next += 1;
            next - 1
        })
    };
    let mut names: HashMap<usize, String> = HashMap::new();
    for event in events {
        let line = match event {
            Event::Started { vertex, name } => {
                if name.is_empty() {
                    continue;
                }
                names.insert(vertex, name.clone());
                format!("#{} {name}", number(vertex))
            }
            Event::Cached { vertex, name } => {
                if name.is_empty() {
                    continue;
                }
                let n = number(vertex);
                format!("#{n} {name}\n#{n} CACHED")
            }
            Event::Log { vertex, line } => format!("#{} {line}", number(vertex)),
            Event::Done { vertex, elapsed } => {
                if !names.contains_key(&vertex) {
                    continue;
                }
                format!("#{} DONE {:.1}s", number(vertex), elapsed.as_secs_f64())
            }
            Event::Error { vertex, message } => format!("#{} ERROR: {message}", number(vertex)),
        };
        let _ = writeln!(out, "{line}");
    }
}
