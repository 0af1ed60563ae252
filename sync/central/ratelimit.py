"""The rate limit on ``/v1/enroll``: per client address and for the whole server.

Built on ``limits`` (the library under slowapi and Flask-Limiter): its moving window and in-memory
storage are all the central needs, called from the enroll handler itself. slowapi would add a
decorator, global app state and a ``request`` argument on every route for one limited route;
fastapi-limiter needs Redis. The counts are per server process: behind a load balancer each server
limits on its own, and the client address is the proxy's unless uvicorn is told to trust its
``X-Forwarded-For`` (see docs/central.md).
"""

from __future__ import annotations

import math
import time

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from sync.errors import TideoverError

ENROLL_RATE = "10/minute"  # per client address: a ward enrolls a handful of workstations at a time
ENROLL_RATE_GLOBAL = "60/minute"  # all addresses together: bounds token guessing from many addresses


class EnrollLimiter:
    def __init__(self, per_address: str = ENROLL_RATE, overall: str = ENROLL_RATE_GLOBAL):
        try:
            self.per_address, self.overall = parse(per_address), parse(overall)
        except ValueError:
            raise TideoverError(f"Enrollment rates must read like '10/minute': got {per_address!r} and "
                                f"{overall!r}.") from None
        self.window = MovingWindowRateLimiter(MemoryStorage())

    def refuse(self, address: str) -> int:
        """0 and the attempt counted, or the seconds to wait before the next attempt may pass."""
        checks = ((self.per_address, ("enroll", address)), (self.overall, ("enroll-all",)))
        for limit, keys in checks:
            if not self.window.test(limit, *keys):
                reset = self.window.get_window_stats(limit, *keys).reset_time
                return max(1, math.ceil(reset - time.time()))
        for limit, keys in checks:
            self.window.hit(limit, *keys)
        return 0
