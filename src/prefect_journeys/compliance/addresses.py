"""Normalised addresses and their hashes (the suppression list stores only hashes)."""

from __future__ import annotations

import hashlib
from typing import Literal

from prefect_journeys.identity.normalize import normalize_email as _email
from prefect_journeys.identity.normalize import normalize_phone as _phone

AddressKind = Literal["email", "phone"]


def normalize_email(address: str) -> str | None:
    """The canonical address (:func:`prefect_journeys.identity.normalize.normalize_email`:
    email-validator's rules, lower-cased), or None when it is not a valid address."""
    return _email(address)


def normalize_phone(number: str, region: str | None = None) -> str | None:
    """E.164 (``+4915112345678``), or None when it cannot be a phone number
    (:func:`prefect_journeys.identity.normalize.normalize_phone`).

    Without ``region`` only numbers written with their country code (``+…``) are accepted.
    A ``whatsapp:`` prefix is ignored. The check is phonenumbers' "possible number" (country code
    and length), not its allocation tables: numbers reserved for fiction and tests (+44 7700 900…)
    pass, as they do at the providers' test endpoints.
    """
    return _phone(number, region)


def kind_of(channel: str) -> AddressKind | None:
    return {"email": "email", "sms": "phone", "whatsapp": "phone"}.get(channel)  # type: ignore[return-value]


def normalize(kind: AddressKind, address: str) -> str | None:
    return normalize_email(address) if kind == "email" else normalize_phone(address)


def address_hash(kind: AddressKind, address: str) -> str:
    """SHA-256 of ``kind:normalised address`` (hex). Unparseable input hashes as given, trimmed."""
    return hash_normalized(kind, normalize(kind, address) or address.strip().lower())


def hash_normalized(kind: AddressKind, value: str) -> str:
    """:func:`address_hash` of an address already normalised (no second parse)."""
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()
