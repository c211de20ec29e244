"""Operator API tokens: ``sf_<token id>_<secret>``; only a hash of the secret is kept.

The secret is 256 random bits, so a plain SHA-256 digest is enough to store (no slow
KDF is needed for high-entropy secrets); comparison is constant-time.
"""

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

TOKEN_PREFIX = "sf_"  # noqa: S105 - a format prefix, not a secret
_TOKEN = re.compile(r"sf_([0-9a-f]{32})_([A-Za-z0-9_-]{43})")


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedToken:
    """A freshly made token: the full text is shown once, the hash is stored."""

    token_id: str
    text: str
    secret_hash: str


def issue_token() -> IssuedToken:
    """Make a new random token."""
    token_id = secrets.token_hex(16)
    secret = secrets.token_urlsafe(32)
    return IssuedToken(
        token_id=token_id,
        text=f"{TOKEN_PREFIX}{token_id}_{secret}",
        secret_hash=hash_secret(secret),
    )


def hash_secret(secret: str) -> str:
    """Return the stored form of a token secret."""
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def split_token(text: str) -> tuple[str, str] | None:
    """Return (token id, secret) of a well-formed token text, else None."""
    match = _TOKEN.fullmatch(text)
    if match is None:
        return None
    return match.group(1), match.group(2)


def secret_matches(secret: str, stored_hash: str) -> bool:
    """Compare a presented secret with a stored hash in constant time."""
    return hmac.compare_digest(hash_secret(secret), stored_hash)
