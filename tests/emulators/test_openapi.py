"""Requests the emulators accept and the answers they give, against the providers' OpenAPI.

(Every test's accepted requests are also checked when its ``emu`` fixture ends, see conftest.)
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import (
    Asm,
    Attachment,
    BatchId,
    ClickTracking,
    Mail,
    MailSettings,
    ReplyTo,
    SendAt,
    TrackingSettings,
)
from twilio.rest import Client

from prefect_journeys.emulators import EmulatorControl, Emulators
from prefect_journeys.emulators.sdk import RebasedTwilioHttpClient, sendgrid_client

from .mail import TEMPLATE, mail
from .openapi import Specs, errors_of, missing_reason, specs

SENDER = "+12025550100"


@pytest.fixture
def described() -> Specs:
    reason = missing_reason()
    if reason:
        pytest.skip(f"{reason}; they come with the workspace's shared folder")
    found = specs()
    assert found is not None
    return found


def _error_body(call: Any) -> Any:
    with pytest.raises(HTTPError) as caught:
        call()
    return json.loads(caught.value.body)


def test_the_validators_are_not_vacuous(described: Specs) -> None:
    assert errors_of(described.mail_send, {"personalizations": "all", "from": {}})
    assert errors_of(described.twilio_create_form, {"Body": "no To"})
    assert errors_of(described.twilio_message, {"sid": "XX1", "status": "lost"})
    assert errors_of(described.sendgrid_error, {"errors": [{"field": None}]})


def test_accepted_sendgrid_requests_fit_mail_send(
    described: Specs, sg: SendGridAPIClient, ctl: EmulatorControl
) -> None:
    rich = Mail(
        from_email=("news@example.com", "News"),
        to_emails=["ada@example.com", "bob@example.com"],
        subject="Spring offers",
        plain_text_content="Hello",
        html_content="<p>Hello</p>",
        is_multiple=True,
    )
    rich.reply_to = ReplyTo("help@example.com")
    rich.attachment = Attachment(file_content="aGVsbG8=", file_name="a.txt", file_type="text/plain")
    rich.asm = Asm(group_id=42)
    rich.batch_id = BatchId("batch-1")
    rich.send_at = SendAt(2_000_000_000)
    rich.tracking_settings = TrackingSettings(click_tracking=ClickTracking(True, False))
    rich.mail_settings = MailSettings()
    dynamic = mail(3, template_id=TEMPLATE)
    del dynamic["subject"], dynamic["content"]
    for item in dynamic["personalizations"]:
        item["dynamic_template_data"] = {"first_name": "Ada", "total": 12.5}
    listed = mail(2, reply_to_list=[{"email": "a@example.com"}, {"email": "b@example.com"}])
    listed["personalizations"][0]["cc"] = [{"email": "cc@example.com", "name": "CC"}]
    listed["personalizations"][1]["headers"] = {"X-Campaign": "spring"}
    for body in (rich, dynamic, listed, mail(1000), mail(1, categories=["a", "b"])):
        assert sg.send(body).status_code == 202
    requests = ctl.sendgrid_requests()
    assert len(requests) == 5
    assert described.accepted_request_errors(requests, []) == []


def test_sendgrid_answers_fit_their_schemas(
    described: Specs, emu: Emulators, sg: SendGridAPIClient, ctl: EmulatorControl
) -> None:
    invalid = mail(2)
    del invalid["from"]
    invalid["personalizations"][1]["to"] = []
    bodies = [
        _error_body(lambda: sg.send(invalid)),
        _error_body(lambda: sendgrid_client(emu.url, "SG.nope").send(mail())),
    ]
    ctl.inject("sendgrid", "rate_limit")
    ctl.inject("sendgrid", "server_error", count=2)
    bodies += [_error_body(lambda: sg.send(mail())) for _ in range(3)]
    for body in bodies:
        assert errors_of(described.sendgrid_error, body) == []
    sg.send(mail(3))
    query = "unique_args['intent_id']=\"1\" OR unique_args['intent_id']=\"2\""
    activity = json.loads(sg.client.messages.get(query_params={"query": query}).body)
    assert len(activity["messages"]) == 2
    assert errors_of(described.activity, activity) == []
    key = json.loads(sg.client.user.webhooks.event.settings.signed.get().body)
    assert errors_of(described.public_key, key) == []


def test_twilio_requests_and_answers_fit_their_schemas(
    described: Specs, tw: Client, ctl: EmulatorControl
) -> None:
    http_client = tw.http_client
    assert isinstance(http_client, RebasedTwilioHttpClient)

    def last_json() -> Any:
        response = http_client.last_response()
        assert response is not None
        return json.loads(response.text)

    created = []
    for kwargs in (
        {"to": "+447700900123", "from_": SENDER, "body": "SMS"},
        {"to": "whatsapp:+447700900123", "from_": "whatsapp:+14155238886", "body": "WA"},
        {"to": "+447700900124", "messaging_service_sid": "MG" + "c" * 32, "body": "MG"},
        {
            "to": "+447700900125",
            "from_": SENDER,
            "media_url": ["https://example.com/a.png", "https://example.com/b.png"],
            "status_callback": "http://127.0.0.1:9/status",
            "validity_period": 600,
            "smart_encoded": True,
        },
    ):
        created.append(tw.messages.create(**kwargs).sid)
        assert errors_of(described.twilio_message, last_json()) == []
    forms = ctl.twilio_requests()
    assert forms[3]["MediaUrl"] == ["https://example.com/a.png", "https://example.com/b.png"]
    assert described.accepted_request_errors([], forms) == []
    tw.messages.page(page_size=2)
    listing = last_json()
    assert len(listing["messages"]) == 2 and listing["next_page_uri"]
    assert errors_of(described.twilio_list, listing) == []
    tw.messages(created[2]).fetch()
    assert errors_of(described.twilio_fetch, last_json()) == []
