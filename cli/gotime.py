"""``logs --since/--until`` values as Docker's CLI reads them (``GetTimestamp``): a Go duration
before now (``42m``, ``1h30m``), an RFC 3339 date or time (local when it names no zone), or a
Unix timestamp; sent to the daemon as ``SECONDS[.NANOS]``."""

from __future__ import annotations

import datetime
import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
          "h": 3600.0}  # fmt: skip
_DURATION = re.compile(r"([+-]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)")
_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)?"
    r"(Z|z|[+-]\d{2}:\d{2})?"
)
_UNIX = re.compile(r"-?\d+(\.\d+)?")


def parse_duration(text: str) -> float | None:
    """Go's ``time.ParseDuration`` in seconds; None when ``text`` is not one."""
    found = _DURATION.fullmatch(text)
    if not found:
        return None
    total = sum(float(n) * _UNITS[u] for n, u in _PART.findall(found.group(2)))
    return -total if found.group(1) == "-" else total


def timestamp(value: str, now: datetime.datetime | None = None) -> str:
    """``SECONDS[.NANOS]`` for the API; ValueError with Docker's text when not a time."""
    now = now or datetime.datetime.now().astimezone()
    duration = parse_duration(value)
    if value != "0" and duration is not None:
        return str(int((now - datetime.timedelta(seconds=duration)).timestamp()))
    found = _TIME.fullmatch(value)
    if found:
        year, month, day, hour, minute, second, frac, zone = found.groups()
        tz: datetime.tzinfo | None
        if zone in ("Z", "z"):
            tz = datetime.UTC
        elif zone:
            sign = -1 if zone[0] == "-" else 1
            tz = datetime.timezone(
                sign * datetime.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
            )
        else:
            tz = now.tzinfo
        moment = datetime.datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
            tzinfo=tz,
        )  # fmt: skip
        nanos = int((frac or "").ljust(9, "0")[:9] or 0)
        return f"{int(moment.timestamp())}.{nanos:09d}"
    if "-" in value and not _UNIX.fullmatch(value):
        raise ValueError(f'parsing time "{value}": cannot parse as RFC 3339')
    if not _UNIX.fullmatch(value):
        raise ValueError(f'failed to parse value as time or duration: "{value}"')
    return value
