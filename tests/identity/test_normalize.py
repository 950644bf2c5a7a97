"""Normalisation: the fast paths give exactly the full parse's answer (property-tested)."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

from prefect_journeys.compliance.addresses import address_hash
from prefect_journeys.compliance.addresses import normalize_email as compliance_email
from prefect_journeys.identity.normalize import (
    _fast_email,
    _fast_phone,
    normalize_email,
    normalize_phone,
    slow_normalize_email,
    slow_normalize_phone,
)
from prefect_journeys.simulation.population import uk_fiction_phone, us_fiction_phone

# Pieces near the fast path's edges: odd atext, dots, Unicode, IDNA labels, special-use names.
LOCAL_CHARS = "abcXYZ019._+-!#$%&'*/=?^`{|}~\"é ü@"
LABELS = st.one_of(
    st.text(alphabet="abzAZ09-", min_size=1, max_size=8),
    st.text(alphabet="abz09", min_size=1, max_size=8),
    st.sampled_from(["xn--bcher-kva", "a--b", "-a", "a-", "ab", "Example", "mÜnchen", "1"]),
    st.text(alphabet="a", min_size=60, max_size=66),
)
TLDS = st.sampled_from(
    [
        "com",
        "org",
        "COM",
        "example",
        "test",
        "local",
        "localhost",
        "invalid",
        "onion",
        "arpa",
        "1",
        "c",
        "123",
        "xn--p1ai",
        "co",
        "a-b",
        "ünï",
    ]
)


@st.composite
def emails(draw: st.DrawFn) -> str:
    alphabet = draw(st.sampled_from(["abcXYZ019._+-", "ab._-", LOCAL_CHARS]))
    local = draw(st.text(alphabet=alphabet, min_size=0, max_size=70))
    labels = draw(st.lists(LABELS, min_size=0, max_size=4))
    pad = draw(st.sampled_from(["", " ", "\t"]))
    return pad + local + "@" + ".".join([*labels, draw(TLDS)]) + pad


@settings(max_examples=1200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(emails())
def test_fast_email_agrees_with_email_validator(value: str) -> None:
    fast = _fast_email(value.strip())
    if fast is not None:
        assert fast == slow_normalize_email(value.strip())
    assert normalize_email(value) == slow_normalize_email(value.strip())


@settings(max_examples=800, deadline=None)
@given(st.text(max_size=40))
def test_any_text_normalises_like_the_full_check(value: str) -> None:
    assert normalize_email(value) == (slow_normalize_email(value.strip()) if value else None)
    assert normalize_phone(value) == (
        slow_normalize_phone(value.strip().removeprefix("whatsapp:")) if value else None
    )


def test_valid_addresses_of_the_simulation_and_tests() -> None:
    for domain in ("example.com", "example.org", "example.net", "example.co.uk", "shop.example"):
        assert normalize_email(f" Ann.Lee+News@{domain.upper()} ") == f"ann.lee+news@{domain}"
    assert normalize_email("Ünï@Exämple.com") == "ünï@exämple.com"  # the slow path, lower-cased
    for bad in ("a@test", "a@x.localhost", "a..b@example.com", "no-at.example.com", "a@b", ""):
        assert normalize_email(bad) is None, bad
    assert normalize_email(None) is None


@st.composite
def e164ish(draw: st.DrawFn) -> str:
    code = draw(st.sampled_from(sorted(COUNTRY_CODE_TO_REGION_CODE)))
    national = draw(st.text(alphabet="0123456789", min_size=0, max_size=16))
    return f"+{code}{national}"


@settings(max_examples=1200, deadline=None)
@given(e164ish())
def test_fast_phone_agrees_with_phonenumbers(value: str) -> None:
    fast = _fast_phone(value)
    if fast is not None:
        assert fast == slow_normalize_phone(value)
    assert normalize_phone(value) == slow_normalize_phone(value)


def test_fast_phone_every_calling_code_length_and_first_digit() -> None:
    """Exhaustive over the metadata: no calling code where the fast path answers differently."""
    rng = random.Random(4)
    decided = 0
    for code in sorted(COUNTRY_CODE_TO_REGION_CODE):
        for length in range(1, 16):
            for first in "0123456789":
                rest = "".join(rng.choice("0123456789") for _ in range(length - 1))
                value = f"+{code}{first}{rest}"
                fast = _fast_phone(value)
                if fast is not None:
                    decided += 1
                    assert fast == slow_normalize_phone(value), value
    assert decided > 5000  # the fast path does cover most well-formed numbers


def test_phones_of_the_simulation_and_regions() -> None:
    assert normalize_phone(uk_fiction_phone(123)) == "+447700900123"
    assert normalize_phone(us_fiction_phone("415", 7)) == "+14155550107"
    assert normalize_phone("whatsapp:+44 7700 900123") == "+447700900123"
    assert normalize_phone("07700 900123", "gb") == "+447700900123"
    assert normalize_phone("07700 900123") is None  # no country code, no region
    assert normalize_phone("030 1234567", "DE") == "+49301234567"
    assert normalize_phone("+4407700900123") == "+447700900123"  # national prefix dropped
    assert normalize_phone("call me") is None and normalize_phone(None) is None


@pytest.mark.parametrize("written", ["ann@example.com", " Ann@Example.COM "])
def test_suppression_hashes_of_normalised_addresses_are_unchanged(written: str) -> None:
    expected = hashlib.sha256(b"email:ann@example.com").hexdigest()
    assert address_hash("email", written) == expected
    assert compliance_email(written) == normalize_email(written) == "ann@example.com"
