"""An analysis session started by the API: the engine's pipeline, recorded, with review branches.

The pipeline is the one `selfmod run` drives; here it runs in the web app's event loop on the
app's database, and each approved suggestion gets its review branch `self-mod/<id>` as a commit
signed by the app (the codebase's own branch is only moved later, by an approved apply).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import uuid
from dataclasses import replace
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.analysis.repoconfig import load_repo_config
from bot.engine.gitrepo import CommitRequest
from bot.engine.pipeline import Pipeline, Progress, RunOptions, RunResult, export_snapshot
from bot.engine.record import SessionStore, running_marker
from bot.engine.report import build_run_json, session_outcome
from bot.errors import GitError
from bot.generate.llm import LLMProvider
from bot.learning.adapt import Learning
from bot.perf.sandboxed import PerfSandbox
from bot.sandbox.connect import DEFAULT_DOCKER_HOST, open_docker
from bot.sandbox.envimage import EnvImageBuilder
from bot.sandbox.recorder import StoreRecorder
from bot.sandbox.runner import SandboxRunner
from bot.store.models import Agent, ModificationSafety, ModificationSession, ModificationStatus
from bot.vcs.message import CommitFacts, build_commit_message, parse_commit_message
from bot.vcs.writer import SignedCommitWriter
from bot.web.api.bodies import AnalyzeBody
from bot.web.api.state import ApiState

log = logging.getLogger(__name__)

API_AGENT = "selfmod-api"
TRIGGER = "api"


async def create_session(sessionmaker: async_sessionmaker[AsyncSession], codebase: Path,
                         body: AnalyzeBody, head: str) -> uuid.UUID:
    """Insert the analysis session (status analyzing) for the API agent; return its id."""
    await SessionStore(sessionmaker).reap_abandoned()
    async with sessionmaker() as db:
        agent = (await db.execute(select(Agent).where(Agent.name == API_AGENT))).scalar()
        if agent is None:
            agent = Agent(name=API_AGENT, kind="api")
            db.add(agent)
            await db.flush()
        row = ModificationSession(agent_id=agent.id, codebase_path=str(codebase),
                                  modification_goals=list(body.goals),
                                  safety_level=ModificationSafety(body.safety_level),
                                  status=ModificationStatus.ANALYZING, commit_sha=head,
                                  trigger=TRIGGER, report=running_marker())
        db.add(row)
        await db.commit()
        return row.id


class ReviewBranchWriter:
    """Writes the pipeline's proposals as signed `Self-modification:` commits on review branches."""

    def __init__(self, signed: SignedCommitWriter, session_id: uuid.UUID) -> None:
        self._signed = signed
        self._session_id = session_id

    def write(self, repo: Path, request: CommitRequest) -> str:
        """Create `self-mod/<id>` with one signed commit; return its id."""
        return self._signed.write(repo, replace(request, message=build_review_message(
            request.message, request.branch.rsplit("/", 1)[-1], str(self._session_id))))


def build_review_message(message: str, modification_id: str, session_id: str) -> str:
    """Return the message as a self-modification message (kept when it already is one)."""
    try:
        parse_commit_message(message)
        return message
    except GitError:
        pass
    paragraphs = message.strip().split("\n\n")
    title, body = paragraphs[0], paragraphs[1:]
    # The engine's own trailers (Selfmod-Modification, Selfmod-Rule) are said again below.
    if body and all(line.startswith("Selfmod-") for line in body[-1].splitlines()):
        body = body[:-1]
    return build_commit_message(CommitFacts(modification_id, title, "\n\n".join(body),
                                            session_id=session_id))


def _progress(session_id: uuid.UUID) -> Progress:
    def report(stage: str, detail: str) -> None:
        log.info("analysis %s: %s: %s", session_id, stage, detail)

    return report


async def run_analysis(state: ApiState, sessionmaker: async_sessionmaker[AsyncSession],
                       session_id: uuid.UUID, repo: Path, head: str, body: AnalyzeBody) -> None:
    """Run the pipeline on commit head of repo and record everything under session_id."""
    settings = state.settings
    store = SessionStore(sessionmaker)
    result = RunResult(str(repo), head, body.goals, body.safety_level)
    result.session_id = str(session_id)
    async with store.running(session_id):
        try:
            with tempfile.TemporaryDirectory(prefix="selfmod-api-") as folder:
                base = Path(folder) / "base"
                base.mkdir()
                await asyncio.to_thread(export_snapshot, repo, head, base)
                config = replace(load_repo_config(base), goals=body.goals,
                                 safety_level=body.safety_level)
                url = settings.docker_hosts[0] if settings.docker_hosts else DEFAULT_DOCKER_HOST
                client = await asyncio.to_thread(open_docker, url)
                # The repository's test dependencies, installed once per dependency set.
                image = await EnvImageBuilder(client, engine_url=url,
                                              index_url=settings.pip_index_url).ensure(
                    base, settings.sandbox_image)
                runner = SandboxRunner(client, engine_url=url,
                                       recorder=StoreRecorder(sessionmaker))
                writer = ReviewBranchWriter(SignedCommitWriter(state.git, state.signing_key(),
                                                               state.author), session_id)
                pipeline = Pipeline(perf=PerfSandbox(runner, image.image,
                                                     session_id=session_id),
                                    writer=writer, store=store, llm=LLMProvider(settings),
                                    progress=_progress(session_id),
                                    cache_dir=settings.data_dir / "index-cache",
                                    learning=Learning(sessionmaker))
                await pipeline.run(repo, head, base, config, RunOptions(), result)
        except asyncio.CancelledError:
            await store.finish(session_id, ModificationStatus.CANCELLED, build_run_json(result),
                               None, error="cancelled: the server stopped")
            raise
        except Exception as exc:  # the one catch-all of a background analysis: recorded, logged
            log.exception("analysis %s failed", session_id)
            await store.finish(session_id, ModificationStatus.FAILED, build_run_json(result), None,
                               error=f"{exc.__class__.__name__}: {exc}"[:2000])
            return
    report = build_run_json(result)
    total = report["summary"]["suggestions"]
    status, error = session_outcome(report)
    await store.finish(session_id, status, report,
                       report["summary"]["approved"] / total if total else None, error=error)
