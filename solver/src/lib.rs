//! kiln-solver: executes a `kiln_frontend::BuildDefinition` with a
//! content-addressed cache, owns the stores and the RUN sandbox.
//!
//! The solver lands with the "Solver, stores and the first end-to-end
//! build" issue; until then the crate only fixes its place in the workspace.
