"""Zoho Accounts' throttle on access-token creation, shared by both local Zoho servers.

Zoho allows 10 access tokens per refresh token in a span of 10 minutes; past that, the
token endpoint refuses with "Access Denied" until the window has room again
(https://www.zoho.com/crm/developer/docs/api/v8/token-validity.html, Kaizen #43
"Tokens and Limitations"). Kaizen #43 says the status stays 200; answers captured from
accounts.zoho.com (Zoho Cliq SDK doc comment, client code handling it) are HTTP 400 with
``{"error_description": "You have made too many requests continuously. Please try again
after some time.", "error": "Access Denied", "status": "failure"}`` — the local servers
answer that.

The window slides: a new token is allowed once the oldest of the last ``tokens_per_window``
tokens of that refresh token is ``window_seconds`` old. Refused requests mint nothing and
do not count. Admin (per server, ``PREFIX`` = ``/_admin/zoho_crm`` or
``/_admin/zoho_campaigns``): ``GET|PUT PREFIX/oauth_limits``
(``{"tokens_per_window", "window_seconds"}``) and ``POST PREFIX/oauth_limits/reset``
(forget every token minted so far).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

TOKENS_PER_WINDOW = 10
WINDOW_SECONDS = 600.0
ACCESS_DENIED: dict[str, str] = {
    "error_description": (
        "You have made too many requests continuously. Please try again after some time."
    ),
    "error": "Access Denied",
    "status": "failure",
}
ACCESS_DENIED_STATUS = 400


class ThrottleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tokens_per_window: int = Field(TOKENS_PER_WINDOW, ge=1)
    window_seconds: float = Field(WINDOW_SECONDS, gt=0)


@dataclass
class TokenThrottle:
    """Access tokens minted per refresh token, in a sliding window."""

    settings: ThrottleSettings = field(default_factory=ThrottleSettings)
    clock: Callable[[], float] = time.monotonic
    _minted: dict[str, deque[float]] = field(default_factory=dict)
    refused: int = 0

    def admit(self, refresh_token: str) -> bool:
        """Record one new token for ``refresh_token``, or refuse it (False)."""
        now = self.clock()
        minted = self._minted.setdefault(refresh_token, deque())
        while minted and now - minted[0] >= self.settings.window_seconds:
            minted.popleft()
        if len(minted) >= self.settings.tokens_per_window:
            self.refused += 1
            return False
        minted.append(now)
        return True

    def describe(self) -> dict[str, Any]:
        now = self.clock()
        window = self.settings.window_seconds
        in_window = sum(1 for times in self._minted.values() for t in times if now - t < window)
        return {**self.settings.model_dump(), "minted_in_window": in_window,
                "refused": self.refused}  # fmt: skip

    def reset(self) -> None:
        self._minted.clear()
        self.refused = 0


THROTTLE_KEY = web.AppKey("zoho_accounts_throttle", TokenThrottle)


def access_denied() -> web.Response:
    return web.json_response(ACCESS_DENIED, status=ACCESS_DENIED_STATUS)


def install(app: web.Application, admin_prefix: str) -> TokenThrottle:
    """Give ``app`` a throttle and its admin routes under ``admin_prefix``."""
    throttle = app[THROTTLE_KEY] = TokenThrottle()
    app.router.add_get(f"{admin_prefix}/oauth_limits", _get)
    app.router.add_put(f"{admin_prefix}/oauth_limits", _put)
    app.router.add_post(f"{admin_prefix}/oauth_limits/reset", _reset)
    return throttle


async def _get(request: web.Request) -> web.Response:
    return web.json_response(request.app[THROTTLE_KEY].describe())


async def _put(request: web.Request) -> web.Response:
    throttle = request.app[THROTTLE_KEY]
    try:
        body = await request.json()
        throttle.settings = ThrottleSettings.model_validate(
            {**throttle.settings.model_dump(), **body}
        )
    except (ValueError, ValidationError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response(throttle.describe())


async def _reset(request: web.Request) -> web.Response:
    throttle = request.app[THROTTLE_KEY]
    throttle.reset()
    return web.json_response(throttle.describe())
