"""A container's output as the shim records it: ``container.log``, one JSON record a line
(``{"log", "stream", "time"}``, Docker's json-file shape), read with Docker's ``logs``
options: the last N records, since and until a time, following the file while the process
runs."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

LOG_FILE = "container.log"
#: ``logs -f``: the shim appends to the file from another process; the reader checks for more
#: this often (a tail, as Docker's json-file follower does when its watcher is not used)
FOLLOW_POLL_SECONDS = 0.05
_BLOCK = 65536


@dataclass(frozen=True)
class LogQuery:
    follow: bool = False
    tail: int = -1  # records from the end; -1 all
    since: str = ""  # RFC 3339 with nine fraction digits, UTC (the records' own format)
    until: str = ""
    offset: int = 0  # start at this byte of the file (an attached start: its own output)


def size(folder: Path) -> int:
    try:
        return (folder / LOG_FILE).stat().st_size
    except OSError:
        return 0


def _tail_offset(path: Path, count: int) -> int:
    """The offset of the last ``count`` complete lines, reading backwards block by block."""
    with path.open("rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        pos, newlines = end, 0
        while pos > 0:
            step = min(_BLOCK, pos)
            pos -= step
            handle.seek(pos)
            block = handle.read(step)
            if pos + step == end and block.endswith(b"\n"):
                block = block[:-1]  # the last line's own newline
            for i in range(len(block) - 1, -1, -1):
                if block[i] == 0x0A:
                    newlines += 1
                    if newlines == count:
                        return pos + i + 1
        return 0


def read(folder: Path, query: LogQuery, running: Callable[[], bool]) -> Iterator[dict[str, str]]:
    """``{"stream", "data", "time"}`` frames; with ``follow``, until the process has ended and
    its last output is read."""
    path = folder / LOG_FILE
    if query.tail == 0 and not query.follow:
        return
    offset = query.offset
    if query.tail > 0 and path.exists():
        offset = max(offset, _tail_offset(path, query.tail))
    elif query.tail == 0 and path.exists():
        offset = max(offset, path.stat().st_size)
    pending = b""
    while True:
        alive = running()
        try:
            with path.open("rb") as handle:
                handle.seek(offset)
                data = handle.read()
        except FileNotFoundError:
            data = b""
        offset += len(data)
        *lines, pending = (pending + data).split(b"\n")
        for line in lines:
            frame = _frame(line)
            if frame is None or (query.since and frame["time"] < query.since):
                continue
            if query.until and frame["time"] > query.until:
                return
            yield frame
        if not query.follow or (not alive and not data):
            return
        time.sleep(FOLLOW_POLL_SECONDS)


def _frame(line: bytes) -> dict[str, str] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    return {
        "stream": str(record.get("stream", "stdout")),
        "data": str(record.get("log", "")),
        "time": str(record.get("time", "")),
    }
