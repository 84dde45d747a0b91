"""Timestamps as Docker's API writes them: UTC, microseconds, ``Z`` (``Created``, ``StartedAt``)."""

from __future__ import annotations

import datetime

FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime(FORMAT)


def parse(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, FORMAT).replace(tzinfo=datetime.UTC)


def from_unix(text: str) -> str:
    """A ``logs --since/--until`` value as the API takes it (``SECONDS[.NANOS]``, what
    Docker's CLI sends) in the log records' format (UTC, nine fraction digits); "" stays ""."""
    if not text:
        return ""
    seconds, _, frac = text.partition(".")
    nanos = int((frac + "000000000")[:9]) if frac else 0
    if seconds.startswith("-"):
        return "0001-01-01T00:00:00.000000000Z"
    moment = datetime.datetime.fromtimestamp(int(seconds), datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"
