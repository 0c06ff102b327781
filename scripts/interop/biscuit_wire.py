#!/usr/bin/env python3
"""An independent reading of x0 tokens: biscuit's wire format and signature chain, without
any biscuit library.

biscuit-python (biscuit_interop.py) wraps the same Rust crate x0 uses, so it cannot catch
a fault in that crate's encoding or signatures. This script shares no code with it: it
reads the protobuf container by hand from biscuit's schema.proto (the wire format of the
biscuit specification, version 3), rebuilds each block's signed payload as the
specification describes it, and checks every Ed25519 signature with the `cryptography`
package (OpenSSL). It does not evaluate datalog; it decodes the facts of each block and
reports those of x0's format (member, right, expires, access, revocation_list, revoked).

    biscuit_wire.py --root HEX --token FILE

prints one JSON document: {"signatures": "valid" | "<why not>", "revocation_ids": [...],
"blocks": [{"version": n, "facts": [[name, term, ...], ...]}, ...]} and exits 0 when the
chain verifies against the root key, 1 when it does not, 2 for unusable arguments.
"""

import argparse
import base64
import json
import struct
import sys
from datetime import datetime, timezone

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
except ImportError as error:  # pragma: no cover
    sys.stderr.write(
        f"error: the cryptography package is missing ({error}); run scripts/setup\n"
    )
    sys.exit(2)

# The specification's default symbol table; a block's own symbols start at 1024.
DEFAULT_SYMBOLS = [
    "read", "write", "resource", "operation", "right", "time", "role", "owner",
    "tenant", "namespace", "user", "team", "service", "admin", "email", "group",
    "member", "ip_address", "client", "client_ip", "domain", "path", "version",
    "cluster", "node", "hostname", "nonce", "query",
]
SYMBOL_OFFSET = 1024
ED25519 = 0


class Malformed(Exception):
    pass


# ---- protobuf wire format (varint, 64-bit, length-delimited, 32-bit) ----

def varint(data, at):
    value, shift = 0, 0
    while True:
        if at >= len(data) or shift > 63:
            raise Malformed("truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def fields(data):
    """(field number, wire type, value) of a message; value is int or bytes."""
    at = 0
    out = []
    while at < len(data):
        key, at = varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = varint(data, at)
        elif wire == 1:
            value, at = data[at:at + 8], at + 8
        elif wire == 2:
            length, at = varint(data, at)
            if at + length > len(data):
                raise Malformed("truncated field")
            value, at = data[at:at + length], at + length
        elif wire == 5:
            value, at = data[at:at + 4], at + 4
        else:
            raise Malformed(f"wire type {wire}")
        out.append((number, wire, value))
    return out


def one(message, number, default=None):
    values = [v for n, _, v in fields(message) if n == number]
    if not values:
        if default is None:
            raise Malformed(f"field {number} missing")
        return default
    return values[-1]


def many(message, number):
    return [v for n, _, v in fields(message) if n == number]


def signed(value):
    return value - (1 << 64) if value >= 1 << 63 else value


# ---- the container and its signatures ----

def public_key(message):
    algorithm = one(message, 1, 0)
    key = one(message, 2)
    if algorithm != ED25519:
        raise Malformed(f"key algorithm {algorithm} is not Ed25519")
    return algorithm, bytes(key)


def signed_block(message):
    if many(message, 4):
        raise Malformed("third-party blocks are not part of x0's format")
    return {
        "data": bytes(one(message, 1)),
        "next_key": public_key(one(message, 2)),
        "signature": bytes(one(message, 3)),
        "version": one(message, 5, 0),
    }


def payload(block, previous_signature):
    """The bytes a block's signature covers (specification, "Signatures")."""
    algorithm, key = block["next_key"]
    version = block["version"]
    if version == 0:
        return block["data"] + struct.pack("<i", algorithm) + key
    if version == 1:
        out = b"\0BLOCK\0\0VERSION\0" + struct.pack("<I", version)
        out += b"\0PAYLOAD\0" + block["data"]
        out += b"\0ALGORITHM\0" + struct.pack("<i", algorithm)
        out += b"\0NEXTKEY\0" + key
        if previous_signature is not None:
            out += b"\0PREVSIG\0" + previous_signature
        return out
    raise Malformed(f"signature version {version}")


def check_chain(token, root):
    """'valid' or why not."""
    authority = signed_block(one(token, 2))
    blocks = [authority] + [signed_block(m) for m in many(token, 3)]
    key = root
    previous = None
    for index, block in enumerate(blocks):
        try:
            Ed25519PublicKey.from_public_bytes(key).verify(
                block["signature"], payload(block, previous)
            )
        except InvalidSignature:
            return f"block {index}: signature does not verify"
        except ValueError as error:
            return f"block {index}: {error}"
        key = block["next_key"][1]
        previous = block["signature"]
    proof = one(token, 4)
    secret = many(proof, 1)
    if not secret:
        return "sealed tokens are not part of x0's format"
    derived = Ed25519PrivateKey.from_private_bytes(bytes(secret[-1])).public_key()
    if derived.public_bytes(Encoding.Raw, PublicFormat.Raw) != key:
        return "proof: the next secret does not match the last block's key"
    return "valid"


# ---- facts ----

def term(message, symbols):
    number, _, value = fields(message)[-1]
    if number == 2:
        return signed(value)
    if number == 3:
        return symbol(value, symbols)
    if number == 4:
        moment = datetime.fromtimestamp(value, tz=timezone.utc)
        return {"date": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "unix_s": value}
    if number == 5:
        return {"hex": bytes(value).hex()}
    if number == 6:
        return bool(value)
    if number == 7:
        return sorted((term(t, symbols) for t in many(value, 1)), key=json.dumps)
    raise Malformed(f"term kind {number} in a fact")


def symbol(index, symbols):
    if index < SYMBOL_OFFSET:
        if index >= len(DEFAULT_SYMBOLS):
            raise Malformed(f"default symbol {index}")
        return DEFAULT_SYMBOLS[index]
    if index - SYMBOL_OFFSET >= len(symbols):
        raise Malformed(f"symbol {index}")
    return symbols[index - SYMBOL_OFFSET]


def read_blocks(token):
    symbols = []
    out = []
    for signed_message in [one(token, 2)] + many(token, 3):
        block = one(signed_message, 1)
        symbols.extend(bytes(s).decode("utf-8") for s in many(block, 1))
        facts = []
        for fact in many(block, 4):
            predicate = one(fact, 1)
            name = symbol(one(predicate, 1), symbols)
            facts.append([name] + [term(t, symbols) for t in many(predicate, 2)])
        out.append(
            {
                "version": one(block, 3, 0),
                "facts": facts,
                "checks": len(many(block, 6)),
            }
        )
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", required=True, help="authority public key hex")
    parser.add_argument("--token", required=True, help="token file (biscuit base64)")
    args = parser.parse_args()
    try:
        root = bytes.fromhex(args.root.strip().removeprefix("ed25519/"))
        if len(root) != 32:
            raise ValueError("not 32 bytes")
    except ValueError as error:
        sys.stderr.write(f"error: --root: not an Ed25519 public key in hex ({error})\n")
        sys.exit(2)
    try:
        with open(args.token, encoding="ascii") as f:
            text = f.read().strip()
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (OSError, ValueError) as error:
        sys.stderr.write(f"error: --token {args.token}: {error}\n")
        sys.exit(2)
    try:
        verdict = check_chain(data, root)
        token = {
            "signatures": verdict,
            "revocation_ids": [
                bytes(one(m, 3)).hex() for m in [one(data, 2)] + many(data, 3)
            ],
            "blocks": read_blocks(data),
        }
    except (Malformed, UnicodeDecodeError) as error:
        token = {"signatures": f"malformed: {error}"}
    print(json.dumps(token, indent=1))
    sys.exit(0 if token["signatures"] == "valid" else 1)


if __name__ == "__main__":
    main()
