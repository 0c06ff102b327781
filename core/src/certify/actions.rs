//! What a [`CertifyNode`](super::node::CertifyNode) tells its shell: the [`Action`]s to
//! carry out (through [`super::effects::carry_out`]), the evidence it can prove, and why
//! a call changed nothing. Plain values, so both shells and the tests can read them.

use super::collector::SlotKey;
use super::proposal::ProposalId;
use super::scheme::MemberIndex;
use super::threshold::ChangeClass;
use crate::ids::Verdict;

/// Misbehaviour the node can prove to anyone holding the committee's public keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// `member` published a share for `id` that does not verify.
    InvalidShare {
        member: MemberIndex,
        id: ProposalId,
        share: Vec<u8>,
    },
    /// Two valid certificates for one slot; `members` have valid shares for both.
    DoubleSigned {
        slot: SlotKey,
        ids: [ProposalId; 2],
        members: Vec<MemberIndex>,
    },
}

/// A share message whose verdict is held; its verdict comes as [`Action::Verdict`].
pub type HeldShare = (ChangeClass, ProposalId, MemberIndex);

/// The verdict on an inbound message: now, or later for a held share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundVerdict {
    Now(Verdict),
    Held(HeldShare),
}

/// What the shell must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Persist `slot -> id` (and the share) as signed, then publish `encoded` on the
    /// shares topic. If the write fails, publish nothing.
    PublishShare {
        slot: SlotKey,
        id: ProposalId,
        share: [u8; super::scheme::SIGNATURE_BYTES],
        encoded: Vec<u8>,
    },
    /// Persist the certificate, then publish it on the certificates topic.
    PublishCertificate {
        id: ProposalId,
        encoded: Vec<u8>,
    },
    /// Persist a received certificate before the message is forwarded or acted on.
    StoreCertificate {
        id: ProposalId,
        encoded: Vec<u8>,
    },
    /// Publish a proposal this node made (nothing to persist: the share is persisted).
    PublishProposal {
        encoded: Vec<u8>,
    },
    /// Publish a certificate held (and persisted) here again, for nodes that missed it.
    RepublishCertificate {
        id: ProposalId,
        encoded: Vec<u8>,
    },
    /// The verdict on a held share message.
    Verdict {
        held: HeldShare,
        verdict: Verdict,
    },
    /// Keep this proof of misbehaviour.
    Evidence(Evidence),
    /// A valid certificate for this slot is held here now.
    Certified {
        slot: SlotKey,
        id: ProposalId,
        class: ChangeClass,
        origin: Origin,
        collecting_ms: Option<u64>,
    },
    /// Two valid certificates for one slot: halted until a ballot settles it.
    Conflict {
        slot: SlotKey,
        ids: [ProposalId; 2],
        double_signers: Vec<MemberIndex>,
    },
    /// For metrics: a share arrived, of this key set.
    ShareReceived {
        class: ChangeClass,
    },
    /// For metrics: a share was rejected (`Reject`) or ignored (`Ignore`), with reason.
    ShareRefused {
        verdict: Verdict,
    },
    /// For metrics: a certificate or proposal was refused, with the verdict given.
    CertificateRefused {
        verdict: Verdict,
    },
    ProposalRefused {
        verdict: Verdict,
    },
    /// Something was refused for a bound or a rule; `what` is the metric label.
    Dropped {
        what: &'static str,
    },
}

/// Why a ballot's `settle` effect changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SettleError {
    #[error("no certificate for that proposal is held here")]
    NotCertified,
    #[error("the proposal is for another slot or epoch")]
    OtherSlot,
    #[error("the slot is not halted")]
    NotHalted,
}

/// Where a certificate held here came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Formed,
    Received,
    Restored,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Formed => "formed",
            Origin::Received => "received",
            Origin::Restored => "restored",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    #[error("this node is not a committee member, so it may not propose")]
    NotMember,
    #[error("invalid proposal: {0}")]
    Invalid(String),
    #[error("slot ({0}) is halted by conflicting certificates; a ballot must settle it")]
    Halted(String),
    #[error("could not persist: {0}")]
    Journal(String),
}
