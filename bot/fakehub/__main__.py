"""`python -m bot.fakehub`: run the GitHub double on its own."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from bot.fakehub.routes import build_app
from bot.fakehub.server import FakeHub


def build_parser() -> argparse.ArgumentParser:
    """Return the double's command-line options."""
    p = argparse.ArgumentParser(prog="python -m bot.fakehub", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9000)
    p.add_argument("--repos", required=True, type=Path,
                   help="folder of bare repositories DIR/<owner>/<name>.git")
    p.add_argument("--app-id", type=int, default=1)
    p.add_argument("--app-key", type=Path, required=True,
                   help="the App's PEM key (private or public) to verify its JWTs")
    p.add_argument("--installation-id", type=int, default=1)
    p.add_argument("--webhook-url", default=None, help="where to POST webhooks")
    p.add_argument("--webhook-secret", default=os.environ.get("GITHUB_WEBHOOK_SECRET"))
    p.add_argument("--request-log", type=Path,
                   default=Path(os.environ["FAKEHUB_REQUEST_LOG"])
                   if os.environ.get("FAKEHUB_REQUEST_LOG") else None)
    return p


async def serve(args: argparse.Namespace) -> None:
    """Adopt the repositories, install the app on them, and serve until interrupted."""
    hub = FakeHub(repos_dir=args.repos.resolve(), app_id=args.app_id,
                  app_key=args.app_key.read_text(), webhook_url=args.webhook_url,
                  webhook_secret=args.webhook_secret, request_log=args.request_log)
    hub.set_base_url(f"http://{args.host}:{args.port}")
    repos = []
    for path in sorted(args.repos.glob("*/*.git")):
        repos.append(await hub.add_repo(path.parent.name, path.name.removesuffix(".git")))
    if repos:
        hub.add_installation(args.installation_id, repos[0].owner, repos)
    runner = web.AppRunner(build_app(hub))
    await runner.setup()
    await web.TCPSite(runner, args.host, args.port).start()
    print(f"fakehub on http://{args.host}:{args.port} serving {len(repos)} repositories",
          flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the double."""
    args = build_parser().parse_args(argv)
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
