//! What a passed ballot does, in one text form shared by the wire, the CLI and Snapshot
//! proposal bodies (a line `x0-effect: <effect>`).
//!
//! ```text
//! lift-halt                          lift the anomaly halt (anomaly)  
//! settle <slot> <proposal id hex>    a slot with two certificates keeps this proposal
//! approve <proposal id hex>          the proposal is approved without a certificate
//! ```

use std::fmt;
use std::str::FromStr;

use crate::certify::proposal::ProposalId;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Effect {
    LiftHalt,
    Settle { slot: String, id: ProposalId },
    Approve { id: ProposalId },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0} (expected `lift-halt`, `settle <slot> <proposal id hex>` or `approve <proposal id hex>`)"
)]
pub struct EffectError(pub String);

fn id_hex(id: &ProposalId) -> String {
    hex::encode(id.0)
}

fn parse_id(text: &str) -> Result<ProposalId, EffectError> {
    let wrong = || EffectError(format!("`{text}` is not a 64-digit hex proposal id"));
    // Hex digits only: `u8::from_str_radix` alone also takes a sign (`+0` reads as 0), so
    // one id would have many spellings.
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(wrong());
    }
    let mut id = [0u8; 32];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| wrong())?;
    }
    Ok(ProposalId(id))
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Effect::LiftHalt => write!(f, "lift-halt"),
            Effect::Settle { slot, id } => write!(f, "settle {slot} {}", id_hex(id)),
            Effect::Approve { id } => write!(f, "approve {}", id_hex(id)),
        }
    }
}

impl FromStr for Effect {
    type Err = EffectError;

    fn from_str(text: &str) -> Result<Effect, EffectError> {
        let words: Vec<&str> = text.split(' ').collect();
        match words.as_slice() {
            ["lift-halt"] => Ok(Effect::LiftHalt),
            ["settle", slot, id] => {
                crate::certify::proposal::check_slot(slot)
                    .map_err(|error| EffectError(format!("slot: {error}")))?;
                Ok(Effect::Settle {
                    slot: slot.to_string(),
                    id: parse_id(id)?,
                })
            }
            ["approve", id] => Ok(Effect::Approve { id: parse_id(id)? }),
            _ => Err(EffectError(format!("`{text}` is not an effect"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effects_round_trip_and_bad_text_is_refused() {
        let id = ProposalId([0xab; 32]);
        for effect in [
            Effect::LiftHalt,
            Effect::Settle {
                slot: "gossip/mesh_n".into(),
                id,
            },
            Effect::Approve { id },
        ] {
            assert_eq!(effect.to_string().parse::<Effect>(), Ok(effect));
        }
        for bad in [
            "",
            "lift-halt now",
            "approve abc",
            "settle BAD/SLOT abababababababababababababababababababababababababababababababab",
            "settle  gossip/mesh_n",
            &format!("approve {}", "zz".repeat(32)),
        ] {
            assert!(bad.parse::<Effect>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_signed_hex_byte_is_not_an_id() {
        // Found by the ballot_message fuzz target (docs/FUZZING.md): `+0` was read as the
        // byte 0, so one id had many spellings.
        let plus = format!("approve +0{}", "0".repeat(62));
        assert!(plus.parse::<Effect>().is_err());
        let settle = format!("settle gossip/mesh_n {}+a", "0".repeat(62));
        assert!(settle.parse::<Effect>().is_err());
    }
}
