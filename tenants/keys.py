"""API key material: generation, digest and display prefix. No Django imports."""

import hashlib
import re
import secrets

KEY_PREFIX = "ac_"
KEY_PATTERN = re.compile(r"^ac_[0-9a-f]{64}$")
DISPLAY_PREFIX_LENGTH = 11  # "ac_" + 8 hex: enough to tell keys apart, useless to an attacker


def generate_key():
    return KEY_PREFIX + secrets.token_hex(32)


def digest(plaintext):
    return hashlib.sha256(plaintext.encode()).hexdigest()


def display_prefix(plaintext):
    return plaintext[:DISPLAY_PREFIX_LENGTH]


def looks_like_key(value):
    return bool(value) and KEY_PATTERN.match(value) is not None
