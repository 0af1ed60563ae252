"""Signed answers: the central signs every answer a workstation acts on, bound to the request.

Scheme ``tideover-answer/1``. The workstation sends a fresh random nonce with each request, in the
``Tideover-Nonce`` header. The central answers with two headers:

- ``Tideover-Request-Digest``: the SHA-256 (hex) of the request body it read, or ``-`` when it
  refused the request before reading the body (401, 413);
- ``Tideover-Signature``: base64 of a detached Ed25519 signature, by the central's signing key,
  over the bytes of ``answer_message`` (UTF-8)::

      tideover-answer/1\\n{status}\\n{METHOD} {target}\\n{nonce}\\n{request digest}\\n{response digest}

  ``target`` is the API path and raw query as the central received them (``/v1/pull?after=42``);
  the response digest is the SHA-256 (hex) of the exact response body bytes. (Signing a short
  message over two SHA-256 digests rather than the body itself: Ed25519 would hash a megabyte
  page twice with SHA-512, which costs several times one SHA-256 pass.)

The workstation checks the signature against the key it pinned at enrollment, with its own nonce,
method, path, query and body digest. So an answer cannot be forged without the central's key, nor
replayed: a page signed for another cursor, a push answer signed for another batch or an answer
to an earlier request all carry another target, digest or nonce. An answer that fails the check
counts as no answer. The body is hashed as sent (no re-encoding); each side hashes the request
and the response once and makes or checks one Ed25519 signature per request.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import TideoverError

ANSWER_FORMAT = "tideover-answer/1"
NONCE_HEADER = "Tideover-Nonce"
DIGEST_HEADER = "Tideover-Request-Digest"
SIGNATURE_HEADER = "Tideover-Signature"
NOT_READ = "-"  # the request digest of an answer given before the central read the request body
_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class UnsignedAnswer(TideoverError):
    """An answer not signed by the central this workstation enrolled with: it counts as no answer."""

    kind = "unsigned_answer"


def new_nonce() -> str:
    """A fresh request nonce (144 random bits, URL-safe base64)."""
    return secrets.token_urlsafe(18)


def valid_nonce(nonce: str | None) -> str:
    """``nonce`` if it has the nonce form, else the empty string (which no workstation sends)."""
    return nonce if nonce and _NONCE.match(nonce) else ""


def request_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def answer_message(status: int, method: str, target: str, nonce: str, digest: str, body: bytes) -> bytes:
    """The exact bytes the central signs for one answer (``body``: the response body as sent)."""
    return (f"{ANSWER_FORMAT}\n{int(status)}\n{method.upper()} {target}\n{nonce}\n{digest}\n"
            f"{hashlib.sha256(body).hexdigest()}").encode()


def sign_answer(key: Ed25519PrivateKey, status: int, method: str, target: str, nonce: str, digest: str,
                body: bytes) -> str:
    return base64.b64encode(key.sign(answer_message(status, method, target, nonce, digest, body))).decode()


def public_key(text: str) -> Ed25519PublicKey:
    """The central's Ed25519 public key from its base64 text (as pinned at enrollment)."""
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except ValueError:
        raise UnsignedAnswer("The central key pinned on this workstation is damaged; an admin must enroll "
                             "the workstation again.") from None


def verify_answer(key: Ed25519PublicKey, signature: str | None, status: int, method: str, target: str,
                  nonce: str, digest: str, body: bytes) -> None:
    """Return if ``signature`` is the central's over this answer to this request; else UnsignedAnswer."""
    if not signature:
        raise UnsignedAnswer("The answer carries no signature of the central.")
    try:
        key.verify(base64.b64decode(signature, validate=True),
                   answer_message(status, method, target, nonce, digest, body))
    except (InvalidSignature, ValueError):
        raise UnsignedAnswer("The answer's signature is not the central's, or it was made for another "
                             "request.") from None
