//! Does nothing: cargo only resolves `[build-dependencies]` for a package with a build script, and
//! xtask's are there to make cargo resolve the same features for build-time crates as the test
//! build does (`xtask/Cargo.toml`, "Built once").

fn main() {}
