"""``--restart``: Docker's restart policies, their validation and the restart manager's rules.

The policy decides whether an exited command starts again: ``always`` does, even after a
``stop`` once the daemon restarts; ``unless-stopped`` does unless a user stopped it;
``on-failure[:N]`` does when the exit status is not 0, at most N times (0: no limit). Each
restart waits a back-off that starts at 100 ms and doubles up to one minute, and goes back
to 100 ms once the command ran for 10 seconds (moby's ``restartmanager``).
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.errors import InvalidArgument

POLICIES = ("no", "always", "on-failure", "unless-stopped")
FIRST_DELAY = 0.1
MAX_DELAY = 60.0
RESET_AFTER = 10.0  # seconds a run must last for the back-off to start over


@dataclass(frozen=True)
class RestartPolicy:
    name: str = "no"
    max_retries: int = 0

    @property
    def is_none(self) -> bool:
        return self.name in ("no", "")


def validate(name: str, max_retries: int) -> RestartPolicy:
    """The daemon's check (``ValidateRestartPolicy``), with Docker's texts."""
    if name in ("always", "unless-stopped", "no"):
        if max_retries != 0:
            text = "invalid restart policy: maximum retry count can only be used with 'on-failure'"
            raise InvalidArgument(text + (" and cannot be negative" if max_retries < 0 else ""))
    elif name == "on-failure":
        if max_retries < 0:
            raise InvalidArgument("invalid restart policy: maximum retry count cannot be negative")
    elif name == "":
        name = "no"
    else:
        raise InvalidArgument(
            f"invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', "
            "'on-failure', or 'unless-stopped'"
        )
    return RestartPolicy(name, max_retries)


def should_restart(
    policy: RestartPolicy, exit_code: int, manually_stopped: bool, restart_count: int
) -> bool:
    if policy.name == "always":
        return True
    if policy.name == "unless-stopped":
        return not manually_stopped
    if policy.name == "on-failure":
        limit = policy.max_retries
        return exit_code != 0 and (limit == 0 or restart_count < limit)
    return False


def next_delay(previous: float, ran_seconds: float) -> float:
    """The back-off before the next restart, given the last one and how long the run lasted."""
    if ran_seconds >= RESET_AFTER:
        previous = 0.0
    if previous <= 0:
        return FIRST_DELAY
    return min(previous * 2, MAX_DELAY)
