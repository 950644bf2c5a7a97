"""What the Twilio emulator keeps of an accepted message, and its resource JSON.

Messages go out at once: ``date_sent`` is ``date_created``. The status starts as ``queued`` (or
``accepted`` with a Messaging Service) and becomes final ``callback_delay`` seconds later (the delay
in force when the message was created): ``delivered``, or ``undelivered`` with error 30003 for a
number ending in ``0000`` (documented fixture: such numbers are "unreachable").
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prefect_journeys.emulators.common import rfc2822

API_VERSION = "2010-04-01"
POOL_NUMBER = "+15005550006"  # the sender a Messaging Service "assigns"
UNREACHABLE_SUFFIX = "0000"
UNREACHABLE_CODE = 30003


@dataclass(slots=True)
class TwilioMessage:
    sid: str
    account_sid: str
    to: str
    from_: str  # as sent, or the pool number when only a Messaging Service was given
    from_given: str | None
    messaging_service_sid: str | None
    body: str
    media_urls: list[str]
    status_callback: str | None
    created: datetime  # aware UTC
    created_epoch: int  # whole seconds, for date filters
    final_at: float  # time.monotonic() when the final status is reached
    num_segments: int

    @property
    def initial_status(self) -> str:
        return "accepted" if self.messaging_service_sid else "queued"

    @property
    def final_status(self) -> str:
        return "undelivered" if self.to.endswith(UNREACHABLE_SUFFIX) else "delivered"

    def status(self) -> str:
        return self.final_status if time.monotonic() >= self.final_at else self.initial_status

    def uri(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}.json"

    def resource(self, *, just_created: bool = False) -> dict[str, Any]:
        status = self.initial_status if just_created else self.status()
        created = rfc2822(self.created)
        uri = self.uri()
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": created,
            "date_sent": None if just_created else created,
            "date_updated": created,
            "direction": "outbound-api",
            "error_code": UNREACHABLE_CODE if status == "undelivered" else None,
            "error_message": None,
            "from": self.from_given if just_created else self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": str(len(self.media_urls)),
            "num_segments": str(self.num_segments),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": status,
            "subresource_uris": {"media": uri.removesuffix(".json") + "/Media.json"},
            "to": self.to,
            "uri": uri,
        }

    def as_record(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "to": self.to,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "body": self.body,
            "media_urls": list(self.media_urls),
            "status": self.status(),
            "status_callback": self.status_callback,
            "num_segments": self.num_segments,
            "date_created": self.created.isoformat(),
        }
