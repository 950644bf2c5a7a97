"""What the SendGrid emulator keeps of an accepted email, and what becomes of it.

One :class:`SgMessage` per recipient (to, cc and bcc, in that order within each personalization).
Its ``message_id`` is ``<X-Message-Id>.<n>``, ``n`` counting the request's recipients from 0 in
that order: with one recipient per personalization, ``n`` is the personalization's index. The
same string is the ``sg_message_id`` of its events and the ``msg_id`` of the Email Activity API.

Fates are deterministic: an address whose local part starts with ``bounce`` bounces (5.1.1);
the others are delivered, and opened / clicked when a hash of the message id falls under the
open / click rate (clicks are among the opens, so the click share is ``min(click, open)``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class SgMessage:
    message_id: str
    x_message_id: str
    personalization: int
    to: str
    from_email: str
    subject: str | None
    template_id: str | None
    categories: tuple[str, ...]
    custom_args: dict[str, str]
    headers: dict[str, str]
    sandbox: bool
    accepted_at: float  # epoch seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "x_message_id": self.x_message_id,
            "personalization": self.personalization,
            "to": self.to,
            "from_email": self.from_email,
            "custom_args": self.custom_args,
            "subject": self.subject,
            "template_id": self.template_id,
            "categories": list(self.categories),
            "headers": self.headers,
            "sandbox": self.sandbox,
        }


def bounces(address: str) -> bool:
    return address.split("@", 1)[0].lower().startswith("bounce")


def _share(message_id: str) -> float:
    digest = hashlib.blake2b(message_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def fate(message: SgMessage, open_rate: float, click_rate: float) -> tuple[bool, bool, bool]:
    """(bounced, opened, clicked) of one message under the given rates."""
    if bounces(message.to):
        return True, False, False
    share = _share(message.message_id)
    return False, share < open_rate, share < min(open_rate, click_rate)


def records_for(
    body: dict[str, Any], x_message_id: str, sandbox: bool, accepted_at: float
) -> list[SgMessage]:
    """The per-recipient records of a validated request body."""
    top_args = body.get("custom_args") or {}
    top_headers = body.get("headers") or {}
    top_subject = body.get("subject")
    template_id = body.get("template_id")
    categories = tuple(body.get("categories") or ())
    top_from = body["from"]["email"]
    out: list[SgMessage] = []
    for index, item in enumerate(body["personalizations"]):
        own_args, own_headers, own_from = (
            item.get("custom_args"),
            item.get("headers"),
            item.get("from"),
        )
        custom_args = {**top_args, **own_args} if own_args else top_args
        headers = {**top_headers, **own_headers} if own_headers else top_headers
        subject = item.get("subject") or top_subject
        sender = own_from["email"] if own_from else top_from
        for kind in ("to", "cc", "bcc"):
            for entry in item.get(kind) or ():
                out.append(
                    SgMessage(
                        message_id=f"{x_message_id}.{len(out)}",
                        x_message_id=x_message_id,
                        personalization=index,
                        to=entry["email"],
                        from_email=sender,
                        subject=subject,
                        template_id=template_id,
                        categories=categories,
                        custom_args=custom_args,
                        headers=headers,
                        sandbox=sandbox,
                        accepted_at=accepted_at,
                    )
                )
    return out
