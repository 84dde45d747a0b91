"""The one exception hierarchy of Hawser.

Every error the API returns is a ``HawserError``; its ``status`` is the HTTP
status code and its message is the single line a user sees (Docker's text
where Docker has one).

    HawserError                 500  unexpected failure
    ├── InvalidArgument         400  malformed input (port spec, CIDR, option …)
    ├── NotFound                404  unknown network, container, endpoint
    ├── Conflict                409  taken name/port/IP, object in use, mode conflicts
    └── PrerequisiteMissing     503  the kernel or machine cannot run the datapath
"""

from __future__ import annotations


class HawserError(Exception):
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(HawserError):
    status = 400


class NotFound(HawserError):
    status = 404


class Conflict(HawserError):
    status = 409


class PrerequisiteMissing(HawserError):
    status = 503
