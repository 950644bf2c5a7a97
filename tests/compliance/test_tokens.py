"""Unsubscribe tokens: opaque, bound to one intent, rejected when tampered with."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefect_journeys.compliance import tokens


def test_token_round_trip_and_tampering() -> None:
    key = b"k" * 32
    token = tokens.make_token(key, 123456789)
    assert tokens.read_token(key, token) == 123456789
    assert "123456789" not in token  # opaque: no readable id
    body, mac = token.split(".")
    assert tokens.read_token(b"other-key", token) is None
    assert tokens.read_token(key, f"{body}.{mac[:-1]}A") is None
    other = tokens.make_token(key, 2).split(".")[0]
    assert tokens.read_token(key, f"{other}.{mac}") is None  # a mac is bound to its intent
    assert tokens.read_token(key, "garbage") is None
    assert tokens.read_token(key, "") is None


def test_unsubscribe_url_keeps_existing_query() -> None:
    key = b"secret"
    url = tokens.unsubscribe_url("https://x.example/u?list=news", key, 7)
    assert url.startswith("https://x.example/u?list=news&token=")
    token = url.split("token=")[1]
    assert tokens.read_token(key, token) == 7


def test_signing_key_from_env_or_private_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(tokens.KEY_ENV, raising=False)
    first = tokens.signing_key(tmp_path)
    assert first == tokens.signing_key(tmp_path)  # stable across calls
    path = tmp_path / ".journeys" / "signing.key"
    assert path.stat().st_mode & 0o077 == 0  # readable by the owner only
    monkeypatch.setenv(tokens.KEY_ENV, "from-env")
    assert tokens.signing_key(tmp_path) == b"from-env"
