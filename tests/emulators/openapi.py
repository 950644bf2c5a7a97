"""The providers' published OpenAPI descriptions as jsonschema validators.

They live beside the repository (``<repo>/../shared/openapi``), never inside it. SendGrid's is
Swagger 2.0 (``#/definitions`` refs); Twilio's is OpenAPI 3.0 (``#/components/schemas`` refs,
``nullable``, which is rewritten as ``anyOf [..., null]`` for jsonschema). Each validator wraps a
schema with the document's definitions so that every ``$ref`` resolves.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator

OPENAPI_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "openapi"
SENDGRID_FILE = OPENAPI_DIR / "sendgrid_oai.json"
TWILIO_FILE = OPENAPI_DIR / "twilio_api_v2010.json"
MESSAGES = "/2010-04-01/Accounts/{AccountSid}/Messages.json"
MESSAGE = "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json"


def missing_reason() -> str | None:
    for path in (SENDGRID_FILE, TWILIO_FILE):
        if not path.is_file():
            return f"the providers' openapi descriptions not found at {path.resolve()}"
    return None


def _nullable(node: Any) -> Any:
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _nullable(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


def _mail_send_as_documented(schema: dict[str, Any]) -> dict[str, Any]:
    """Two known slips of the description, fixed as its own prose and the live API have them.

    - top-level ``custom_args`` is typed ``string``, but described as "key/value pairs [that]
      must be strings" (the SDK sends an object, as at the personalization level);
    - ``subject`` and ``content`` are listed as always required, but the prose makes them
      conditional: a subject may be set per personalization, and neither is needed with a
      ``template_id``. The emulator enforces those conditions itself (see sendgrid_checks).
    """
    schema["properties"]["custom_args"] = {
        "type": "object",
        "additionalProperties": {"type": "string"},
    }
    schema["required"] = [name for name in schema["required"] if name not in ("subject", "content")]
    return schema


def errors_of(validator: Draft4Validator, instance: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:200]}"
        for e in validator.iter_errors(instance)
    ]


class Specs:
    def __init__(self) -> None:
        sendgrid = json.loads(SENDGRID_FILE.read_text())
        twilio = json.loads(TWILIO_FILE.read_text())
        self._sg_definitions = sendgrid["definitions"]
        self._tw_components = {"schemas": _nullable(twilio["components"]["schemas"])}
        send = sendgrid["paths"]["/mail/send"]["post"]
        body = copy.deepcopy(next(p for p in send["parameters"] if p.get("in") == "body"))
        self.mail_send = self._sendgrid(_mail_send_as_documented(body["schema"]))
        error = copy.deepcopy(sendgrid["definitions"]["global_error_response_schema"])
        # Typed "object" there, the live API sends a URL string (or null) as "help".
        error["properties"]["errors"]["items"]["properties"]["help"] = {"type": ["string", "null"]}
        self.sendgrid_error = self._sendgrid(error)
        activity = sendgrid["paths"]["/messages"]["get"]["responses"]["200"]["schema"]
        item = copy.deepcopy(activity["properties"]["messages"]["items"])
        # Its allOf branch contradicts the item's own properties (last_event_time integer vs
        # ISO string, "not delivered" vs "not_delivered"): the item's own properties are used.
        item.pop("allOf")
        self.activity = self._sendgrid(
            {"type": "object", "properties": {"messages": {"type": "array", "items": item}}}
        )
        signed = sendgrid["paths"]["/user/webhooks/event/settings/signed"]["get"]
        self.public_key = self._sendgrid(signed["responses"]["200"]["schema"])
        create = twilio["paths"][MESSAGES]["post"]
        form = create["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
        self.twilio_form_schema = form
        self.twilio_create_form = self._twilio(form)
        self.twilio_message = self._twilio(
            create["responses"]["201"]["content"]["application/json"]["schema"]
        )
        listing = twilio["paths"][MESSAGES]["get"]["responses"]["200"]
        self.twilio_list = self._twilio(listing["content"]["application/json"]["schema"])
        fetch = twilio["paths"][MESSAGE]["get"]["responses"]["200"]
        self.twilio_fetch = self._twilio(fetch["content"]["application/json"]["schema"])

    def _sendgrid(self, schema: dict[str, Any]) -> Draft4Validator:
        root = {"definitions": self._sg_definitions, "allOf": [schema]}
        return Draft4Validator(root, format_checker=Draft4Validator.FORMAT_CHECKER)

    def _twilio(self, schema: dict[str, Any]) -> Draft4Validator:
        root = {"components": self._tw_components, "allOf": [_nullable(schema)]}
        return Draft4Validator(root, format_checker=Draft4Validator.FORMAT_CHECKER)

    def typed_form(self, form: dict[str, Any]) -> dict[str, Any]:
        """Form fields (strings, or lists for repeated ones) as the schema's types."""
        properties = self.twilio_form_schema["properties"]
        typed: dict[str, Any] = {}
        for name, value in form.items():
            kind = properties.get(name, {}).get("type")
            values = value if isinstance(value, list) else [value]
            if kind == "array":
                typed[name] = values
            elif kind == "integer":
                typed[name] = int(values[0])
            elif kind == "number":
                typed[name] = float(values[0])
            elif kind == "boolean":
                typed[name] = {"true": True, "false": False}.get(values[0].lower(), values[0])
            else:
                typed[name] = value
        return typed

    def accepted_request_errors(
        self, sendgrid_bodies: list[dict[str, Any]], twilio_forms: list[dict[str, Any]]
    ) -> list[str]:
        problems = []
        for number, body in enumerate(sendgrid_bodies):
            sent = {k: v for k, v in body.items() if k != "_message_id"}
            problems += [f"sendgrid request {number}: {e}" for e in errors_of(self.mail_send, sent)]
        for number, form in enumerate(twilio_forms):
            typed = self.typed_form(form)
            problems += [
                f"twilio request {number}: {e}" for e in errors_of(self.twilio_create_form, typed)
            ]
        return problems


@cache
def specs() -> Specs | None:
    return None if missing_reason() else Specs()
