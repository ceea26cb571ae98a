//! The build context: walking it, `.dockerignore`, content digests.

pub mod dockerignore;
