"""Validation of a v3 Mail Send body, listing every problem the way the API does.

Each problem is ``{"message", "field", "help"}``; ``field`` is a dotted path such as
``personalizations.3.to.0.email`` and ``help`` a link to the API's error reference (the live API
sends a URL string there, although its OpenAPI description types it as an object).
"""

from __future__ import annotations

import re
from typing import Any

MAX_PERSONALIZATIONS = 1000
MAX_RECIPIENTS = 1000  # to + cc + bcc over all personalizations
MAX_CATEGORIES = 10
MAX_CATEGORY_LENGTH = 255
RESERVED_HEADERS = frozenset(
    name.lower()
    for name in (
        "x-sg-id",
        "x-sg-eid",
        "received",
        "dkim-signature",
        "Content-Type",
        "Content-Transfer-Encoding",
        "To",
        "From",
        "Subject",
        "Reply-To",
        "CC",
        "BCC",
    )
)
_EMAIL = re.compile(
    r"^[^@\s\"<>(),;:\\\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
_DYNAMIC_TEMPLATE = re.compile(r"^d-[0-9a-fA-F]{32}$")
_LEGACY_TEMPLATE = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message.{}"
_CONTENT_RANK = {"text/plain": 0, "text/html": 1}

Problem = dict[str, Any]


def is_email(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 320 and _EMAIL.match(value) is not None


def is_dynamic_template(template_id: Any) -> bool:
    return isinstance(template_id, str) and _DYNAMIC_TEMPLATE.match(template_id) is not None


def _nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", list: "array", dict: "object"}.get(
        type(value), "null" if value is None else "string"
    )


class _Problems:
    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, message: str, field: str | None, anchor: str | None = None) -> None:
        top = (field or "").split(".")[0]
        self.items.append(
            {"message": message, "field": field, "help": _HELP.format(anchor or top or "body")}
        )


def check_mail(body: Any) -> list[Problem]:
    """Every problem of the request body; empty when the API would accept it."""
    problems = _Problems()
    if not isinstance(body, dict):
        problems.add("The request body must be a JSON object.", None)
        return problems.items
    template_id = body.get("template_id")
    if template_id is not None and not (
        is_dynamic_template(template_id)
        or (isinstance(template_id, str) and _LEGACY_TEMPLATE.match(template_id))
    ):
        problems.add(
            f"The template_id must be a valid GUID, you provided '{template_id}'.", "template_id"
        )
    dynamic = is_dynamic_template(template_id)
    every_subject = _check_personalizations(body.get("personalizations"), problems, dynamic)
    _check_sender(body.get("from"), "from", problems, required=True)
    _check_reply_to(body, problems)
    subject = body.get("subject")
    if subject is not None and not _nonempty_str(subject):
        problems.add("The subject must be a string at least one character in length.", "subject")
    if template_id is None and subject is None and not every_subject:
        problems.add(
            "The subject is required. You can get around this requirement if you use a template "
            "with a subject defined or if every personalization has a subject defined.",
            "subject",
        )
    _check_content(body.get("content"), template_id is not None, problems)
    _check_categories(body.get("categories"), problems)
    _check_strings(body.get("custom_args"), "custom_args", problems)
    _check_headers(body.get("headers"), "headers", problems)
    return problems.items


def _check_personalizations(value: Any, problems: _Problems, dynamic: bool) -> bool:
    """Check them all; True when each one has its own subject."""
    if not isinstance(value, list) or not value:
        problems.add(
            "The personalizations field is required and must have at least one personalization.",
            "personalizations",
        )
        return False
    if len(value) > MAX_PERSONALIZATIONS:
        problems.add(
            f"You may not have more than {MAX_PERSONALIZATIONS} personalizations per API request. "
            "You may need to batch your requests into smaller groups.",
            "personalizations",
        )
    recipients = 0
    every_subject = True
    for index, item in enumerate(value):
        where = f"personalizations.{index}"
        if not isinstance(item, dict):
            problems.add("Each personalization must be an object.", where)
            every_subject = False
            continue
        recipients += _check_envelope(item, where, problems)
        subject = item.get("subject")
        if subject is None:
            every_subject = False
        elif not _nonempty_str(subject):
            problems.add(
                "The subject must be a string at least one character in length.", f"{where}.subject"
            )
        if "from" in item:
            _check_sender(item["from"], f"{where}.from", problems, required=False)
        _check_headers(item.get("headers"), f"{where}.headers", problems)
        _check_strings(item.get("custom_args"), f"{where}.custom_args", problems)
        _check_template_data(item, where, problems, dynamic)
        send_at = item.get("send_at")
        if send_at is not None and (isinstance(send_at, bool) or not isinstance(send_at, int)):
            problems.add("The send_at parameter must be a unix timestamp.", f"{where}.send_at")
    if recipients > MAX_RECIPIENTS:
        problems.add(
            f"The total number of recipients must be no more than {MAX_RECIPIENTS}. This includes "
            "all recipients defined within the to, cc, and bcc parameters, across each object that "
            "you include in the personalizations array.",
            "personalizations",
        )
    return every_subject


def _check_envelope(item: dict[str, Any], where: str, problems: _Problems) -> int:
    """Check to, cc and bcc of one personalization; the number of recipients it names."""
    count = 0
    seen: set[str] = set()
    to = item.get("to")
    if not isinstance(to, list) or not to:
        problems.add(
            "The to array is required for all personalization objects, and must have at least one "
            "email object with a valid email address.",
            f"{where}.to",
        )
    for name in ("to", "cc", "bcc"):
        entries = item.get(name)
        if entries is None or (name == "to" and not isinstance(entries, list)):
            continue
        if not isinstance(entries, list):
            problems.add(f"The {name} field must be an array of email objects.", f"{where}.{name}")
            continue
        for position, entry in enumerate(entries):
            count += 1
            email = entry.get("email") if isinstance(entry, dict) else None
            if not is_email(email):
                problems.add(
                    "Does not contain a valid address.", f"{where}.{name}.{position}.email"
                )
                continue
            assert isinstance(email, str)
            folded = email.lower()
            if folded in seen:
                problems.add(
                    "Each email address in the personalization block should be unique between to, "
                    "cc, and bcc. We found the first duplicate instance of "
                    f"[{email}] in the personalizations.{where.split('.')[1]}.{name} field.",
                    f"{where}.{name}",
                )
            seen.add(folded)
    return count


def _check_sender(value: Any, field: str, problems: _Problems, *, required: bool) -> None:
    if value is None and not required:
        return
    if not isinstance(value, dict) or "email" not in value:
        problems.add(
            "The from object must be provided for every email send. It is an object that requires "
            "the email parameter, but may also contain a name parameter.",
            field,
        )
    elif not is_email(value["email"]):
        problems.add("The from email does not contain a valid address.", f"{field}.email")


def _check_reply_to(body: dict[str, Any], problems: _Problems) -> None:
    reply_to = body.get("reply_to")
    if reply_to is not None and (
        not isinstance(reply_to, dict) or not is_email(reply_to.get("email"))
    ):
        problems.add("The reply_to email does not contain a valid address.", "reply_to.email")
    many = body.get("reply_to_list")
    if many is None:
        return
    if reply_to is not None:
        problems.add(
            "The reply_to and reply_to_list fields are mutually exclusive; use one of them.",
            "reply_to_list",
        )
    if not isinstance(many, list) or not many:
        problems.add("The reply_to_list must be an array of email objects.", "reply_to_list")
        return
    for position, entry in enumerate(many):
        if not isinstance(entry, dict) or not is_email(entry.get("email")):
            problems.add("Does not contain a valid address.", f"reply_to_list.{position}.email")


def _check_content(value: Any, has_template: bool, problems: _Problems) -> None:
    if value is None:
        if not has_template:
            problems.add(
                "Unless a valid template_id is provided, the content parameter is required. There "
                "must be at least one defined content block. We typically suggest both text/plain "
                "and text/html blocks are included, but only one block is required.",
                "content",
            )
        return
    if not isinstance(value, list) or (not value and not has_template):
        problems.add("The content parameter must be an array with at least one block.", "content")
        return
    ranks: list[int] = []
    for position, block in enumerate(value):
        where = f"content.{position}"
        if not isinstance(block, dict):
            problems.add("Each content block must be an object.", where)
            continue
        if not _nonempty_str(block.get("type")):
            problems.add(
                "The content type must be a string at least one character in length.",
                f"{where}.type",
            )
        else:
            ranks.append(_CONTENT_RANK.get(block["type"].lower(), 2))
        if not _nonempty_str(block.get("value")):
            problems.add(
                "The content value must be a string at least one character in length.",
                f"{where}.value",
            )
    if ranks != sorted(ranks):
        problems.add(
            "If present, text/plain content must be first, followed by text/html, followed by any "
            "other content.",
            "content",
        )


def _check_categories(value: Any, problems: _Problems) -> None:
    if value is None:
        return
    if not isinstance(value, list):
        problems.add("The categories field must be an array of strings.", "categories")
        return
    if len(value) > MAX_CATEGORIES:
        problems.add(
            f"Too many categories on this message. The maximum number of categories is "
            f"{MAX_CATEGORIES}.",
            "categories",
        )
    for position, category in enumerate(value):
        if not isinstance(category, str):
            problems.add("A category must be a string.", f"categories.{position}")
        elif len(category) > MAX_CATEGORY_LENGTH:
            problems.add(
                f"A category cannot have more than {MAX_CATEGORY_LENGTH} characters.",
                f"categories.{position}",
            )


def _check_strings(value: Any, field: str, problems: _Problems) -> None:
    """custom_args: an object whose values are all strings."""
    if value is None:
        return
    if not isinstance(value, dict):
        problems.add(f"Invalid type. Expected: object, given: {_type_name(value)}.", field)
        return
    for key, item in value.items():
        if not isinstance(item, str):
            problems.add(
                f"Invalid type. Expected: string, given: {_type_name(item)}.", f"{field}.{key}"
            )


def _check_headers(value: Any, field: str, problems: _Problems) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        problems.add(f"Invalid type. Expected: object, given: {_type_name(value)}.", field)
        return
    for name, item in value.items():
        if name.lower() in RESERVED_HEADERS:
            problems.add(
                f"The header {name} is reserved and may not be set through the headers field.",
                f"{field}.{name}",
            )
        elif not isinstance(item, str):
            problems.add(
                f"Invalid type. Expected: string, given: {_type_name(item)}.", f"{field}.{name}"
            )


def _check_template_data(
    item: dict[str, Any], where: str, problems: _Problems, dynamic: bool
) -> None:
    data = item.get("dynamic_template_data")
    if data is not None:
        if not dynamic:
            problems.add(
                "dynamic_template_data may only be used with a dynamic template (a template_id "
                "starting with d-).",
                f"{where}.dynamic_template_data",
            )
        elif not isinstance(data, dict):
            problems.add(
                f"Invalid type. Expected: object, given: {_type_name(data)}.",
                f"{where}.dynamic_template_data",
            )
    if dynamic and item.get("substitutions") is not None:
        problems.add(
            "Substitutions may not be used with dynamic templating.", f"{where}.substitutions"
        )
