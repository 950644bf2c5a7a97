"""The control API and the server's life cycle: reset, settings, concurrency, stopping."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from python_http_client.exceptions import BadRequestsError
from sendgrid import SendGridAPIClient
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from prefect_journeys.emulators import EmulatorControl, Emulators
from prefect_journeys.emulators.sdk import rebase, twilio_client

from .mail import mail

SENDER = "+12025550100"


def test_reset_forgets_records_faults_and_counts(
    sg: SendGridAPIClient, tw: Client, ctl: EmulatorControl
) -> None:
    sg.send(mail(2))
    sid = tw.messages.create(to="+447700900123", from_=SENDER, body="x").sid
    ctl.inject("twilio", "server_error", count=5)
    ctl.reset()
    assert ctl.sendgrid_requests() == [] and ctl.sendgrid_messages() == []
    assert ctl.twilio_messages() == [] and ctl.faults() == []
    assert ctl.requests_seen()["twilio"]["total"] == 0
    assert tw.messages.list() == []
    with pytest.raises(TwilioRestException) as caught:
        tw.messages(sid).fetch()
    assert caught.value.code == 20404
    found = sg.client.messages.get(query_params={"query": 'to_email="user0@example.com"'})
    assert found.body == b'{"messages": []}'
    tw.messages.create(to="+447700900123", from_=SENDER, body="x")  # the fault is gone
    assert len(ctl.twilio_messages()) == 1


def test_a_post_accept_fault_waits_for_a_valid_request(
    sg: SendGridAPIClient, ctl: EmulatorControl
) -> None:
    ctl.inject("sendgrid", "drop_after_accept")
    invalid = mail()
    del invalid["from"]
    with pytest.raises(BadRequestsError):
        sg.send(invalid)  # answered at once: the fault is not used on a rejected request
    assert [f["kind"] for f in ctl.faults()] == ["drop_after_accept"]
    with pytest.raises(OSError):
        sg.send(mail())
    assert ctl.faults() == []


def test_configure_checks_and_reports_settings(ctl: EmulatorControl) -> None:
    settings = ctl.configure(open_rate=0.25, sendgrid_events_url="http://127.0.0.1:9/e")
    assert settings["open_rate"] == 0.25
    assert settings["sendgrid_events_url"] == "http://127.0.0.1:9/e"
    assert ctl.configure(sendgrid_events_url="")["sendgrid_events_url"] is None
    with pytest.raises(ValueError, match="open_rate"):
        ctl.configure(open_rate=1.5)
    with pytest.raises(ValueError, match="callback_delay"):
        ctl.configure(callback_delay=-1)
    with pytest.raises(ValueError, match="http"):
        ctl.configure(sendgrid_events_url="file:///etc/passwd")
    assert ctl.info()["config"]["open_rate"] == 0.25


def test_an_unreachable_emulator_is_a_connection_error() -> None:
    with Emulators() as emu:
        url = emu.url
    with pytest.raises(ConnectionError, match="cannot reach"):
        EmulatorControl(url, timeout=2).requests_seen()


def test_concurrent_clients_are_all_recorded(emu: Emulators, ctl: EmulatorControl) -> None:
    errors: list[BaseException] = []
    sids: list[str] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        tw = twilio_client(emu.url, emu.twilio_account_sid, emu.twilio_auth_token)
        try:
            for i in range(50):
                sid = tw.messages.create(
                    to=f"+4477009{number:02d}{i:03d}", from_=SENDER, body="x"
                ).sid
                with lock:
                    sids.append(sid)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    recorded = ctl.twilio_messages()
    assert len(recorded) == len(set(sids)) == 400
    assert {m["sid"] for m in recorded} == set(sids)
    assert ctl.requests_seen()["twilio"]["accepted"] == 400
    created = [m["date_created"] for m in recorded]
    assert created == sorted(created)  # creation order is record order (date filters rely on it)


def test_stop_closes_kept_alive_connections() -> None:
    emu = Emulators().start()
    tw = twilio_client(emu.url, emu.twilio_account_sid, emu.twilio_auth_token, timeout=5)
    tw.messages.create(to="+447700900123", from_=SENDER, body="x")  # leaves a pooled connection
    emu.stop()
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ConnectionError):
        tw.messages.create(to="+447700900123", from_=SENDER, body="x")
    assert time.monotonic() - started < 2


def test_rebase_moves_only_twilio_hosts() -> None:
    base = "http://127.0.0.1:8025"
    assert (
        rebase("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?To=%2B1", base)
        == "http://127.0.0.1:8025/2010-04-01/Accounts/AC1/Messages.json?To=%2B1"
    )
    assert rebase("https://api.dublin.ie1.twilio.com/x", base + "/prefix/") == (
        "http://127.0.0.1:8025/prefix/x"
    )
    assert rebase("https://example.com/x", base) == "https://example.com/x"
    assert rebase("https://api.twilio.com/x", None) == "https://api.twilio.com/x"
