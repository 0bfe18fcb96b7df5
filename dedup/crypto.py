"""Encryption at rest of origin credentials (Fernet, keyed by settings.ORIGIN_CREDENTIALS_KEY).

Production refuses to run without the key. Development and tests derive one from SECRET_KEY so the
embedded defaults work with no configuration.
"""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def _key():
    key = settings.ORIGIN_CREDENTIALS_KEY
    if key:
        return key.encode() if isinstance(key, str) else key
    if settings.IS_PRODUCTION:
        raise ImproperlyConfigured("Set ORIGIN_CREDENTIALS_KEY (a Fernet key) to store origin credentials.")
    digest = hashlib.sha256(b"agentcache-origin-credentials:" + settings.SECRET_KEY.encode()).digest()
    return base64.urlsafe_b64encode(digest)


def encrypt(plaintext):
    return Fernet(_key()).encrypt(plaintext.encode()).decode()


def decrypt(token):
    try:
        return Fernet(_key()).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured("Origin credentials cannot be decrypted with ORIGIN_CREDENTIALS_KEY.") from exc
