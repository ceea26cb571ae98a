//! Parsed nodes -> typed commands grouped into stages.
