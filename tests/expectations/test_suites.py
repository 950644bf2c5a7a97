"""Suite files: the packaged defaults load, a project's file wins, a broken file is a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prefect_journeys.expectations.runner import SuiteError, load_suite
from prefect_journeys.expectations.suites import DEFAULTS_DIR, get_suite, suite_path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SUITES = ["customers", "events", "audience_email", "audience_sms", "audience_whatsapp"]


def write_suite(root: Path, name: str, body: object) -> Path:
    folder = root / "expectations"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(body if isinstance(body, str) else json.dumps(body, indent=2))
    return path


@pytest.mark.parametrize("name", DEFAULT_SUITES)
def test_packaged_default_suites_load(name: str) -> None:
    suite = load_suite(name)
    assert suite.name == name
    assert len(suite.expectations) >= 2
    assert get_suite(name).path == DEFAULTS_DIR / f"{name}.json"


@pytest.mark.parametrize("name", DEFAULT_SUITES)
def test_example_project_ships_the_same_suites(name: str) -> None:
    """The top-level expectations/ folder users edit starts as the packaged defaults."""
    example = json.loads((REPO / "expectations" / f"{name}.json").read_text())
    default = json.loads((DEFAULTS_DIR / f"{name}.json").read_text())
    assert example["expectations"] == default["expectations"]
    assert suite_path(name, REPO) == REPO / "expectations" / f"{name}.json"


def test_project_file_wins_over_the_default(tmp_path: Path) -> None:
    write_suite(
        tmp_path,
        "customers",
        {
            "expectations": [
                {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}
            ]
        },
    )
    assert len(load_suite("customers", tmp_path).expectations) == 1
    assert len(load_suite("customers").expectations) > 1
    other = tmp_path / "elsewhere"
    other.mkdir()
    assert get_suite("customers", other).path == DEFAULTS_DIR / "customers.json"


def test_an_edited_file_is_read_again(tmp_path: Path) -> None:
    one = {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}
    path = write_suite(tmp_path, "customers", {"expectations": [one]})
    assert len(load_suite("customers", tmp_path).expectations) == 1
    path.write_text(json.dumps({"expectations": [one, {**one, "kwargs": {"column": "email"}}]}))
    assert len(load_suite("customers", tmp_path).expectations) == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"expectations": [\n  {"type": "x",}\n]}', r"customers.json:2:\d+: not valid JSON"),
        ("[1, 2]", "a suite is a JSON object"),
        ({"expectations": {"a": 1}}, "'expectations' must be a list"),
        ({"expectations": [{"kwargs": {}}]}, "expectation 1: an expectation is an object"),
        (
            {
                "expectations": [
                    {"type": "expect_column_values_to_be_purple", "kwargs": {"column": "id"}}
                ]
            },
            "expectation 1: unknown expectation type 'expect_column_values_to_be_purple'",
        ),
        (
            {"expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {}}]},
            r"expectation 1 \(expect_column_values_to_not_be_null\): column: field required",
        ),
        (
            {
                "expectations": [
                    {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "e"}}
                ]
            },
            "missing argument 'regex'",
        ),
        (
            {
                "expectations": [
                    {
                        "type": "expect_column_values_to_match_regex",
                        "kwargs": {"column": "e", "regex": "([a-z"},
                    }
                ]
            },
            r"invalid regex '\(\[a-z'",
        ),
        (
            {
                "expectations": [
                    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "e"}}
                ]
            },
            "missing argument 'value_set'",
        ),
        (
            {
                "expectations": [
                    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
                    {
                        "type": "expect_column_values_to_be_between",
                        "kwargs": {"column": "a", "min_value": "zz"},
                    },
                ]
            },
            r"expectation 2 \(expect_column_values_to_be_between\): min_value",
        ),
        (
            {
                "expectations": [
                    {
                        "type": "expect_column_values_to_not_be_null",
                        "kwargs": {"column": "id"},
                        "meta": {"counts_toward_threshold": "no"},
                    }
                ]
            },
            "meta.counts_toward_threshold must be true or false",
        ),
    ],
)
def test_broken_suite_names_file_and_problem(tmp_path: Path, body: object, message: str) -> None:
    path = write_suite(tmp_path, "customers", body)
    with pytest.raises(SuiteError, match=message) as info:
        load_suite("customers", tmp_path)
    text = str(info.value)
    assert text.startswith(str(path))
    assert "\n" not in text and "Traceback" not in text


def test_unknown_suite_and_bad_names(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="no suite 'audience_pigeon'"):
        load_suite("audience_pigeon", tmp_path)
    with pytest.raises(SuiteError, match="lower-case letters"):
        load_suite("../secrets", tmp_path)


def test_suite_records_parameters_and_meta(tmp_path: Path) -> None:
    customers = get_suite("customers")
    assert customers.parameters == {"iana_timezones"}
    assert get_suite("events").parameters == {"latest_event_time"}
    email = get_suite("audience_email")
    not_counted = [s for s in email.specs if not s.counts_toward_threshold]
    assert [s.column for s in not_counted] == ["suppressed"]
    assert {"name", "amount", "currency"} <= get_suite("events").columns  # row_condition column
