//! Anti-Meave: only members act, only with the rights they were given, and nothing they
//! sent can be replayed.
//!
//! * [`token`]: biscuit capability tokens, their datalog format and a caching verifier.
//! * [`envelope`]: the wire envelope of every privileged message (token, nonce, time).
//! * [`replay`]: the seen-nonce set with its time window.
//! * [`revocations`]: the revoked token ids from the authority's signed lists.
//! * [`gate`]: all of the above in order, one verdict and reason per message.
//!
//! Every part is a sans-IO core: `now` is passed in, nothing reads a clock. The actix
//! shell is `x0_actors::auth`.

pub mod envelope;
pub mod gate;
pub mod replay;
pub mod revocations;
pub mod token;
