//! Docker-semantics `.dockerignore` matching.
