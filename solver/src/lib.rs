//! kiln-solver: executes a build definition with a content-addressed
//! cache, owns the stores (`store`) and the layer format (`layer`).
