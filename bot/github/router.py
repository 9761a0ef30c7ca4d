"""The one router the app dispatches deliveries to, composed of each behaviour's router."""

from __future__ import annotations

from gidgethub import sansio
from gidgethub.routing import Router

from bot.github import (
    autorollback,
    commands,
    dashboard,
    installation,
    outcome,
    push,
    review,
)


def build_router() -> Router:
    """Return the router of every event the app handles."""
    return Router(installation.router, push.router, outcome.router, review.router,
                  commands.router, autorollback.router, dashboard.router)


def is_handled(router: Router, event: sansio.Event) -> bool:
    """Tell whether any callback is registered for this event (and action)."""
    return bool(router.fetch(event))


def bot_login(app_slug: str) -> str:
    """Return the login GitHub gives the app's bot user."""
    return f"{app_slug}[bot]"
