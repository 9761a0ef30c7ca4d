"""The `selfmod` command: one entry point, a subcommand per job."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from bot.errors import ConfigError, SelfmodError
from bot.settings import Settings, load_settings

EXIT_USAGE = 2

Command = Callable[[argparse.Namespace, Settings], int]


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand and its help."""
    parser = argparse.ArgumentParser(
        prog="selfmod",
        description="Propose, prove in a sandbox, and open signed pull requests "
        "that improve a Python codebase.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_serve(sub)
    _add_worker(sub)
    _add_run(sub)
    _add_analyze(sub)
    _add_sandbox(sub)
    _add_verify(sub)
    _add_token(sub)
    _add_db(sub)
    _add_demo(sub)
    return parser


def _add_serve(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the web app: webhooks, REST API, health, metrics")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    p.set_defaults(handler=_lazy("bot.web.app", "serve_command"))


def _add_worker(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("worker", help="run the job runner that claims and executes queued work")
    p.add_argument("--id", dest="worker_id", default=None, help="worker name (default host:pid)")
    p.add_argument("--once", action="store_true", help="exit when the queue is empty")
    p.set_defaults(handler=_lazy("bot.engine.worker", "worker_command"))


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="run the whole pipeline on a local git repository")
    p.add_argument("path", help="the repository's folder")
    _add_goal_options(p)
    p.add_argument("--json", action="store_true", help="print only the JSON report")
    p.set_defaults(handler=_lazy("bot.engine.command", "run_command"))


def _add_analyze(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("analyze", help="print the index, hot spots, conventions and suggestions")
    p.add_argument("path", help="the codebase's folder")
    _add_goal_options(p)
    p.add_argument("--json", action="store_true", help="print the documented JSON summary")
    p.set_defaults(handler=_lazy("bot.analysis.command", "analyze_command"))


def _add_goal_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--goals", nargs="+", default=None, metavar="GOAL",
        choices=["improve_performance", "fix_bugs", "add_features", "refactor"],
        help="what to look for (default: from the repository's config)",
    )
    p.add_argument(
        "--safety-level", default=None, choices=["conservative", "moderate", "aggressive"],
        help="score threshold: conservative 0.7, moderate 0.5, aggressive 0.3",
    )


def _add_sandbox(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sandbox", help="run commands in the hardened Docker sandbox")
    ssub = p.add_subparsers(dest="sandbox_command", metavar="ACTION", required=True)
    e = ssub.add_parser("exec", help="run CMD in the sandbox with DIR as its work folder")
    e.add_argument("--workdir", required=True, help="the writable work folder (current dir inside)")
    e.add_argument("--copy", action="store_true", help="work on a fresh copy of DIR instead")
    e.add_argument("--timeout", type=float, default=None, help="wall-clock limit in seconds")
    e.add_argument("--memory", default=None, help="memory limit, e.g. 512m")
    e.add_argument("--image", default=None, help="image to run (default SELFMOD_SANDBOX_IMAGE)")
    e.add_argument("--json", action="store_true", help="print the whole result as JSON")
    e.add_argument("cmd", nargs=argparse.REMAINDER, help="-- then the command and its arguments")
    e.set_defaults(handler=_lazy("bot.sandbox.command", "exec_command"))
    b = ssub.add_parser("build-image", help="build the sandbox base image with no registry")
    b.add_argument("--tag", default=None, help="image name (default SELFMOD_SANDBOX_IMAGE)")
    b.add_argument("--force", action="store_true", help="rebuild even when the image exists")
    b.set_defaults(handler=_lazy("bot.sandbox.command", "build_image_command"))
    v = ssub.add_parser("build-env", help="build a repository's environment image (networked)")
    v.add_argument("--repo", default=".", help="the repository whose dependencies to install")
    v.add_argument("--setup", default=None, help="a setup command to run in the build")
    v.add_argument("--image", default=None, help="base image (default SELFMOD_SANDBOX_IMAGE)")
    v.set_defaults(handler=_lazy("bot.sandbox.command", "build_env_command"))


def _add_verify(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("verify", help="check a commit's Selfmod-Signature offline")
    p.add_argument("commit", nargs="?", help="commit id (in --repo)")
    p.add_argument("--repo", default=".", help="the git repository (default: here)")
    p.add_argument("--public-key", action="store_true",
                   help="print the app's public key and an allowed-signers line")
    p.set_defaults(handler=_lazy("bot.vcs.command", "verify_command"))


def _add_token(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("token", help="mint an approval token for POST /self-modify/apply")
    p.add_argument("--analysis-id", required=True, help="the analysis session the token approves")
    p.add_argument("--approver", required=True, help="the approver's name")
    p.add_argument("--ttl", default="15m", help="lifetime, e.g. 90s, 15m, 2h (default 15m)")
    p.set_defaults(handler=_lazy("bot.web.approval", "token_command"))


def _add_db(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("db", help="database schema management")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    u = dsub.add_parser("upgrade", help="create or upgrade the schema to the newest revision")
    u.set_defaults(handler=_lazy("bot.store.migrate", "upgrade_command"))


def _add_demo(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="the whole loop against a local GitHub double")
    p.add_argument("--json", action="store_true", help="print the steps as one JSON object")
    p.set_defaults(handler=_lazy("bot.engine.demo", "demo_command"))


def _lazy(module: str, name: str) -> Command:
    """Import a subcommand's module only when it runs, so `--help` stays fast."""

    def run(args: argparse.Namespace, settings: Settings) -> int:
        import importlib

        command: Command = getattr(importlib.import_module(module), name)
        return command(args, settings)

    return run


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selfmod command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        handler: Command = args.handler
        return handler(args, settings)
    except ConfigError as exc:
        print(f"selfmod: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SelfmodError as exc:
        print(f"selfmod {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
