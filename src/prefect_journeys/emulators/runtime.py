"""``Emulators``: one local HTTP server answering as SendGrid and as Twilio, plus its control API.

>>> with Emulators() as emu:                                  # doctest: +SKIP
...     sendgrid_client(emu.url, emu.sendgrid_api_key).send(mail)
...     emu.control.sendgrid_messages()
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Any, Self

from prefect_journeys.emulators.callbacks import CallbackDispatcher
from prefect_journeys.emulators.common import Reply, Request, json_reply
from prefect_journeys.emulators.config import (
    ACCOUNT_SID,
    DEFAULT_SENDGRID_API_KEY,
    DEFAULT_TWILIO_ACCOUNT_SID,
    DEFAULT_TWILIO_AUTH_TOKEN,
    ConfigError,
    EmulatorConfig,
)
from prefect_journeys.emulators.control import EmulatorControl
from prefect_journeys.emulators.control_api import PREFIX, ControlApi
from prefect_journeys.emulators.faults import FaultBook
from prefect_journeys.emulators.sendgrid import SendGridEmulator
from prefect_journeys.emulators.server import EmulatorHTTPServer
from prefect_journeys.emulators.signing import EventSigner
from prefect_journeys.emulators.twilio import TwilioEmulator

log = logging.getLogger(__name__)


class Emulators:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        open_rate: float = 0.0,
        click_rate: float = 0.0,
        *,
        sendgrid_api_key: str = DEFAULT_SENDGRID_API_KEY,
        twilio_account_sid: str = DEFAULT_TWILIO_ACCOUNT_SID,
        twilio_auth_token: str = DEFAULT_TWILIO_AUTH_TOKEN,
        sendgrid_events_url: str | None = None,
        callback_delay: float = 0.0,
        callback_workers: int = 4,
    ) -> None:
        if not ACCOUNT_SID.match(twilio_account_sid):
            raise ConfigError("twilio_account_sid must be AC followed by 32 hex digits")
        if not sendgrid_api_key or not twilio_auth_token:
            raise ConfigError("the SendGrid API key and the Twilio auth token must not be empty")
        self.host = host
        self._requested_port = port
        self.config = EmulatorConfig()
        self.config.update(
            sendgrid_events_url=sendgrid_events_url,
            open_rate=open_rate,
            click_rate=click_rate,
            callback_delay=callback_delay,
        )
        self.faults = FaultBook()
        self.callbacks = CallbackDispatcher(callback_workers)
        self.signer = EventSigner()
        self.sendgrid = SendGridEmulator(
            sendgrid_api_key, self.faults, self.callbacks, self.config, self.signer
        )
        self.twilio = TwilioEmulator(
            twilio_account_sid, twilio_auth_token, self.faults, self.callbacks, self.config
        )
        self._control_api = ControlApi(self)
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- credentials and addresses ------------------------------------------------------------
    @property
    def sendgrid_api_key(self) -> str:
        return self.sendgrid.api_key

    @property
    def twilio_account_sid(self) -> str:
        return self.twilio.account_sid

    @property
    def twilio_auth_token(self) -> str:
        return self.twilio.auth_token

    @property
    def sendgrid_public_key(self) -> str:
        """Base64 DER (SubjectPublicKeyInfo) of the P-256 key the SendGrid events are signed with."""
        return self.signer.public_key

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulators are not started: call start() first")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def control(self) -> EmulatorControl:
        return EmulatorControl(self.url)

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> Self:
        """Bind and serve in a background thread. Raises OSError when the port cannot be bound."""
        if self._server is not None:
            return self
        server = EmulatorHTTPServer((self.host, self._requested_port), self.handle)
        self._server = server
        self.callbacks.start()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="emulators-http",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.callbacks.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what the control API exposes ---------------------------------------------------------
    def reset(self) -> None:
        self.sendgrid.reset()
        self.twilio.reset()
        self.faults.clear()
        self.callbacks.discard()

    def configure(self, **settings: Any) -> None:
        self.config.update(**settings)

    def requests_seen(self) -> dict[str, dict[str, int]]:
        return {"sendgrid": self.sendgrid.stats.as_dict(), "twilio": self.twilio.stats.as_dict()}

    def info(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "sendgrid_api_key": self.sendgrid_api_key,
            "sendgrid_public_key": self.sendgrid_public_key,
            "twilio_account_sid": self.twilio_account_sid,
            "twilio_auth_token": self.twilio_auth_token,
            "config": self.config.as_dict(),
        }

    # -- routing ------------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        path = request.path
        try:
            if path.startswith("/2010-04-01/"):
                return self.twilio.handle(request)
            if path.startswith("/v3/"):
                return self.sendgrid.handle(request)
            if path.startswith(PREFIX + "/"):
                return self._control_api.handle(request)
            if path == "/":
                return json_reply(200, {"emulators": ["sendgrid", "twilio"], "control": PREFIX})
            return json_reply(404, {"error": f"nothing at {path}"})
        except Exception as exc:  # answer 500 like a provider would; never kill the connection
            log.error("emulator error on %s %s: %s", request.method, path, type(exc).__name__)
            return json_reply(500, {"error": "internal emulator error"})
