//! Benchmarks live in `benches/`; results and how to read them in docs/BENCHMARKS.md.
//! Every benchmark group pairs the measured path with a baseline run in the same process,
//! so a result is a ratio that survives a change of machine.
