"""Timestamps as Docker's API writes them: UTC, microseconds, ``Z`` (``Created``, ``StartedAt``)."""

from __future__ import annotations

import datetime

FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
#: the last second of year 9999, the latest moment a record's timestamp can name
LATEST_UNIX = 253402300799


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
    if int(seconds) > LATEST_UNIX:  # later than any record: the same filter as Docker's
        return "9999-12-31T23:59:59.999999999Z"
    moment = datetime.datetime.fromtimestamp(int(seconds), datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"
