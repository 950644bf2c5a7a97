"""Canonical email addresses and phone numbers: the values identities, suppressions and sends use.

Email: what ``email-validator`` accepts with ``check_deliverability=False`` (no DNS) and its
defaults otherwise: a dot-atom or internationalised local part (no quoted local parts, no IP
literals), a domain with at least one dot that is not a special-use name (``.test``,
``.localhost``, ``.invalid``, ``.local``, ``.onion``, ``.arpa``). The reserved example domains
(``example.com``/``.org``/``.net``) and made-up TLDs such as ``shop.example`` are valid. The
canonical form is the validator's normalised address (Unicode NFC, IDNA domain in Unicode),
trimmed and lower-cased as a whole.

Phone: E.164 from ``phonenumbers`` with a default region for numbers written without ``+``; the
check is "possible number" (country code and length), not the allocation tables, so numbers
reserved for fiction and tests (+44 7700 900…, +1 … 555-01…) pass.

Both have a fast path for the common case (plain ASCII address; a number already in E.164 with a
country calling code whose national prefix cannot apply) that gives exactly the result of the
full parse (property-tested against it); anything else takes the full parse.
"""

from __future__ import annotations

import re
from functools import cache

import phonenumbers
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata

# ----------------------------------------------------------------------------------- email
# A strict subset of what email-validator accepts unchanged (up to case): an ASCII dot-atom
# local part of common characters, ASCII hostname labels that are not IDNA ("xx--"), a TLD of
# letters. Lengths and special-use domains are checked separately.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_FAST_EMAIL = re.compile(
    rf"[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*@(?:{_LABEL}\.)+[a-z]{{2,63}}",
    re.ASCII | re.IGNORECASE,
)
_SPECIAL = tuple(SPECIAL_USE_DOMAIN_NAMES)
_SPECIAL_SUFFIXES = tuple("." + name for name in SPECIAL_USE_DOMAIN_NAMES)


def _fast_email(value: str) -> str | None:
    """The canonical address if ``value`` (trimmed) is in the fast subset, else None (undecided)."""
    if len(value) > 254 or not _FAST_EMAIL.fullmatch(value):
        return None
    lowered = value.lower()
    local, _, domain = lowered.rpartition("@")
    if len(local) > 64 or len(domain) > 253 or "--" in domain:
        return None
    if domain in _SPECIAL or domain.endswith(_SPECIAL_SUFFIXES):
        return None
    return lowered


def slow_normalize_email(value: str) -> str | None:
    """The full check (email-validator); :func:`normalize_email` without the fast path."""
    try:
        checked = validate_email(value, check_deliverability=False)
    except (EmailNotValidError, ValueError):
        return None
    return checked.normalized.lower()


def normalize_email(raw: str | None) -> str | None:
    """Canonical address (see the module docstring), or None when it is not a valid address."""
    if not raw:
        return None
    value = raw.strip()
    return _fast_email(value) or slow_normalize_email(value)


# ----------------------------------------------------------------------------------- phone
_E164 = re.compile(r"\+[1-9][0-9]{2,16}", re.ASCII)


@cache
def _calling_code(code: int) -> tuple[re.Pattern[str] | None, frozenset[int]] | None:
    """(national prefix pattern, possible national lengths) for a calling code with metadata."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(code)
    if not regions:
        return None
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, regions[0])
    if metadata is None:
        return None
    desc = metadata.general_desc
    if desc is None:
        return None
    prefix = metadata.national_prefix_for_parsing
    lengths = frozenset(desc.possible_length) | frozenset(desc.possible_length_local_only)
    return (re.compile(prefix) if prefix else None), lengths


def _fast_phone(value: str) -> str | None:
    """``value`` if it is E.164 and provably stays as it is through the full parse, else None."""
    if not _E164.fullmatch(value):
        return None
    for size in (1, 2, 3):
        code = int(value[1 : 1 + size])
        if code in COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    info = _calling_code(code)
    if info is None:
        return None
    prefix, lengths = info
    national = value[1 + size :]
    # A leading zero (kept as "Italian leading zero") or a national prefix that the parser might
    # strip change the number: leave those to the full parse.
    if national.startswith("0") or (prefix is not None and prefix.match(national)):
        return None
    return value if len(national) in lengths else None


def slow_normalize_phone(value: str, region: str | None = None) -> str | None:
    """The full parse (phonenumbers); :func:`normalize_phone` without the fast path."""
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalize_phone(raw: str | None, region: str | None = None) -> str | None:
    """E.164 (``+4915112345678``), or None when it cannot be a phone number.

    ``region`` (ISO 3166 code, e.g. ``DE``) is the country of numbers written without ``+``;
    without it only numbers with their country code are accepted. A ``whatsapp:`` prefix is
    ignored.
    """
    if not raw:
        return None
    value = raw.strip().removeprefix("whatsapp:")
    return _fast_phone(value) or slow_normalize_phone(value, region.upper() if region else None)


__all__ = [
    "normalize_email",
    "normalize_phone",
    "slow_normalize_email",
    "slow_normalize_phone",
]
