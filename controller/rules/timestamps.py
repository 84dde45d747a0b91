"""Timestamps as Docker's API writes them: UTC, microseconds, ``Z`` (``Created``, ``StartedAt``)."""

from __future__ import annotations

import datetime

FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime(FORMAT)


def parse(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, FORMAT).replace(tzinfo=datetime.UTC)
