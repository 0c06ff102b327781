//! The one interpreter of a [`BallotBook`](super::book::BallotBook)'s actions, for the
//! node's ballot actor and the simulator alike (the same idea as
//! `crate::certify::effects`).
//!
//! The rule it keeps: what the node acknowledges is persisted before it is sent. Each
//! store action is written before anything after it in the batch happens, and once a write
//! fails nothing more of the batch is published (a vote is never sent unpersisted). The
//! first failure is returned, for the API call that caused the batch.

use super::book::Action;
use super::certificate::Certificate;
use super::fallback::Mode;
use super::wire::BallotId;
use crate::ids::PeerKey;

/// What a shell provides to carry out a ballot book's actions.
pub trait BallotEffects {
    /// Durably records an open before it is accepted or published.
    fn persist_ballot(&mut self, id: &BallotId, encoded: &[u8]) -> Result<(), String>;
    /// Durably records a vote (own or received) before it is published or accepted.
    fn persist_vote(
        &mut self,
        id: &BallotId,
        voter: &PeerKey,
        encoded: &[u8],
    ) -> Result<(), String>;
    /// Durably records the proof that `voter` equivocated.
    fn persist_evidence(
        &mut self,
        id: &BallotId,
        voter: &PeerKey,
        encoded: &[u8],
    ) -> Result<(), String>;
    /// Durably records a decided ballot's certificate, in its wire form.
    fn persist_decided(&mut self, id: &BallotId, encoded: &[u8]) -> Result<(), String>;
    /// Sends `encoded` on the ballots topic; called only while every write so far held.
    fn publish(&mut self, encoded: Vec<u8>);
    /// The ballot is decided and its certificate (`encoded` in wire form) persisted: act
    /// on a passed effect.
    fn decided(&mut self, id: BallotId, certificate: Certificate, encoded: &[u8]);
    /// The node entered or left the fallback mode.
    fn mode_changed(&mut self, mode: Mode);
    /// A write failed; what depended on it is not sent.
    fn journal_failed(&mut self, error: &str);
}

/// Carries out `actions` in order. Returns the first failed write, if any.
pub fn carry_out(effects: &mut impl BallotEffects, actions: Vec<Action>) -> Result<(), String> {
    let mut failure: Option<String> = None;
    for action in actions {
        // A decided certificate is encoded once, for the store and for the shell.
        let decided_encoded = match &action {
            Action::Decided { certificate, .. } => certificate.encode(),
            _ => Vec::new(),
        };
        let written = match &action {
            Action::StoreBallot { id, encoded } => effects.persist_ballot(id, encoded),
            Action::StoreVote { id, voter, encoded } => effects.persist_vote(id, voter, encoded),
            Action::StoreEvidence { id, voter, encoded } => {
                effects.persist_evidence(id, voter, encoded)
            }
            Action::Decided { id, .. } => effects.persist_decided(id, &decided_encoded),
            Action::Publish { .. } | Action::ModeChanged { .. } => Ok(()),
        };
        if let Err(error) = written {
            effects.journal_failed(&error);
            failure.get_or_insert(error);
            continue;
        }
        match action {
            Action::Publish { encoded } => {
                if failure.is_none() {
                    effects.publish(encoded);
                }
            }
            Action::Decided { id, certificate } => {
                effects.decided(id, *certificate, &decided_encoded)
            }
            Action::ModeChanged { mode } => effects.mode_changed(mode),
            Action::StoreBallot { .. }
            | Action::StoreVote { .. }
            | Action::StoreEvidence { .. } => {}
        }
    }
    match failure {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Recorder {
        refuse_votes: bool,
        log: Vec<String>,
    }

    impl BallotEffects for Recorder {
        fn persist_ballot(&mut self, _: &BallotId, encoded: &[u8]) -> Result<(), String> {
            self.log.push(format!("store ballot {}", encoded[0]));
            Ok(())
        }
        fn persist_vote(
            &mut self,
            _: &BallotId,
            _: &PeerKey,
            encoded: &[u8],
        ) -> Result<(), String> {
            self.log.push(format!("store vote {}", encoded[0]));
            if self.refuse_votes {
                return Err("full".into());
            }
            Ok(())
        }
        fn persist_evidence(&mut self, _: &BallotId, _: &PeerKey, _: &[u8]) -> Result<(), String> {
            Ok(())
        }
        fn persist_decided(&mut self, _: &BallotId, _: &[u8]) -> Result<(), String> {
            Ok(())
        }
        fn publish(&mut self, encoded: Vec<u8>) {
            self.log.push(format!("publish {}", encoded[0]));
        }
        fn decided(&mut self, _: BallotId, _: Certificate, _: &[u8]) {}
        fn mode_changed(&mut self, mode: Mode) {
            self.log.push(format!("mode {}", mode.as_str()));
        }
        fn journal_failed(&mut self, error: &str) {
            self.log.push(format!("failed: {error}"));
        }
    }

    fn batch() -> Vec<Action> {
        let id = BallotId([1; 32]);
        vec![
            Action::StoreBallot {
                id,
                encoded: vec![1],
            },
            Action::Publish { encoded: vec![1] },
            Action::StoreVote {
                id,
                voter: PeerKey(vec![7]),
                encoded: vec![2],
            },
            Action::Publish { encoded: vec![2] },
            Action::ModeChanged {
                mode: Mode::Fallback,
            },
        ]
    }

    #[test]
    fn stores_before_publishing_in_order() {
        let mut recorder = Recorder::default();
        assert_eq!(carry_out(&mut recorder, batch()), Ok(()));
        assert_eq!(
            recorder.log,
            [
                "store ballot 1",
                "publish 1",
                "store vote 2",
                "publish 2",
                "mode fallback"
            ]
        );
    }

    #[test]
    fn nothing_is_published_after_a_failed_write() {
        let mut recorder = Recorder {
            refuse_votes: true,
            ..Recorder::default()
        };
        assert_eq!(carry_out(&mut recorder, batch()), Err("full".to_string()));
        assert_eq!(
            recorder.log,
            [
                "store ballot 1",
                "publish 1",
                "store vote 2",
                "failed: full",
                "mode fallback"
            ]
        );
    }
}
