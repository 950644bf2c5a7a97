"""Signed webhooks: SendGrid events (ECDSA) and Twilio status callbacks (HMAC), with retries."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qsl

from sendgrid import SendGridAPIClient
from sendgrid.helpers.eventwebhook import EventWebhook
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from prefect_journeys.emulators import EmulatorControl, Emulators

from .mail import mail
from .receiver import Received, Receiver

SENDER = "+12025550100"
SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"


def _verified_events(emu: Emulators, posts: list[Received]) -> list[dict[str, object]]:
    hook = EventWebhook()
    key = hook.convert_public_key_to_ecdsa(emu.sendgrid_public_key)
    events = []
    for post in posts:
        payload = post.body.decode()
        signature, stamp = post.headers[SIGNATURE], post.headers[TIMESTAMP]
        assert hook.verify_signature(payload, signature, stamp, key)
        assert not hook.verify_signature(payload.replace("}", " }", 1), signature, stamp, key)
        assert not hook.verify_signature(payload, signature, str(int(stamp) + 1), key)
        assert abs(int(stamp) - time.time()) < 60
        events.extend(json.loads(payload))
    return events


def test_sendgrid_events_are_signed_and_complete(
    emu: Emulators, sg: SendGridAPIClient, ctl: EmulatorControl, receiver: Receiver
) -> None:
    ctl.configure(sendgrid_events_url=receiver.url("/sg"), open_rate=1.0, click_rate=1.0)
    body = mail(2, categories=["welcome", "welcome:intro"])
    body["personalizations"].append(
        {"to": [{"email": "bounce-7@example.com"}], "custom_args": {"intent_id": "7"}}
    )
    body["custom_args"] = {"journey": "welcome"}
    sg.send(body)
    counts = ctl.flush_callbacks(timeout=5)
    assert counts["drained"] and counts["delivered"] == 1 and counts["failed"] == 0
    events = _verified_events(emu, receiver.wait_for(1))
    ids = {m["to"]: m["message_id"] for m in ctl.sendgrid_messages()}
    by_email: dict[object, list[str]] = {}
    for event in events:
        by_email.setdefault(event["email"], []).append(str(event["event"]))
        assert event["sg_message_id"] == ids[event["email"]]
        assert event["journey"] == "welcome"  # a custom arg, top level
        assert event["category"] == ["welcome", "welcome:intro"]
        assert isinstance(event["timestamp"], int)
        assert str(event["smtp-id"]).startswith("<")
    assert by_email == {
        "user0@example.com": ["processed", "delivered", "open", "click"],
        "user1@example.com": ["processed", "delivered", "open", "click"],
        "bounce-7@example.com": ["processed", "bounce"],
    }
    assert len({e["sg_event_id"] for e in events}) == len(events) == 10
    bounce = next(e for e in events if e["event"] == "bounce")
    assert (bounce["type"], bounce["status"], bounce["intent_id"]) == ("bounce", "5.1.1", "7")
    click = next(e for e in events if e["event"] == "click")
    assert click["url"] == "https://example.com/welcome"  # the first link of the content
    assert {e["intent_id"] for e in events if e["email"] == "user1@example.com"} == {"1"}


def test_open_and_click_rates_are_deterministic_shares(
    emu: Emulators, sg: SendGridAPIClient, ctl: EmulatorControl, receiver: Receiver
) -> None:
    ctl.configure(sendgrid_events_url=receiver.url(), open_rate=0.4, click_rate=0.1)
    sg.send(mail(500))
    ctl.flush_callbacks()
    events = _verified_events(emu, receiver.wait_for(1))
    opened = {e["sg_message_id"] for e in events if e["event"] == "open"}
    clicked = {e["sg_message_id"] for e in events if e["event"] == "click"}
    assert 150 <= len(opened) <= 250 and 25 <= len(clicked) <= 75
    assert clicked <= opened
    assert sum(e["event"] == "delivered" for e in events) == 500
    # the activity API tells the same story
    query = " OR ".join(f"unique_args['intent_id']=\"{i}\"" for i in range(500))
    found = json.loads(sg.client.messages.get(query_params={"query": query, "limit": 1000}).body)
    assert {m["msg_id"] for m in found["messages"] if m["opens_count"]} == opened
    assert {m["msg_id"] for m in found["messages"] if m["clicks_count"]} == clicked


def test_events_go_in_batches_of_at_most_1000(
    emu: Emulators, sg: SendGridAPIClient, ctl: EmulatorControl, receiver: Receiver
) -> None:
    ctl.configure(sendgrid_events_url=receiver.url())
    sg.send(mail(600))  # 1,200 events: processed + delivered
    ctl.flush_callbacks()
    posts = receiver.wait_for(2)
    assert [len(json.loads(p.body)) for p in posts] == [1000, 200]
    assert len(_verified_events(emu, posts)) == 1200


def test_no_events_for_sandbox_or_without_url(
    sg: SendGridAPIClient, ctl: EmulatorControl, receiver: Receiver
) -> None:
    sg.send(mail(2))  # no URL configured yet
    ctl.configure(sendgrid_events_url=receiver.url())
    sg.send(mail(2, mail_settings={"sandbox_mode": {"enable": True}}))
    assert ctl.flush_callbacks()["jobs"] == 0
    assert receiver.received == []


def _validate_twilio(emu: Emulators, post: Received, url: str) -> dict[str, str]:
    params = dict(parse_qsl(post.body.decode()))
    signature = post.headers["X-Twilio-Signature"]
    assert RequestValidator(emu.twilio_auth_token).validate(url, params, signature)
    assert not RequestValidator("f" * 32).validate(url, params, signature)
    assert not RequestValidator(emu.twilio_auth_token).validate(url + "x", params, signature)
    return params


def test_twilio_status_callbacks_are_signed(
    emu: Emulators, tw: Client, ctl: EmulatorControl, receiver: Receiver
) -> None:
    url = receiver.url("/status?intent=1")
    ok = tw.messages.create(to="+447700900123", from_=SENDER, body="x", status_callback=url)
    lost = tw.messages.create(to="+447700900000", from_=SENDER, body="x", status_callback=url)
    tw.messages.create(to="+447700900124", from_=SENDER, body="no callback")
    counts = ctl.flush_callbacks()
    assert (counts["jobs"], counts["delivered"], counts["failed"]) == (2, 4, 0)
    posts = receiver.wait_for(4)
    assert {p.path for p in posts} == {"/status?intent=1"}
    by_sid: dict[str, list[dict[str, str]]] = {}
    for post in posts:
        params = _validate_twilio(emu, post, url)
        by_sid.setdefault(params["MessageSid"], []).append(params)
    assert [p["MessageStatus"] for p in by_sid[ok.sid]] == ["sent", "delivered"]
    assert [p["MessageStatus"] for p in by_sid[lost.sid]] == ["sent", "undelivered"]
    assert by_sid[lost.sid][1]["ErrorCode"] == "30003"
    first = by_sid[ok.sid][0]
    assert first["SmsSid"] == ok.sid and first["SmsStatus"] == "sent"
    assert (first["To"], first["From"]) == ("+447700900123", SENDER)
    assert (first["AccountSid"], first["ApiVersion"]) == (emu.twilio_account_sid, "2010-04-01")


def test_failed_callbacks_are_retried_three_times(
    tw: Client, ctl: EmulatorControl, receiver: Receiver
) -> None:
    receiver.fail_first = 2
    tw.messages.create(to="+447700900123", from_=SENDER, body="x", status_callback=receiver.url())
    counts = ctl.flush_callbacks()
    assert (counts["delivered"], counts["attempt_failures"], counts["failed"]) == (2, 2, 0)
    receiver.fail_first = 100
    tw.messages.create(to="+447700900123", from_=SENDER, body="x", status_callback=receiver.url())
    counts = ctl.flush_callbacks()
    # both POSTs of the second message: 1 attempt + 3 retries each, then given up
    assert (counts["delivered"], counts["attempt_failures"], counts["failed"]) == (2, 10, 2)
    assert counts["drained"]


def test_unreachable_callback_url_counts_as_failed(tw: Client, ctl: EmulatorControl) -> None:
    tw.messages.create(
        to="+447700900123", from_=SENDER, body="x", status_callback="http://127.0.0.1:9/"
    )
    counts = ctl.flush_callbacks()
    assert (counts["failed"], counts["delivered"], counts["pending"]) == (2, 0, 0)


def test_callback_delay_holds_callbacks_and_status(
    tw: Client, ctl: EmulatorControl, receiver: Receiver
) -> None:
    ctl.configure(callback_delay=0.4)
    started = time.monotonic()
    sid = tw.messages.create(
        to="+447700900123", from_=SENDER, body="x", status_callback=receiver.url()
    ).sid
    assert tw.messages(sid).fetch().status == "queued"
    assert receiver.received == []
    assert ctl.flush_callbacks()["delivered"] == 2
    assert time.monotonic() - started >= 0.4
    assert tw.messages(sid).fetch().status == "delivered"


def test_flush_returns_when_the_timeout_is_over(
    tw: Client, ctl: EmulatorControl, receiver: Receiver
) -> None:
    ctl.configure(callback_delay=3)
    tw.messages.create(to="+447700900123", from_=SENDER, body="x", status_callback=receiver.url())
    counts = ctl.flush_callbacks(timeout=0.2)
    assert (counts["drained"], counts["pending"]) == (False, 1)
    ctl.reset()  # a queued job is forgotten by reset
    assert ctl.flush_callbacks(timeout=5)["drained"]
    assert receiver.received == []


def test_inbound_message_is_a_signed_form_post(
    emu: Emulators, ctl: EmulatorControl, receiver: Receiver
) -> None:
    receiver.answer = b"<Response/>"
    url = receiver.url("/inbound")
    answer = ctl.inbound_message(url, from_="+447700900123", to=SENDER, body="STOP")
    assert answer["status"] == 200 and answer["body"] == "<Response/>"
    [post] = receiver.received
    params = _validate_twilio(emu, post, url)
    assert (params["From"], params["To"], params["Body"]) == ("+447700900123", SENDER, "STOP")
    assert params["MessageSid"] == answer["message_sid"]
    assert params["AccountSid"] == emu.twilio_account_sid
