//! Empty: this crate only holds the `baseline` bench (see `benches/baseline.rs`).
