"""AES-256-GCM with a random 96-bit nonce per message (NIST SP 800-38D)."""

from __future__ import annotations

import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12


class DecryptionError(ValueError):
    """A ciphertext was altered, moved to another context, or its key is gone."""


def new_key() -> bytes:
    """Return a fresh random AES-256 key."""
    return AESGCM.generate_key(bit_length=256)


@lru_cache(maxsize=1024)
def _cipher(key: bytes) -> AESGCM:
    # The key schedule is computed once per data key, not per message.
    return AESGCM(key)


def seal(key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    """Encrypt and authenticate ``plaintext`` bound to ``associated``; return nonce|ciphertext."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + _cipher(key).encrypt(nonce, plaintext, associated)


def unseal(key: bytes, sealed: bytes, associated: bytes) -> bytes:
    """Decrypt what :func:`seal` made with the same key and associated data."""
    if len(sealed) < NONCE_BYTES + 16:
        raise DecryptionError("ciphertext is too short")
    try:
        return _cipher(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated)
    except InvalidTag:
        raise DecryptionError("ciphertext failed authentication") from None
