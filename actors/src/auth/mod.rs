//! Anti-Meave: only members act, only with the rights they were given, and nothing they
//! sent can be replayed.
//!
//! * [`token`]: biscuit capability tokens, their datalog format and a caching verifier.
//! * [`envelope`]: the wire envelope of every privileged message (token, nonce, time).
//! * [`replay`]: the seen-nonce set with its time window.
//! * [`revocations`]: the revoked token ids from the authority's signed lists.
//! * [`gate`]: all of the above in order, one verdict and reason per message.
//! * [`actor`]: the actix shell: gate inbound, envelope outbound, persist nonces.
//! * [`anomaly`]: the change-rate limits (warning and halt over a rolling window).
//!
//! Every part is a sans-IO core: `now` is passed in, nothing reads a clock.

pub mod actor;
pub mod anomaly;
pub mod envelope;
pub mod gate;
pub mod replay;
pub mod revocations;
pub mod token;
