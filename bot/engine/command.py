"""`selfmod run`: the whole pipeline on a local git repository."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from bot.analysis.repoconfig import load_repo_config
from bot.engine.gitrepo import head_commit, open_repository
from bot.engine.pipeline import Pipeline, Progress, RunOptions, RunResult, export_snapshot
from bot.engine.record import SessionStore
from bot.engine.report import build_run_json, render_text, session_outcome
from bot.errors import AnalysisError
from bot.generate.llm import LLMProvider
from bot.learning.adapt import Learning
from bot.logs import bind_log_context
from bot.metrics import CountingRecorder, process_metrics
from bot.perf.sandboxed import PerfSandbox
from bot.sandbox.envimage import EnvImageBuilder
from bot.sandbox.hosts import DEFAULT_WAIT_SECONDS, engine_urls, process_hosts
from bot.sandbox.limits import SandboxLimits
from bot.sandbox.recorder import StoreRecorder
from bot.sandbox.runner import remove_orphans
from bot.sandbox.session import SandboxSession
from bot.settings import Settings
from bot.store.db import create_engine, create_sessionmaker, is_sqlite
from bot.store.migrate import current_revision, ensure_current, upgrade
from bot.store.models import ModificationStatus
from bot.vcs.safegit import SafeGit
from bot.vcs.writer import SignedCommitWriter


class TerminalProgress:
    """Live progress on a terminal: elapsed time, stage, and what runs now."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._started = time.monotonic()

    def __call__(self, stage: str, detail: str) -> None:
        """Write one line about the current step."""
        elapsed = time.monotonic() - self._started
        self._stream.write(f"[{elapsed:6.1f}s] {stage:<13} {detail}\n")
        self._stream.flush()


def _quiet(stage: str, detail: str) -> None:
    """Say nothing (JSON output, or not a terminal)."""


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run the pipeline on a local repository and print the report."""
    progress: Progress = _quiet if args.json or not sys.stderr.isatty() else (
        TerminalProgress(sys.stderr))
    options = RunOptions(goals=tuple(args.goals) if args.goals else None,
                         safety_level=args.safety_level)
    report = asyncio.run(run_local(Path(args.path), options, settings, progress=progress))
    print(json.dumps(report, indent=2) if args.json else render_text(report))
    return 0 if report["status"] in ("completed", "no_tests") else 1


async def run_local(path: Path, options: RunOptions, settings: Settings, *,
                    progress: Progress = _quiet, llm: LLMProvider | None = None,
                    perf_factory: Any = None) -> dict[str, Any]:
    """Run the pipeline on the repository at path, record it, and return the JSON report."""
    repo = path.resolve()
    if not repo.is_dir():
        raise AnalysisError(f"{path} is not a folder")
    with SafeGit.create() as git:
        head = head_commit(git, open_repository(git, repo))
        return await _run_with_git(git, repo, head, options, settings, progress, llm,
                                   perf_factory)


async def _run_with_git(git: SafeGit, repo: Path, head: str, options: RunOptions,
                        settings: Settings, progress: Progress, llm: LLMProvider | None,
                        perf_factory: Any) -> dict[str, Any]:
    started = time.perf_counter()
    engine = create_engine(settings.database_url)
    try:
        await _ready_schema(engine, settings.database_url)
        store = SessionStore(create_sessionmaker(engine))
        with tempfile.TemporaryDirectory(prefix="selfmod-run-") as folder:
            base = Path(folder) / "base"
            base.mkdir()
            export_snapshot(repo, head, base, git)
            config = load_repo_config(base)
            if options.goals:
                config = replace(config, goals=options.goals)
            if options.safety_level:
                config = replace(config, safety_level=options.safety_level)
            result = RunResult(str(repo), head, config.goals, config.safety_level)
            session_id = await store.start(str(repo), list(config.goals), config.safety_level,
                                           head)
            result.session_id = str(session_id)
            bind_log_context(session_id=result.session_id)
            async with store.running(session_id):
                # The least busy Docker engine that answers (SELFMOD_DOCKER_HOSTS, DOCKER_HOST).
                hosts = process_hosts(engine_urls(settings.docker_hosts))
                url, client = await asyncio.to_thread(hosts.pick, wait=DEFAULT_WAIT_SECONDS)
                # What a killed earlier run on this machine left there goes now.
                await asyncio.to_thread(remove_orphans, client)
                progress("setup", "the repository's environment image")
                image = await EnvImageBuilder(client, engine_url=url,
                                              index_url=settings.pip_index_url).ensure(
                    base, settings.sandbox_image)
                # One warm container for the whole run of this one repository.
                sandbox = SandboxSession(client, engine_url=url, image=image.image,
                                         limits=SandboxLimits(), recorder=CountingRecorder(
                                             StoreRecorder(create_sessionmaker(engine))))
                async with sandbox:
                    perf = (perf_factory or PerfSandbox)(sandbox, image.image,
                                                         session_id=session_id)
                    pipeline = Pipeline(perf=perf, store=store, progress=progress,
                                        writer=SignedCommitWriter.from_settings(settings, git),
                                        llm=llm if llm is not None else LLMProvider(settings),
                                        cache_dir=settings.data_dir / "index-cache",
                                        learning=Learning(create_sessionmaker(engine)))
                    result.stages["setup"] += time.perf_counter() - started
                    try:
                        await pipeline.run(repo, head, base, config, options, result)
                    except BaseException as exc:
                        process_metrics().count_session(ModificationStatus.FAILED.value)
                        await store.finish(session_id, ModificationStatus.FAILED,
                                           build_run_json(result), None,
                                           error=f"{exc.__class__.__name__}: {exc}"[:2000])
                        raise
                report = build_run_json(result)
                approved = report["summary"]["approved"]
                total = report["summary"]["suggestions"]
                status, error = session_outcome(report)
                process_metrics().count_session(status.value)
                await store.finish(session_id, status, report,
                                   approved / total if total else None, error=error)
        return report
    finally:
        await engine.dispose()


async def _ready_schema(engine: Any, url: str) -> None:
    """Create the embedded SQLite schema on first use; elsewhere ask for `selfmod db upgrade`."""
    if is_sqlite(url) and await current_revision(engine) is None:
        await upgrade(engine)
        return
    await ensure_current(engine)
