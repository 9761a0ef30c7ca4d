"""Bearer authentication of the API and the translation of its errors to HTTP."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.web.api.problems import ApiError, error_response
from bot.web.keys import SETTINGS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def check_bearer(header: str | None, expected: str | None) -> None:
    """Raise a 401 unless the Authorization header carries the API token."""
    if expected is None:
        raise ApiError(401, "the REST API is closed: the server sets no SELFMOD_API_TOKEN")
    if not header:
        raise ApiError(401, "missing Authorization: Bearer <token>")
    scheme, _, token = header.partition(" ")
    # Constant-time comparison: the answer's timing says nothing about the token.
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(),
                                                            expected.encode()):
        raise ApiError(401, "the bearer token is wrong")


def api_view(handler: Handler) -> Handler:
    """Wrap a view: authenticate first, answer ApiError as its JSON error."""

    @functools.wraps(handler)
    async def view(request: web.Request) -> web.StreamResponse:
        try:
            check_bearer(request.headers.get("Authorization"), request.app[SETTINGS].api_token)
            return await handler(request)
        except ApiError as error:
            return error_response(error)

    return view
