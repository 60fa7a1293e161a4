"""The submission rate limit per client address, in a store nodes can share.

Client addresses are not stored: the key is a keyed hash of the address, and
the store forgets it when the window passes.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time

from flask import current_app, request
from limits import RateLimitItem, parse
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter


class RateLimiter:
    def __init__(self, limit: str, storage_uri: str) -> None:
        self.item: RateLimitItem = parse(limit)
        storage = storage_from_string(storage_uri)
        # An "async+..." URI gives an asyncio store that these sync views cannot use.
        if not isinstance(storage, Storage):
            raise ValueError(f"{storage_uri!r}: the rate limit needs a synchronous store")
        self.storage: Storage = storage
        self.limiter = MovingWindowRateLimiter(self.storage)

    def client_key(self) -> str:
        secret = str(current_app.config["SECRET_KEY"]).encode()
        address = (request.remote_addr or "").encode()
        return "ua:" + hmac.new(secret, address, hashlib.sha256).hexdigest()[:24]

    def hit(self) -> int | None:
        """Count one submission; return seconds to wait when over the limit."""
        key = self.client_key()
        if self.limiter.hit(self.item, key):
            return None
        stats = self.limiter.get_window_stats(self.item, key)
        return max(1, math.ceil(stats.reset_time - time.time()))

    def reset(self) -> None:
        self.storage.reset()
