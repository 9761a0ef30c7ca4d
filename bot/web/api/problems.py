"""Errors of the REST API and their JSON bodies: a status, a message, and the field at fault."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from bot.errors import SelfmodError


class ApiError(SelfmodError):
    """A request the API refuses; carries the HTTP status and, for bad input, the field."""

    def __init__(self, status: int, message: str, *, field: str | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.extra = extra or {}


def bad_field(field: str, message: str) -> ApiError:
    """Return a 400 naming the field."""
    return ApiError(400, f"{field}: {message}", field=field)


def build_error_body(error: ApiError) -> dict[str, Any]:
    """Return the JSON body of an error."""
    body: dict[str, Any] = {"error": error.message}
    if error.field is not None:
        body["field"] = error.field
    body.update(error.extra)
    return body


def error_response(error: ApiError) -> web.Response:
    """Answer an error as JSON, with the challenge header on 401."""
    headers = {"WWW-Authenticate": 'Bearer realm="selfmod"'} if error.status == 401 else None
    return web.json_response(build_error_body(error), status=error.status, headers=headers,
                             dumps=json.dumps)
