"""The control API under ``/_emulator/`` (JSON in, JSON out), for tests and benchmarks.

=======  =================================  ==================================================
method   path                               what
=======  =================================  ==================================================
GET      /_emulator/info                    url, credentials, public key, settings
GET      /_emulator/stats                   request counts per provider
GET      /_emulator/faults                  the faults in force
POST     /_emulator/faults                  inject one (``provider``, ``kind``, ``count``, …)
DELETE   /_emulator/faults                  clear them
POST     /_emulator/reset                   forget records, faults and queued callbacks
POST     /_emulator/config                  change settings (see ``EmulatorConfig``)
GET      /_emulator/callbacks               callback counters
POST     /_emulator/callbacks/flush         wait for queued callbacks (``timeout``)
GET      /_emulator/sendgrid/requests       accepted Mail Send bodies
GET      /_emulator/sendgrid/messages       accepted recipients
GET      /_emulator/twilio/messages         accepted messages
GET      /_emulator/twilio/requests         the forms of the accepted create requests
POST     /_emulator/twilio/inbound          POST a signed inbound-message webhook to ``url``
=======  =================================  ==================================================
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from prefect_journeys.emulators.callbacks import Delivery, post_once
from prefect_journeys.emulators.common import Reply, Request, json_reply
from prefect_journeys.emulators.config import ConfigError, check_url
from prefect_journeys.emulators.faults import FaultError
from prefect_journeys.emulators.signing import TWILIO_SIGNATURE_HEADER

if TYPE_CHECKING:
    from prefect_journeys.emulators.runtime import Emulators

PREFIX = "/_emulator"
FAULT_OPTIONS = ("status", "retry_after", "delay", "to", "probability", "seed")
MAX_FLUSH_WAIT = 600.0


class _BadInput(ValueError):
    pass


def _body(request: Request) -> dict[str, Any]:
    if not request.body:
        return {}
    try:
        data = json.loads(request.body)
    except ValueError:
        raise _BadInput("the body must be JSON") from None
    if not isinstance(data, dict):
        raise _BadInput("the body must be a JSON object")
    return data


class ControlApi:
    def __init__(self, emulators: Emulators) -> None:
        self._emu = emulators
        self._routes: dict[tuple[str, str], Callable[[dict[str, Any]], Any]] = {
            ("GET", "info"): lambda _: emulators.info(),
            ("GET", "stats"): lambda _: emulators.requests_seen(),
            ("GET", "faults"): lambda _: emulators.faults.describe(),
            ("POST", "faults"): self._inject,
            ("DELETE", "faults"): self._clear_faults,
            ("POST", "reset"): self._reset,
            ("POST", "config"): self._configure,
            ("GET", "callbacks"): lambda _: emulators.callbacks.stats(),
            ("POST", "callbacks/flush"): self._flush,
            ("GET", "sendgrid/requests"): lambda _: emulators.sendgrid.requests(),
            ("GET", "sendgrid/messages"): lambda _: emulators.sendgrid.messages(),
            ("GET", "twilio/messages"): lambda _: emulators.twilio.messages(),
            ("GET", "twilio/requests"): lambda _: emulators.twilio.requests(),
            ("POST", "twilio/inbound"): self._inbound,
        }

    def handle(self, request: Request) -> Reply:
        name = request.path.removeprefix(PREFIX).strip("/")
        route = self._routes.get((request.method, name))
        if route is None:
            return json_reply(
                404, {"error": f"no control endpoint {request.method} {request.path}"}
            )
        try:
            return json_reply(200, route(_body(request)))
        except (_BadInput, FaultError, ConfigError) as exc:
            return json_reply(400, {"error": str(exc)})

    def _clear_faults(self, _: dict[str, Any]) -> dict[str, Any]:
        self._emu.faults.clear()
        return {"cleared": True}

    def _reset(self, _: dict[str, Any]) -> dict[str, Any]:
        self._emu.reset()
        return {"reset": True}

    def _inject(self, data: dict[str, Any]) -> dict[str, Any]:
        unknown = set(data) - {"provider", "kind", "count", *FAULT_OPTIONS}
        if unknown:
            raise _BadInput(f"unknown fault option(s): {', '.join(sorted(unknown))}")
        options = {name: data[name] for name in FAULT_OPTIONS if data.get(name) is not None}
        fault = self._emu.faults.add(
            str(data.get("provider")), str(data.get("kind")), data.get("count", 1), **options
        )
        return fault.as_dict()

    def _configure(self, data: dict[str, Any]) -> dict[str, Any]:
        self._emu.configure(**data)
        return self._emu.config.as_dict()

    def _flush(self, data: dict[str, Any]) -> dict[str, Any]:
        timeout = data.get("timeout", 10.0)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0:
            raise _BadInput("timeout must be a number of seconds")
        return self._emu.callbacks.flush(min(float(timeout), MAX_FLUSH_WAIT))

    def _inbound(self, data: dict[str, Any]) -> dict[str, Any]:
        url = check_url(data.get("url"), "url")
        fields = {name: data.get(name) for name in ("from", "to", "body")}
        if not all(isinstance(value, str) for value in fields.values()):
            raise _BadInput("from, to and body must be strings")
        twilio = self._emu.twilio
        params = twilio.inbound_params(str(fields["from"]), str(fields["to"]), str(fields["body"]))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "TwilioProxy/1.1",
            TWILIO_SIGNATURE_HEADER: twilio.signer.sign(url, params),
        }
        try:
            status, answer = post_once(Delivery(url, urlencode(params).encode(), headers))
        except OSError as exc:
            raise _BadInput(f"could not POST to {url}: {exc}") from None
        return {
            "status": status,
            "body": answer.decode("utf-8", "replace"),
            "message_sid": params["MessageSid"],
        }
