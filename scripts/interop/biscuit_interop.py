#!/usr/bin/env python3
"""x0 capability tokens through a second biscuit implementation (biscuit-python).

This is the other side of the interop test in node/tests/cli_token.rs. It reads and writes
the same files as `x0 token` (docs/TOKENS.md) and speaks the same datalog format
(core/src/auth/token.rs), but builds, signs, parses and authorizes through the PyPI
package `biscuit-python` (import name `biscuit_auth`), installed by scripts/setup into
target/interop-venv.

Be clear about what that proves: biscuit-python 0.4.0 is Python bindings over the Rust
crate biscuit-auth (its wheel embeds biscuit-auth 6.0.0, the version x0 uses). It checks
our file formats, key encodings, datalog text and policy against a separately built and
separately driven copy of the library, not against an independent implementation of
biscuit's cryptography or datalog engine.

    verify  --root HEX --token FILE --holder PEERID --operation OP [--topic T] --at-unix-s N
            runs the node's policy; prints `granted` (exit 0) or `refused: ...` (exit 1)
    mint    --key FILE --member PEERID [--rights LIST] --expires-unix-s N [--out FILE]
            a member credential in x0's format, signed with an `x0 token keygen` key file
    access  --root HEX --credential FILE --until-unix-s N [--out FILE]
            appends x0's access block to a credential

Exit 2 for unusable arguments.
"""

import argparse
import sys
from datetime import datetime, timezone

try:
    import biscuit_auth as biscuit
except ImportError as error:  # pragma: no cover - the message is the point
    sys.stderr.write(
        f"error: biscuit-python is not installed ({error}); run scripts/setup, which "
        "creates target/interop-venv with biscuit-python==0.4.0\n"
    )
    sys.exit(2)

# Each operation travels on one topic (x0_actors::auth::token::Operation::topic).
TOPICS = {
    "propose": "/x0/1/proposals",
    "sign": "/x0/1/shares",
    "vote": "/x0/1/ballots",
    "charter-update": "/x0/1/proposals",
}

POLICY = "allow if member($m), holder($m), operation($op), topic($t), right($op, $t)"

# biscuit-python 0.4.0 cannot raise the authorizer's wall-clock limit (1 ms by default in
# biscuit-auth 6); on a loaded machine a run can hit it. Such a run is repeated, never
# read as a refusal.
TIMEOUT_RETRIES = 5


def fail(message):
    sys.stderr.write(f"error: {message}\n")
    sys.exit(2)


def when(unix_s):
    return datetime.fromtimestamp(unix_s, tz=timezone.utc)


def read_line(path, flag):
    try:
        with open(path, encoding="ascii") as f:
            text = f.read().strip()
    except OSError as error:
        fail(f"{flag} {path}: cannot read: {error}")
    except UnicodeDecodeError:
        fail(f"{flag} {path}: not text")
    if not text:
        fail(f"{flag} {path}: empty")
    return text


def public_key(text):
    text = text.strip()
    if text.startswith("ed25519/"):
        text = text[len("ed25519/"):]
    try:
        bytes.fromhex(text)
        # The x0 form is bare hex; the bindings read biscuit's prefixed form.
        return biscuit.PublicKey("ed25519/" + text)
    except Exception as error:  # noqa: BLE001 - the library raises plain exceptions
        fail(f"--root: not an Ed25519 public key in hex ({error})")


def private_key(path):
    text = read_line(path, "--key")
    try:
        # The x0 file is bare hex; the bindings read biscuit's prefixed form.
        return biscuit.PrivateKey("ed25519-private/" + text)
    except Exception as error:  # noqa: BLE001
        fail(f"--key {path}: not an Ed25519 private key in hex ({error})")


def load_token(path, root, flag="--token"):
    text = read_line(path, flag)
    return biscuit.Biscuit.from_base64(text, root)


def write_token(token, out):
    text = token.to_base64()
    if out is None:
        print(text)
        return
    with open(out, "w", encoding="ascii") as f:
        f.write(text + "\n")


def verify(args):
    root = public_key(args.root)
    topic = args.topic or TOPICS.get(args.operation)
    if topic is None:
        fail(f"--operation {args.operation}: unknown; use {', '.join(TOPICS)}")
    try:
        token = load_token(args.token, root)
    except Exception as error:  # noqa: BLE001 - signature or format
        print(f"refused: token does not verify against the root key: {error}")
        return 1
    last = None
    for _ in range(TIMEOUT_RETRIES):
        builder = biscuit.AuthorizerBuilder(
            "holder({h}); operation({op}); topic({t}); time({now}); " + POLICY + ";",
            {
                "h": args.holder,
                "op": args.operation,
                "t": topic,
                "now": when(args.at_unix_s),
            },
        )
        authorizer = builder.build(token)
        try:
            authorizer.authorize()
            print(f"granted {args.operation} on {topic} to {args.holder}")
            return 0
        except Exception as error:  # noqa: BLE001 - AuthorizationError and limits
            last = error
            if "imeout" not in str(error):
                break
    print(f"refused: {last}")
    return 1


def mint(args):
    key = private_key(args.key)
    rights = [r.strip() for r in args.rights.split(",") if r.strip()]
    for right in rights:
        if right not in TOPICS:
            fail(f"--rights: unknown right `{right}`; use {', '.join(TOPICS)}")
    expires = when(args.expires_unix_s)
    builder = biscuit.BiscuitBuilder(
        "member({m}); expires({e}); check if time($t), $t < {e};",
        {"m": args.member, "e": expires},
    )
    for right in rights:
        builder.add_code("right({op}, {t});", {"op": right, "t": TOPICS[right]})
    write_token(builder.build(key), args.out)
    return 0


def access(args):
    root = public_key(args.root)
    try:
        credential = load_token(args.credential, root, "--credential")
    except Exception as error:  # noqa: BLE001
        fail(f"--credential {args.credential}: does not verify against --root: {error}")
    until = when(args.until_unix_s)
    block = biscuit.BlockBuilder(
        "access({a}); check if time($t), $t < {a};", {"a": until}
    )
    write_token(credential.append(block), args.out)
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    v = commands.add_parser("verify", help="run the node's policy on a token")
    v.add_argument("--root", required=True, help="authority public key hex")
    v.add_argument("--token", required=True, help="token file (biscuit base64)")
    v.add_argument("--holder", required=True, help="PeerId the request comes from")
    v.add_argument("--operation", required=True, choices=sorted(TOPICS))
    v.add_argument("--topic", help="default: the operation's topic")
    v.add_argument("--at-unix-s", type=int, required=True)
    v.set_defaults(run=verify)

    m = commands.add_parser("mint", help="mint a credential in x0's format")
    m.add_argument("--key", required=True, help="private key file from `x0 token keygen`")
    m.add_argument("--member", required=True, help="member PeerId (base58)")
    m.add_argument("--rights", default=",".join(TOPICS), help="comma-separated operations")
    m.add_argument("--expires-unix-s", type=int, required=True)
    m.add_argument("--out")
    m.set_defaults(run=mint)

    a = commands.add_parser("access", help="append x0's access block to a credential")
    a.add_argument("--root", required=True, help="authority public key hex")
    a.add_argument("--credential", required=True)
    a.add_argument("--until-unix-s", type=int, required=True)
    a.add_argument("--out")
    a.set_defaults(run=access)

    args = parser.parse_args()
    sys.exit(args.run(args))


if __name__ == "__main__":
    main()
