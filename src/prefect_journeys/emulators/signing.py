"""Webhook signatures as the providers make them.

SendGrid signs its Event Webhook with ECDSA P-256 over SHA-256 of ``timestamp + raw body``; the
signature (DER, base64) goes in ``X-Twilio-Email-Event-Webhook-Signature`` and the public key is
published as base64 DER (SubjectPublicKeyInfo). Twilio signs callbacks with HMAC-SHA1 of the URL
followed by the sorted form parameters, keyed by the auth token (``X-Twilio-Signature``); the
Twilio SDK's own ``RequestValidator`` computes it, so the emulator cannot drift from it.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from twilio.request_validator import RequestValidator

SENDGRID_SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"


class EventSigner:
    """A fresh P-256 key per emulator; ``public_key`` is what SendGrid's settings endpoint shows."""

    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_key = base64.b64encode(der).decode("ascii")

    def sign(self, timestamp: str, payload: bytes) -> str:
        signature = self._key.sign(timestamp.encode() + payload, ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(signature).decode("ascii")


class TwilioSigner:
    def __init__(self, auth_token: str) -> None:
        self._validator = RequestValidator(auth_token)

    def sign(self, url: str, params: Mapping[str, str]) -> str:
        return str(self._validator.compute_signature(url, dict(params)))
