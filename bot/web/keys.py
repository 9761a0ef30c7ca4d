"""The typed keys of app-wide objects, declared in one place."""

from __future__ import annotations

from aiohttp import web
from gidgethub.routing import Router
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.github.intake import DeliveryRecorder
from bot.settings import Settings
from bot.store.queue import JobQueue

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONS = web.AppKey("sessions", async_sessionmaker[AsyncSession])
QUEUE = web.AppKey("queue", JobQueue)
ROUTER = web.AppKey("github_router", Router)
RECORDER = web.AppKey("delivery_recorder", DeliveryRecorder)
