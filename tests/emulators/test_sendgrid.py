"""SendGrid Mail Send, Email Activity and the public-key endpoint, through the real SDK."""

from __future__ import annotations

import copy
import json
import re
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from python_http_client.exceptions import (
    BadRequestsError,
    HTTPError,
    PayloadTooLargeError,
    UnauthorizedError,
)
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Category, CustomArg, Mail

from prefect_journeys.emulators import EmulatorControl, Emulators
from prefect_journeys.emulators.sdk import sendgrid_client

from .mail import TEMPLATE, mail

X_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")


def _errors(exc: HTTPError) -> list[dict[str, Any]]:
    return list(json.loads(exc.body)["errors"])


def test_sdk_mail_helper_is_accepted_and_recorded(
    sg: SendGridAPIClient, ctl: EmulatorControl
) -> None:
    message = Mail(
        from_email="news@example.com",
        to_emails="ada@example.com",
        subject="Hello",
        plain_text_content="Hi Ada",
        html_content="<p>Hi Ada</p>",
    )
    message.category = [Category("welcome"), Category("welcome:intro")]
    message.custom_arg = CustomArg("intent_id", "42")
    response = sg.send(message)
    assert response.status_code == 202
    assert response.body in (b"", "")
    x_message_id = response.headers["X-Message-Id"]
    assert X_MESSAGE_ID.match(x_message_id)
    [request] = ctl.sendgrid_requests()
    assert request["_message_id"] == x_message_id
    assert request["personalizations"][0]["to"] == [{"email": "ada@example.com"}]
    [recorded] = ctl.sendgrid_messages()
    assert recorded["message_id"] == f"{x_message_id}.0"
    assert recorded["to"] == "ada@example.com"
    assert recorded["custom_args"] == {"intent_id": "42"}
    assert sorted(recorded["categories"]) == ["welcome", "welcome:intro"]  # the SDK prepends
    assert recorded["subject"] == "Hello"
    assert recorded["sandbox"] is False
    assert ctl.requests_seen()["sendgrid"] == {
        "total": 1,
        "accepted": 1,
        "rejected": 0,
        "faulted": 0,
        "lookups": 0,
    }


def test_batch_of_1000_personalizations_is_one_message_per_recipient(
    sg: SendGridAPIClient, ctl: EmulatorControl
) -> None:
    response = sg.send(mail(1000))
    assert response.status_code == 202
    x_message_id = response.headers["X-Message-Id"]
    messages = ctl.sendgrid_messages()
    assert len(messages) == 1000
    assert [m["message_id"] for m in messages] == [f"{x_message_id}.{i}" for i in range(1000)]
    assert [m["custom_args"]["intent_id"] for m in messages] == [str(i) for i in range(1000)]
    assert messages[999]["to"] == "user999@example.com"


def test_1001_personalizations_are_rejected_whole(
    sg: SendGridAPIClient, ctl: EmulatorControl
) -> None:
    with pytest.raises(BadRequestsError) as caught:
        sg.send(mail(1001))
    assert caught.value.status_code == 400
    errors = _errors(caught.value)
    assert {e["field"] for e in errors} == {"personalizations"}
    texts = " ".join(e["message"] for e in errors)
    assert "more than 1000 personalizations" in texts
    assert "total number of recipients must be no more than 1000" in texts
    assert ctl.sendgrid_messages() == []
    assert ctl.requests_seen()["sendgrid"]["rejected"] == 1


def test_recipient_total_counts_cc_and_bcc(sg: SendGridAPIClient, ctl: EmulatorControl) -> None:
    body = mail(999)
    body["personalizations"][0]["cc"] = [{"email": "cc@example.com"}]
    body["personalizations"][1]["bcc"] = [{"email": "bcc@example.com"}]
    with pytest.raises(BadRequestsError) as caught:
        sg.send(body)
    [error] = _errors(caught.value)
    assert error["field"] == "personalizations"
    assert "total number of recipients" in error["message"]
    body["personalizations"].pop()
    assert sg.send(body).status_code == 202
    assert len(ctl.sendgrid_messages()) == 1000  # 998 to + 1 cc + 1 bcc


def test_wrong_api_key_is_401_with_sendgrids_body(emu: Emulators, ctl: EmulatorControl) -> None:
    with pytest.raises(UnauthorizedError) as caught:
        sendgrid_client(emu.url, "SG.wrong").send(mail())
    assert json.loads(caught.value.body) == {
        "errors": [
            {
                "field": None,
                "message": "The provided authorization grant is invalid, expired, or revoked",
                "help": None,
            }
        ]
    }
    request = urllib.request.Request(
        f"{emu.url}/v3/mail/send", data=json.dumps(mail()).encode(), method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(request, timeout=5)
    assert missing.value.code == 401
    assert ctl.sendgrid_messages() == []
    assert ctl.requests_seen()["sendgrid"]["rejected"] == 2


Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = body
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[int(last) if last.isdigit() else last] = value

    return mutate


def _drop(key: str) -> Mutation:
    return lambda body: body.pop(key)


INVALID: list[tuple[str, Mutation, str, str]] = [
    ("no personalizations", _drop("personalizations"), "personalizations", "is required"),
    ("empty personalizations", _set("personalizations", []), "personalizations", "at least one"),
    ("empty to", _set("personalizations.0.to", []), "personalizations.0.to", "to array"),
    (
        "bad to",
        _set("personalizations.0.to.0.email", "nope"),
        "personalizations.0.to.0.email",
        "valid",
    ),
    ("no from", _drop("from"), "from", "from object"),
    ("bad from", _set("from.email", "news@"), "from.email", "valid address"),
    ("no subject", _drop("subject"), "subject", "subject is required"),
    ("empty subject", _set("subject", ""), "subject", "at least one character"),
    ("no content", _drop("content"), "content", "content parameter is required"),
    ("empty value", _set("content.0.value", ""), "content.0.value", "at least one character"),
    ("no type", _set("content.1.type", ""), "content.1.type", "content type"),
    (
        "html first",
        _set(
            "content",
            [{"type": "text/html", "value": "<p>x</p>"}, {"type": "text/plain", "value": "x"}],
        ),
        "content",
        "text/plain content must be first",
    ),
    ("bad template", _set("template_id", "welcome"), "template_id", "valid GUID"),
    (
        "template data without dynamic template",
        _set("personalizations.0.dynamic_template_data", {"name": "Ada"}),
        "personalizations.0.dynamic_template_data",
        "dynamic template",
    ),
    ("11 categories", _set("categories", [f"c{i}" for i in range(11)]), "categories", "maximum"),
    ("long category", _set("categories", ["x" * 256]), "categories.0", "255"),
    (
        "integer custom arg",
        _set("personalizations.0.custom_args.intent_id", 7),
        "personalizations.0.custom_args.intent_id",
        "Expected: string, given: integer",
    ),
    ("top custom arg", _set("custom_args", {"n": 1.5}), "custom_args.n", "given: number"),
    (
        "reserved x-sg-id",
        _set("personalizations.0.headers", {"x-sg-id": "1"}),
        "personalizations.0.headers.x-sg-id",
        "reserved",
    ),
    (
        "reserved Content-Type",
        _set("personalizations.0.headers", {"Content-Type": "text/plain"}),
        "personalizations.0.headers.Content-Type",
        "reserved",
    ),
    ("reserved From", _set("headers", {"From": "x@example.com"}), "headers.From", "reserved"),
    (
        "duplicate cc",
        _set("personalizations.0.cc", [{"email": "USER0@example.com"}]),
        "personalizations.0.cc",
        "unique",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "field", "fragment"),
    [case[1:] for case in INVALID],
    ids=[case[0] for case in INVALID],
)
def test_each_validation_error(
    sg: SendGridAPIClient, ctl: EmulatorControl, mutate: Mutation, field: str, fragment: str
) -> None:
    body = mail(2)
    mutate(body)
    with pytest.raises(BadRequestsError) as caught:
        sg.send(body)
    errors = _errors(caught.value)
    assert [e["field"] for e in errors] == [field], errors
    assert fragment in errors[0]["message"]
    assert errors[0]["help"].startswith("http")
    assert ctl.sendgrid_requests() == []


def test_every_problem_is_listed_at_once(sg: SendGridAPIClient) -> None:
    body = mail(3)
    body["personalizations"][1]["to"][0]["email"] = "broken"
    body["personalizations"][2]["custom_args"]["intent_id"] = 3
    del body["from"]
    body["categories"] = ["x"] * 11
    with pytest.raises(BadRequestsError) as caught:
        sg.send(body)
    fields = [e["field"] for e in _errors(caught.value)]
    assert fields == [
        "personalizations.1.to.0.email",
        "personalizations.2.custom_args.intent_id",
        "from",
        "categories",
    ]


def test_valid_variants_are_accepted(sg: SendGridAPIClient, ctl: EmulatorControl) -> None:
    dynamic = mail(2, template_id=TEMPLATE)
    del dynamic["subject"], dynamic["content"]
    for item in dynamic["personalizations"]:
        item["dynamic_template_data"] = {"first_name": "Ada", "items": [1, 2]}
    per_personalization_subject = mail(2)
    del per_personalization_subject["subject"]
    for item in per_personalization_subject["personalizations"]:
        item["subject"] = "Own subject"
        item["headers"] = {"List-Unsubscribe": "<https://example.com/u>"}
    for body in (dynamic, per_personalization_subject):
        assert sg.send(body).status_code == 202
    messages = ctl.sendgrid_messages()
    assert [m["template_id"] for m in messages] == [TEMPLATE, TEMPLATE, None, None]
    assert messages[2]["subject"] == "Own subject"
    assert messages[3]["headers"] == {"List-Unsubscribe": "<https://example.com/u>"}


def test_body_over_30_mb_is_413(sg: SendGridAPIClient, ctl: EmulatorControl) -> None:
    body = mail()
    body["content"][0]["value"] = "x" * (30 * 1024 * 1024 + 1)
    with pytest.raises(PayloadTooLargeError) as caught:
        sg.send(body)
    assert caught.value.status_code == 413
    assert ctl.sendgrid_requests() == []


def test_sandbox_mode_is_200_and_recorded_as_sandbox(
    sg: SendGridAPIClient, ctl: EmulatorControl
) -> None:
    body = mail(2, mail_settings={"sandbox_mode": {"enable": True}})
    response = sg.send(body)
    assert response.status_code == 200
    messages = ctl.sendgrid_messages()
    assert [m["sandbox"] for m in messages] == [True, True]
    found = sg.client.messages.get(query_params={"query": 'to_email="user0@example.com"'})
    assert json.loads(found.body) == {"messages": []}  # sandbox mail never reaches activity


def test_email_activity_finds_intents_by_custom_arg(
    sg: SendGridAPIClient, ctl: EmulatorControl
) -> None:
    sg.send(mail(5))
    bounce = mail(1)
    bounce["personalizations"][0] = {
        "to": [{"email": "bounce.me@example.com"}],
        "custom_args": {"intent_id": "77"},
    }
    sg.send(bounce)
    ids = {m["custom_args"]["intent_id"]: m["message_id"] for m in ctl.sendgrid_messages()}
    query = " OR ".join(f"unique_args['intent_id']=\"{i}\"" for i in ("1", "3", "77", "999"))
    response = sg.client.messages.get(query_params={"query": query, "limit": 10})
    assert response.status_code == 200
    found = json.loads(response.body)["messages"]
    assert sorted(m["msg_id"] for m in found) == sorted([ids["1"], ids["3"], ids["77"]])
    by_id = {m["msg_id"]: m for m in found}
    assert by_id[ids["77"]]["status"] == "not_delivered"
    assert by_id[ids["1"]]["status"] == "delivered"
    assert by_id[ids["1"]]["to_email"] == "user1@example.com"
    assert set(by_id[ids["1"]]) == {
        "msg_id",
        "from_email",
        "subject",
        "to_email",
        "status",
        "opens_count",
        "clicks_count",
        "last_event_time",
    }
    limited = sg.client.messages.get(query_params={"query": query, "limit": 2})
    assert len(json.loads(limited.body)["messages"]) == 2
    x_message_id = ids["0"].split(".")[0]
    batch = sg.client.messages.get(
        query_params={"query": f'msg_id LIKE "{x_message_id}%"', "limit": 100}
    )
    assert len(json.loads(batch.body)["messages"]) == 5
    with pytest.raises(BadRequestsError):
        sg.client.messages.get(query_params={"query": "intent_id=5"})
    with pytest.raises(BadRequestsError):
        sg.client.messages.get(query_params={"query": query, "limit": 1001})
    assert ctl.requests_seen()["sendgrid"]["lookups"] == 5


def test_signed_webhook_settings_give_the_public_key(sg: SendGridAPIClient, emu: Emulators) -> None:
    response = sg.client.user.webhooks.event.settings.signed.get()
    assert json.loads(response.body) == {"enabled": True, "public_key": emu.sendgrid_public_key}


def test_recorded_request_is_the_body_as_sent(sg: SendGridAPIClient, ctl: EmulatorControl) -> None:
    body = mail(1)
    sent = copy.deepcopy(body)
    sg.send(body)
    [request] = ctl.sendgrid_requests()
    request.pop("_message_id")
    assert request == sent
