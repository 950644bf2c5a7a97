"""What a sync raises: one clear line naming the source, the file and the line or row key."""

from __future__ import annotations


class SourceError(Exception):
    """A source that cannot be read or written as it stands (a broken file, a missing column, a
    database that is down, an unset environment variable). The message is one line and starts with
    ``source <id>:``; it never holds a password, an email address or a phone number."""


class SyncRejected(SourceError):
    """A batch failed its checks above the source's threshold: nothing of it was stored (only its
    validation record and quarantine rows), the watermark did not move."""


__all__ = ["SourceError", "SyncRejected"]
