"""Key lookups bind their keys as one Postgres array literal: every value must round-trip."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, String, cast, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY

from prefect_journeys.identity.types import array_literal

TRICKY = ['a"b', "back\\slash", "com,ma", "{brace}", " spaced ", "NULL", "", "中文@例え.jp", "'q'"]

# Postgres text cannot hold NUL; everything else must survive.
texts = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)))


def _round_trip(engine: Engine, values: list[str]) -> list[str]:
    unnest = func.unnest(cast(literal(array_literal(values)), ARRAY(String)))
    with engine.connect() as conn:
        return [str(v) for v in conn.execute(select(unnest)).scalars()]


def test_tricky_values_round_trip(pg_engine: Engine) -> None:
    assert _round_trip(pg_engine, TRICKY) == TRICKY


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=st.lists(texts, max_size=8))
def test_any_text_round_trips(pg_engine: Engine, values: list[str]) -> None:
    if not values:
        assert array_literal(values) == "{}"
        return
    assert _round_trip(pg_engine, values) == values
