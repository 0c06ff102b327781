//! Anti-Meave: who may do what, and only once.
//!
//! * [`token`]: biscuit capability tokens, their datalog format and a caching verifier.
//! * [`anomaly`]: the change-rate limits (warning and halt over a rolling window).
//!
//! Every part is a sans-IO core: `now` is passed in, nothing reads a clock.

pub mod anomaly;
