"""``EmulatorControl``: the control API as Python calls, usable from any process.

Every method is one HTTP call to ``/_emulator/…``; a refused setting raises ``ValueError`` with the
emulator's message, an unreachable emulator ``ConnectionError``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, cast

DEFAULT_TIMEOUT = 30.0
# No proxy: the emulator is local even when HTTP(S)_PROXY is set for the rest of the machine.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class EmulatorControl:
    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"EmulatorControl({self.url!r})"

    def _call(
        self, method: str, name: str, payload: dict[str, Any] | None = None, wait: float = 0.0
    ) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            f"{self.url}/_emulator/{name}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with _OPENER.open(request, timeout=self.timeout + wait) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("error", exc.reason)
            except ValueError:
                message = exc.reason
            if exc.code == 400:
                raise ValueError(message) from None
            raise ConnectionError(f"emulator answered {exc.code}: {message}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ConnectionError(f"cannot reach the emulators at {self.url}: {reason}") from None

    # -- faults -------------------------------------------------------------------------------
    def inject(
        self,
        provider: str,
        kind: str,
        count: int = 1,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        delay: float | None = None,
        to: str | None = None,
        probability: float | None = None,
        seed: int | None = None,
    ) -> dict[str, Any]:
        """Make the next ``count`` matching requests (or each with ``probability``) fail so."""
        payload = {
            "provider": provider,
            "kind": kind,
            "count": count,
            "status": status,
            "retry_after": retry_after,
            "delay": delay,
            "to": to,
            "probability": probability,
            "seed": seed,
        }
        return cast(dict[str, Any], self._call("POST", "faults", payload))

    def faults(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self._call("GET", "faults"))

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def reset(self) -> None:
        """Forget every record, fault and queued callback; counters start again from 0."""
        self._call("POST", "reset", {})

    # -- records ------------------------------------------------------------------------------
    def sendgrid_requests(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self._call("GET", "sendgrid/requests"))

    def sendgrid_messages(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self._call("GET", "sendgrid/messages"))

    def twilio_messages(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self._call("GET", "twilio/messages"))

    def twilio_requests(self) -> list[dict[str, Any]]:
        """The form of every accepted create request (a field sent twice is a list)."""
        return cast(list[dict[str, Any]], self._call("GET", "twilio/requests"))

    def requests_seen(self) -> dict[str, dict[str, int]]:
        return cast(dict[str, dict[str, int]], self._call("GET", "stats"))

    def info(self) -> dict[str, Any]:
        """url, credentials, the SendGrid public key and the settings."""
        return cast(dict[str, Any], self._call("GET", "info"))

    # -- settings and callbacks ---------------------------------------------------------------
    def configure(
        self,
        sendgrid_events_url: str | None = None,
        open_rate: float | None = None,
        click_rate: float | None = None,
        callback_delay: float | None = None,
    ) -> dict[str, Any]:
        """Change the settings given (None: unchanged; ``sendgrid_events_url=""``: events off)."""
        payload = {
            "sendgrid_events_url": sendgrid_events_url,
            "open_rate": open_rate,
            "click_rate": click_rate,
            "callback_delay": callback_delay,
        }
        return cast(dict[str, Any], self._call("POST", "config", payload))

    def callback_stats(self) -> dict[str, Any]:
        return cast(dict[str, Any], self._call("GET", "callbacks"))

    def flush_callbacks(self, timeout: float = 10.0) -> dict[str, Any]:
        """Wait until every queued callback was delivered or given up (at most ``timeout`` s).

        Returns the counters: jobs, delivered, failed, attempt_failures, pending, drained.
        """
        return cast(
            dict[str, Any], self._call("POST", "callbacks/flush", {"timeout": timeout}, timeout)
        )

    def inbound_message(self, url: str, from_: str, to: str, body: str) -> dict[str, Any]:
        """Have the emulator POST a signed Twilio inbound-message webhook to ``url``.

        Returns ``{"status", "body", "message_sid"}`` of the receiver's answer.
        """
        payload = {"url": url, "from": from_, "to": to, "body": body}
        return cast(dict[str, Any], self._call("POST", "twilio/inbound", payload))
