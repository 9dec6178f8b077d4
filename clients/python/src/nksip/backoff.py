"""Reconnect delays: exponential, capped, with jitter so a restarted server is not hit by
every app at once."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Reconnect:
    """The reconnect policy of a SipApp."""

    #: False: never reconnect (a broken stream stops the app).
    enabled: bool = True
    #: First delay, seconds.
    initial_delay: float = 0.1
    #: Longest delay, seconds.
    max_delay: float = 10.0
    #: Growth per attempt.
    factor: float = 2.0
    #: Share of each delay drawn at random (0: none, 1: anywhere in [0, delay]).
    jitter: float = 0.5
    #: Attempts in a row before giving up (the app then stops); None: unlimited.
    max_attempts: int | None = None

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """The delay before attempt ``attempt`` (1 for the first retry), seconds."""
        base = min(self.max_delay, self.initial_delay * self.factor ** max(0, attempt - 1))
        jitter = min(1.0, max(0.0, self.jitter))
        return base * (1 - jitter * rand())
