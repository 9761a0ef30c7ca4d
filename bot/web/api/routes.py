"""Mounting the REST API on the application: its state and every route."""

from __future__ import annotations

from aiohttp import web

from bot.web.api import analyze, apply, openapi, rollback, sessions
from bot.web.api.state import api_state_context


def add_api(app: web.Application) -> None:
    """Add the API's state (opened after the database) and its routes to the app."""
    app.cleanup_ctx.append(api_state_context)
    for module in (analyze, apply, rollback, sessions, openapi):
        app.add_routes(module.routes)
