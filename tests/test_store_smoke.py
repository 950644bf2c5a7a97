from sqlalchemy import Engine, text


def test_schema_creates_all_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        for table in ("customers", "events", "enrollments", "send_intents", "journey_versions"):
            assert conn.execute(text(f"select count(*) from {table}")).scalar_one() == 0
