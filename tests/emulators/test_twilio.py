"""The Twilio Messages API through the real twilio SDK: create, list, fetch, errors."""

from __future__ import annotations

import base64
import json
import re
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from prefect_journeys.emulators import EmulatorControl, Emulators
from prefect_journeys.emulators.sdk import twilio_client

SID = re.compile(r"^SM[0-9a-f]{32}$")
SENDER = "+12025550100"
SERVICE = "MG" + "ab" * 16


def _code(call: object) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as caught:
        call()  # type: ignore[operator]
    return caught.value


def test_sms_is_created_queued_and_recorded(
    tw: Client, ctl: EmulatorControl, emu: Emulators
) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    message = tw.messages.create(
        to="+447700900123", from_=SENDER, body="Hello", status_callback="http://127.0.0.1:9/cb"
    )
    assert SID.match(message.sid)
    assert message.status == "queued"
    assert message.account_sid == emu.twilio_account_sid
    assert message.to == "+447700900123"
    assert message.from_ == SENDER
    assert message.num_segments == "1"
    assert message.api_version == "2010-04-01"
    assert message.price is None and message.error_code is None
    assert message.direction == "outbound-api"
    assert (
        message.uri == f"/2010-04-01/Accounts/{emu.twilio_account_sid}/Messages/{message.sid}.json"
    )
    assert message.date_created is not None and message.date_created >= before
    [recorded] = ctl.twilio_messages()
    assert recorded["sid"] == message.sid
    assert recorded["to"] == "+447700900123"
    assert recorded["from"] == SENDER
    assert recorded["body"] == "Hello"
    assert recorded["status_callback"] == "http://127.0.0.1:9/cb"
    assert recorded["account_sid"] == emu.twilio_account_sid
    assert datetime.fromisoformat(recorded["date_created"]) >= before
    assert ctl.twilio_requests() == [
        {
            "To": "+447700900123",
            "From": SENDER,
            "Body": "Hello",
            "StatusCallback": "http://127.0.0.1:9/cb",
        }
    ]


def test_messaging_service_send_is_accepted(tw: Client, ctl: EmulatorControl) -> None:
    message = tw.messages.create(to="+12125550150", messaging_service_sid=SERVICE, body="Hi")
    assert message.status == "accepted"
    assert message.messaging_service_sid == SERVICE
    assert message.from_ is None  # assigned from the service's pool later
    [recorded] = ctl.twilio_messages()
    assert recorded["messaging_service_sid"] == SERVICE
    assert recorded["from"].startswith("+")


def test_whatsapp_is_accepted_and_channels_must_match(tw: Client, ctl: EmulatorControl) -> None:
    message = tw.messages.create(
        to="whatsapp:+447700900123", from_="whatsapp:+14155238886", body="Hola"
    )
    assert message.to == "whatsapp:+447700900123"
    assert ctl.twilio_messages()[0]["to"] == "whatsapp:+447700900123"
    mixed = _code(lambda: tw.messages.create(to="whatsapp:+447700900123", from_=SENDER, body="x"))
    assert mixed.code == 21910
    bad = _code(
        lambda: tw.messages.create(
            to="whatsapp:447700900123", from_="whatsapp:+14155238886", body="x"
        )
    )
    assert bad.code == 21211


@pytest.mark.parametrize(
    ("to", "from_", "body", "code"),
    [
        ("12025550123", SENDER, "x", 21211),  # no +
        ("+1202", SENDER, "x", 21211),  # too short for its plan
        ("+1 202 555 0123", SENDER, "x", 21211),  # not E.164
        ("+12025550123", None, "x", 21603),
        ("+12025550123", "not a number!", "x", 21212),
        ("+12025550123", SENDER, None, 21602),
        ("+12025550123", SENDER, "x" * 1601, 21617),
    ],
)
def test_rejections_carry_twilios_codes(
    tw: Client, ctl: EmulatorControl, to: str, from_: str | None, body: str | None, code: int
) -> None:
    kwargs = {"to": to, "body": body}
    if from_ is not None:
        kwargs["from_"] = from_
    error = _code(lambda: tw.messages.create(**kwargs))
    assert (error.status, error.code) == (400, code)
    assert ctl.twilio_messages() == []
    assert ctl.requests_seen()["twilio"]["rejected"] == 1


def test_1600_characters_and_alphanumeric_senders_are_fine(tw: Client) -> None:
    long = tw.messages.create(to="+12025550123", from_="Journeys", body="x" * 1600)
    assert long.num_segments == str(-(-1600 // 153))
    unicode = tw.messages.create(to="+12025550123", from_=SENDER, body="ü😀" * 36)
    assert unicode.num_segments == "2"  # UCS-2: 108 code units > 70


def test_opted_out_and_invalid_number_faults(tw: Client, ctl: EmulatorControl) -> None:
    ctl.inject("twilio", "opted_out", to="+12025550123")
    ctl.inject("twilio", "invalid_number")
    opted_out = _code(lambda: tw.messages.create(to="+12025550123", from_=SENDER, body="x"))
    assert (opted_out.status, opted_out.code) == (400, 21610)
    assert "unsubscribed" in opted_out.msg
    invalid = _code(lambda: tw.messages.create(to="+12025550124", from_=SENDER, body="x"))
    assert (invalid.status, invalid.code) == (400, 21211)
    assert tw.messages.create(to="+12025550124", from_=SENDER, body="x").status == "queued"
    assert len(ctl.twilio_messages()) == 1


def test_bad_credentials_and_other_accounts(emu: Emulators, tw: Client) -> None:
    wrong = twilio_client(emu.url, emu.twilio_account_sid, "0" * 32, timeout=5)
    error = _code(lambda: wrong.messages.create(to="+12025550123", from_=SENDER, body="x"))
    assert (error.status, error.code) == (401, 20003)
    other = "AC" + "0" * 32
    missing = _code(
        lambda: tw.api.v2010.accounts(other).messages.create(
            to="+12025550123", from_=SENDER, body="x"
        )
    )
    assert (missing.status, missing.code) == (404, 20404)
    unknown = _code(lambda: tw.messages("SM" + "0" * 32).fetch())
    assert (unknown.status, unknown.code) == (404, 20404)


def test_list_and_fetch_through_the_sdk(tw: Client, ctl: EmulatorControl) -> None:
    ada = [tw.messages.create(to="+447700900001", from_=SENDER, body=f"a{i}").sid for i in range(3)]
    tw.messages.create(to="+447700900002", from_=SENDER, body="b")
    listed = tw.messages.list(to="+447700900001")
    assert [m.sid for m in listed] == ada[::-1]  # newest first
    fetched = tw.messages(ada[1]).fetch()
    assert (fetched.sid, fetched.body, fetched.status) == (ada[1], "a1", "delivered")
    assert fetched.date_sent == fetched.date_created
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    recent = tw.messages.list(to="+447700900001", date_sent_after=an_hour_ago)
    assert len(recent) == 3
    assert tw.messages.list(to="+447700900001", date_sent_before=an_hour_ago) == []
    assert tw.messages.list(date_sent_after=datetime.now(UTC) + timedelta(hours=1)) == []
    assert len(tw.messages.list(from_=SENDER)) == 4
    assert ctl.requests_seen()["twilio"]["lookups"] >= 5


def test_paging_follows_next_page_uri(tw: Client, emu: Emulators) -> None:
    sids = [tw.messages.create(to="+447700900003", from_=SENDER, body=str(i)).sid for i in range(7)]
    listed = tw.messages.list(to="+447700900003", page_size=3)
    assert [m.sid for m in listed] == sids[::-1]
    page = tw.messages.page(to="+447700900003", page_size=3)
    assert "PageToken=PA" in page._payload["next_page_uri"]
    assert page._payload["page_size"] == 3
    assert [m.sid for m in page] == sids[::-1][:3]
    # a date-only filter, as Twilio documents it (the SDK sends full date-times)
    today = datetime.now(UTC).date().isoformat()
    request = urllib.request.Request(
        f"{emu.url}/2010-04-01/Accounts/{emu.twilio_account_sid}/Messages.json"
        f"?To=%2B447700900003&DateSent={today}&PageSize=5",
        headers={"Authorization": _basic(emu)},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        payload = json.load(response)
    assert [m["sid"] for m in payload["messages"]] == sids[::-1][:5]
    assert payload["next_page_uri"].startswith(f"/2010-04-01/Accounts/{emu.twilio_account_sid}/")


def _basic(emu: Emulators) -> str:
    pair = f"{emu.twilio_account_sid}:{emu.twilio_auth_token}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def test_numbers_ending_0000_are_undelivered(tw: Client) -> None:
    sid = tw.messages.create(to="+447700900000", from_=SENDER, body="x").sid
    fetched = tw.messages(sid).fetch()
    assert (fetched.status, fetched.error_code) == ("undelivered", 30003)
