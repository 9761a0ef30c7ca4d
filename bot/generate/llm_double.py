"""An OpenAI-compatible chat completions server answering from a script, for tests and demos."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

CHAT_PATH = "/v1/chat/completions"


@dataclass(frozen=True)
class ScriptedReply:
    """One scripted answer: a message, a refusal, an HTTP error, a slow or broken body."""

    content: str | None = None  # the assistant message text
    refusal: str | None = None  # the message's `refusal` field
    status: int = 200
    retry_after: str | None = None  # the Retry-After header of an error answer
    delay: float = 0.0  # seconds to wait before answering
    raw_body: str | None = None  # sent verbatim instead of a well-formed completion

    @classmethod
    def json_answer(cls, payload: dict[str, Any], **kwargs: Any) -> ScriptedReply:
        """Return a reply whose message is `payload` as JSON text."""
        return cls(content=json.dumps(payload), **kwargs)


class LLMDouble:
    """The scripted server: replies are used in order; every request body is recorded."""

    def __init__(self, replies: Iterable[ScriptedReply], *, model: str = "double-1") -> None:
        self._replies = deque(replies)
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def add(self, *replies: ScriptedReply) -> None:
        """Append replies to the script."""
        self._replies.extend(replies)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on host:port (0 picks a free port) and return the base URL ending in /v1."""
        app = web.Application()
        app.router.add_post(CHAT_PATH, self._chat)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None
        bound = server.sockets[0].getsockname()  # type: ignore[attr-defined]
        self.base_url = f"http://{bound[0]}:{bound[1]}/v1"
        return self.base_url

    async def close(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> LLMDouble:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _chat(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(400, "the request body is not JSON")
        self.requests.append(body)
        if not self._replies:
            return _error(500, "the LLM double has no scripted reply left")
        reply = self._replies.popleft()
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.raw_body is not None:
            return web.Response(status=reply.status, text=reply.raw_body,
                                content_type="application/json")
        if reply.status != 200:
            headers = {"Retry-After": reply.retry_after} if reply.retry_after else {}
            return _error(reply.status, "scripted error", headers)
        return web.json_response(self._completion(body, reply))

    def _completion(self, body: dict[str, Any], reply: ScriptedReply) -> dict[str, Any]:
        content = reply.content if reply.refusal is None else None
        return {
            "id": f"chatcmpl-double-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", self.model),
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": reply.refusal},
                "finish_reason": "stop",
                "logprobs": None,
            }],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    kind = "rate_limit_exceeded" if status == 429 else "server_error"
    payload = {"error": {"message": message, "type": kind, "param": None, "code": kind}}
    return web.json_response(payload, status=status, headers=headers)
