//! Independent vertices run at the same time: two RUN steps with no
//! dependency between them must both be in flight before either ends.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use kiln_solver::graph::{ExecNetwork, ExecSpec, Graph, Vertex, VertexOp};
use kiln_solver::solve::{ExecRequest, Executor, ImageSource, Solver};
use kiln_solver::store::{SnapshotId, Store};

/// Each step waits (bounded) until the other one has started too.
struct Rendezvous {
    started: Mutex<usize>,
    all: Condvar,
}

impl Executor for Rendezvous {
    fn run(&self, req: &ExecRequest<'_>, _output: &mut dyn FnMut(&[u8])) -> Result<i32, String> {
        let mut started = self.started.lock().unwrap();
        *started += 1;
        self.all.notify_all();
        let (started, timeout) = self
            .all
            .wait_timeout_while(started, Duration::from_secs(20), |n| *n < 2)
            .unwrap();
        if timeout.timed_out() {
            return Err(format!(
                "{:?} ran alone: the steps were not run in parallel ({} started)",
                req.args, *started
            ));
        }
        Ok(0)
    }
}

struct NoImages;

impl ImageSource for NoImages {
    fn resolve(&self, reference: &str) -> Result<(String, Vec<SnapshotId>), String> {
        Err(format!("{reference}: no images in this test"))
    }
}

fn exec(arg: &str) -> Vertex {
    Vertex {
        op: VertexOp::Exec(Box::new(ExecSpec {
            args: vec![arg.to_string()],
            env: Vec::new(),
            cwd: "/".into(),
            user: String::new(),
            root: None,
            network: ExecNetwork::None,
            insecure: false,
            mounts: Vec::new(),
            proxy_env: Vec::new(),
            secret_env: Vec::new(),
        })),
        inputs: Vec::new(),
        digest: format!("sha256:{}", arg.repeat(64)),
        name: format!("RUN {arg}"),
        ignore_cache: false,
    }
}

#[test]
fn independent_vertices_run_in_parallel() {
    kiln_solver::mount::enter_private_namespace().expect("tests run as root");
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let graph = Graph {
        vertices: vec![
            exec("a"),
            exec("b"),
            Vertex {
                op: VertexOp::Merge {
                    inputs: vec![Some(0), Some(1)],
                },
                inputs: vec![0, 1],
                digest: format!("sha256:{}", "c".repeat(64)),
                name: String::new(),
                ignore_cache: false,
            },
        ],
    };
    let executor = Rendezvous {
        started: Mutex::new(0),
        all: Condvar::new(),
    };
    let solver = Solver {
        store: &store,
        locals: HashMap::new(),
        images: &NoImages,
        executor: Some(&executor),
        events: None,
        no_cache: false,
        remote_cache: None,
    };
    let chain = solver.solve(&graph, 2).expect("both steps ran together");
    assert_eq!(chain.len(), 2);
}
