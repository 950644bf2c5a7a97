"""Every fault kind, seen from the SDKs' side, and whether the provider kept the message."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error

import pytest
import requests
from python_http_client.exceptions import (
    InternalServerError,
    ServiceUnavailableError,
    TooManyRequestsError,
)
from sendgrid import SendGridAPIClient
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from prefect_journeys.emulators import EmulatorControl, Emulators
from prefect_journeys.emulators.sdk import RebasedTwilioHttpClient, sendgrid_client, twilio_client

from .mail import mail

SENDER = "+12025550100"


def _sms(client: Client, to: str = "+12025550123") -> str:
    return str(client.messages.create(to=to, from_=SENDER, body="x").sid)


# -- rate limits --------------------------------------------------------------------------------
def test_sendgrid_rate_limit_headers_and_body(sg: SendGridAPIClient, ctl: EmulatorControl) -> None:
    ctl.inject("sendgrid", "rate_limit", retry_after=5)
    with pytest.raises(TooManyRequestsError) as caught:
        sg.send(mail())
    headers = caught.value.headers
    assert headers["X-RateLimit-Remaining"] == "0"
    assert int(headers["X-RateLimit-Limit"]) > 0
    assert 4 <= int(headers["X-RateLimit-Reset"]) - time.time() <= 6
    assert json.loads(caught.value.body) == {
        "errors": [{"field": None, "message": "too many requests"}]
    }
    assert ctl.sendgrid_messages() == []
    assert sg.send(mail()).status_code == 202  # count=1: used up
    assert ctl.requests_seen()["sendgrid"] | {"lookups": 0} == {
        "total": 2,
        "accepted": 1,
        "rejected": 0,
        "faulted": 1,
        "lookups": 0,
    }


def test_twilio_rate_limit_code_and_retry_after(tw: Client, ctl: EmulatorControl) -> None:
    ctl.inject("twilio", "rate_limit", retry_after=3)
    with pytest.raises(TwilioRestException) as caught:
        _sms(tw)
    assert (caught.value.status, caught.value.code) == (429, 20429)
    http_client = tw.http_client
    assert isinstance(http_client, RebasedTwilioHttpClient)
    last = http_client.last_response()
    assert last is not None and last.headers["Retry-After"] == "3"
    assert json.loads(last.text) == {
        "code": 20429,
        "message": "Too Many Requests",
        "more_info": "https://www.twilio.com/docs/errors/20429",
        "status": 429,
    }
    assert ctl.twilio_messages() == []


# -- server errors ------------------------------------------------------------------------------
def test_sendgrid_server_errors(sg: SendGridAPIClient, ctl: EmulatorControl) -> None:
    ctl.inject("sendgrid", "server_error")
    ctl.inject("sendgrid", "server_error", status=503)
    with pytest.raises(InternalServerError):
        sg.send(mail())
    with pytest.raises(ServiceUnavailableError) as caught:
        sg.send(mail())
    assert json.loads(caught.value.body)["errors"][0]["message"] == "Service Unavailable"
    assert ctl.sendgrid_messages() == []


def test_twilio_server_errors(tw: Client, ctl: EmulatorControl) -> None:
    ctl.inject("twilio", "server_error", count=2, status=503)
    for _ in range(2):
        with pytest.raises(TwilioRestException) as caught:
            _sms(tw)
        assert (caught.value.status, caught.value.code) == (503, 20503)
    _sms(tw)
    assert len(ctl.twilio_messages()) == 1


# -- delay: the provider has it although the client timed out -----------------------------------
def test_twilio_delay_times_out_but_is_recorded(emu: Emulators, ctl: EmulatorControl) -> None:
    impatient = twilio_client(emu.url, emu.twilio_account_sid, emu.twilio_auth_token, timeout=0.2)
    ctl.inject("twilio", "delay", delay=0.8)
    with pytest.raises(requests.exceptions.ReadTimeout):
        _sms(impatient)
    [recorded] = ctl.twilio_messages()
    assert recorded["to"] == "+12025550123"


def test_sendgrid_delay_times_out_but_is_recorded(emu: Emulators, ctl: EmulatorControl) -> None:
    impatient = sendgrid_client(emu.url, emu.sendgrid_api_key, timeout=0.2)
    ctl.inject("sendgrid", "delay", delay=0.8)
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        impatient.send(mail(3))
    assert len(ctl.sendgrid_messages()) == 3


def test_delay_answers_normally_to_a_patient_client(
    sg: SendGridAPIClient, ctl: EmulatorControl
) -> None:
    ctl.inject("sendgrid", "delay", delay=0.3)
    started = time.monotonic()
    assert sg.send(mail()).status_code == 202
    assert time.monotonic() - started >= 0.3


# -- dropped connections ------------------------------------------------------------------------
def test_twilio_drop_after_accept(tw: Client, ctl: EmulatorControl) -> None:
    ctl.inject("twilio", "drop_after_accept")
    with pytest.raises(requests.exceptions.ConnectionError):
        _sms(tw)
    assert len(ctl.twilio_messages()) == 1
    _sms(tw)  # the next request, on a new connection, is fine
    assert len(ctl.twilio_messages()) == 2


def test_twilio_drop_before_accept(tw: Client, ctl: EmulatorControl) -> None:
    ctl.inject("twilio", "drop_before_accept")
    with pytest.raises(requests.exceptions.ConnectionError):
        _sms(tw)
    assert ctl.twilio_messages() == []
    assert ctl.requests_seen()["twilio"]["faulted"] == 1


def test_sendgrid_drops(sg: SendGridAPIClient, ctl: EmulatorControl) -> None:
    dropped = (http.client.RemoteDisconnected, ConnectionError, urllib.error.URLError)
    ctl.inject("sendgrid", "drop_after_accept")
    with pytest.raises(dropped):
        sg.send(mail(2))
    assert len(ctl.sendgrid_messages()) == 2  # after accept: kept
    ctl.inject("sendgrid", "drop_before_accept")
    with pytest.raises(dropped):
        sg.send(mail(2))
    assert len(ctl.sendgrid_messages()) == 2  # before accept: not kept


# -- matching -----------------------------------------------------------------------------------
def test_to_restricts_a_fault_to_one_recipient(tw: Client, ctl: EmulatorControl) -> None:
    ctl.inject("twilio", "server_error", to="whatsapp:+12025550999")
    _sms(tw, "+12025550123")  # another recipient: untouched, and the fault is not used up
    with pytest.raises(TwilioRestException):
        _sms(tw, "+12025550999")
    _sms(tw, "+12025550999")
    assert ctl.faults() == []


def test_to_matches_sendgrid_recipients_case_insensitively(
    sg: SendGridAPIClient, ctl: EmulatorControl
) -> None:
    ctl.inject("sendgrid", "rate_limit", to="USER7@example.com")
    assert sg.send(mail(5)).status_code == 202
    with pytest.raises(TooManyRequestsError):
        sg.send(mail(8))


def test_probability_is_seeded_and_lasts_until_cleared(tw: Client, ctl: EmulatorControl) -> None:
    def pattern() -> list[bool]:
        outcomes = []
        for _ in range(30):
            try:
                _sms(tw)
                outcomes.append(True)
            except TwilioRestException:
                outcomes.append(False)
        return outcomes

    ctl.inject("twilio", "server_error", probability=0.5, seed=11)
    first = pattern()
    assert 5 <= first.count(False) <= 25
    ctl.reset()
    ctl.inject("twilio", "server_error", probability=0.5, seed=11)
    assert pattern() == first
    assert len(ctl.twilio_messages()) == first.count(True)
    ctl.clear_faults()
    assert all(pattern())


@pytest.mark.parametrize(
    ("provider", "kind", "options", "fragment"),
    [
        ("sendgrid", "opted_out", {}, "sendgrid faults are"),
        ("twilio", "meltdown", {}, "twilio faults are"),
        ("mailchimp", "delay", {}, "provider must be"),
        ("twilio", "server_error", {"status": 418}, "500, 502, 503, 504"),
        ("twilio", "rate_limit", {"status": 503}, "server_error faults only"),
        ("twilio", "delay", {"probability": 1.5}, "probability"),
        ("twilio", "delay", {"count": 0}, "count"),
    ],
)
def test_nonsense_injections_are_refused(
    ctl: EmulatorControl, provider: str, kind: str, options: dict[str, object], fragment: str
) -> None:
    with pytest.raises(ValueError, match=fragment):
        ctl.inject(provider, kind, **options)  # type: ignore[arg-type]
    assert ctl.faults() == []
