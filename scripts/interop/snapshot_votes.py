#!/usr/bin/env python3
"""Signs Snapshot votes with an independent Ethereum library (eth-account) and writes
node/tests/fixtures/snapshot_votes.json, which the Rust tests verify against.

Run from the repository root:

    python3 -m venv target/eth-venv
    target/eth-venv/bin/pip install 'eth-account==0.13.7'
    target/eth-venv/bin/python scripts/interop/snapshot_votes.py

The keys are fixed and public (test keys only), so the output is the same on every run:
eth-account signs deterministically (RFC 6979).
"""

import json
import pathlib

import eth_account
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

SPACE = "x0tta6bl4.eth"
APP = "x0-interop"
# A bytes32 proposal id (the usual kind) and a string one (older and IPFS-style ids).
PROPOSAL_BYTES32 = "0x" + keccak(text="x0 proposal: raise probe interval").hex()
PROPOSAL_STRING = "QmX0ttaProposalStringId0001"

DOMAIN = {"name": "snapshot", "version": "0.1.4"}
DOMAIN_TYPE = [{"name": "name", "type": "string"}, {"name": "version", "type": "string"}]


def vote_type(proposal_type):
    return [
        {"name": "from", "type": "address"},
        {"name": "space", "type": "string"},
        {"name": "timestamp", "type": "uint64"},
        {"name": "proposal", "type": proposal_type},
        {"name": "choice", "type": "uint32"},
        {"name": "reason", "type": "string"},
        {"name": "app", "type": "string"},
        {"name": "metadata", "type": "string"},
    ]


def key(index):
    return "0x" + (index.to_bytes(1, "big") * 32).hex()


# (key index, proposal, timestamp, choice, reason, metadata). Key 1 votes twice on the
# bytes32 proposal (the later vote counts); key 9 is not in the tests' registry; keys 4
# and 5 vote in the same second (a page boundary may fall between them).
VOTES = [
    (1, PROPOSAL_BYTES32, 1_760_000_100, 2, "first thought: no", "{}"),
    (2, PROPOSAL_BYTES32, 1_760_000_200, 1, "oui, d'accord — ça marche", "{}"),
    (3, PROPOSAL_BYTES32, 1_760_000_300, 1, "да, поддерживаю 🚀", '{"client":"cli"}'),
    (4, PROPOSAL_BYTES32, 1_760_000_400, 3, "abstain: conflict of interest", "{}"),
    (5, PROPOSAL_BYTES32, 1_760_000_400, 1, "是的", "{}"),
    (6, PROPOSAL_BYTES32, 1_760_000_500, 2, "too fast", '{"note":"ü"}'),
    (7, PROPOSAL_BYTES32, 1_760_000_600, 1, "", "{}"),
    (1, PROPOSAL_BYTES32, 1_760_000_700, 1, "changed my mind: yes", "{}"),
    (8, PROPOSAL_BYTES32, 1_760_000_800, 1, "yes", "{}"),
    (9, PROPOSAL_BYTES32, 1_760_000_900, 2, "not a member", "{}"),
    (1, PROPOSAL_STRING, 1_760_001_000, 1, "string id: yes", "{}"),
    (2, PROPOSAL_STRING, 1_760_001_100, 2, "string id: no ✗", '{"k":[1,2]}'),
    (3, PROPOSAL_STRING, 1_760_001_200, 3, "string id: abstain", "{}"),
]


def sign(index, proposal, timestamp, choice, reason, metadata):
    account = Account.from_key(key(index))
    proposal_type = "bytes32" if proposal.startswith("0x") and len(proposal) == 66 else "string"
    message = {
        "from": account.address,
        "space": SPACE,
        "timestamp": timestamp,
        "proposal": proposal,
        "choice": choice,
        "reason": reason,
        "app": APP,
        "metadata": metadata,
    }
    typed = {
        "types": {"EIP712Domain": DOMAIN_TYPE, "Vote": vote_type(proposal_type)},
        "primaryType": "Vote",
        "domain": DOMAIN,
        "message": message,
    }
    signed = Account.sign_message(encode_typed_data(full_message=typed), account.key)
    signature = "0x" + bytes(signed.signature).hex()
    return {
        "id": "0x" + keccak(bytes(signed.signature)).hex(),
        "proposal_id_type": proposal_type,
        "message": message,
        "signature": signature,
        "address": account.address,
        "digest": "0x" + bytes(signed.message_hash).hex(),
    }


def main():
    out = {
        "generator": f"eth-account {eth_account.__version__}",
        "domain": DOMAIN,
        "space": SPACE,
        "proposals": {"bytes32": PROPOSAL_BYTES32, "string": PROPOSAL_STRING},
        "votes": [sign(*v) for v in VOTES],
    }
    path = pathlib.Path(__file__).resolve().parents[2] / "node/tests/fixtures/snapshot_votes.json"
    path.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(out['votes'])} votes to {path}")


if __name__ == "__main__":
    main()
