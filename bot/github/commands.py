"""The /selfmod comment commands: parse, check permission, react, reply, enqueue."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gidgethub import sansio
from gidgethub.abc import GitHubAPI
from gidgethub.routing import Router

from bot.github.context import ANALYZE_JOB, ROLLBACK_JOB, EventContext, repository_group
from bot.github.modifications import find_by_pull_request
from bot.github.permissions import is_writer
from bot.github.push import remember_repository
from bot.store.models import SuggestionStatus

router = Router()

COMMAND_PREFIX = "/selfmod"
HELP_TEXT = (
    "selfmod commands (write access needed):\n"
    "- `/selfmod analyze`: analyse the default branch now and propose changes\n"
    "- `/selfmod rollback <reason>`: on a merged self-mod pull request, open a revert\n"
    "- `/selfmod help`: this message"
)
COMMENTS_URL = "/repos/{owner}/{repo}/issues/{issue_number}/comments"
REACTIONS_URL = "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"


class CommandName(enum.StrEnum):
    """The commands selfmod understands."""

    ANALYZE = "analyze"
    ROLLBACK = "rollback"
    HELP = "help"


@dataclass(frozen=True)
class Command:
    """A well-formed command and its argument text."""

    name: CommandName
    argument: str


@dataclass(frozen=True)
class CommandError:
    """A comment addressed to selfmod that is not a valid command; `reply` says why."""

    reply: str


def parse_command(body: str) -> Command | CommandError | None:
    """Read the command on a comment's first line; None when the comment is not for selfmod."""
    lines = body.strip().splitlines()
    first = lines[0].strip() if lines else ""
    words = first.split(maxsplit=2)
    if not words or words[0].lower() != COMMAND_PREFIX:
        return None
    if len(words) == 1:
        return CommandError(f"No command given.\n\n{HELP_TEXT}")
    try:
        name = CommandName(words[1].lower())
    except ValueError:
        return CommandError(f"Unknown command `{words[1][:40]}`.\n\n{HELP_TEXT}")
    argument = words[2].strip() if len(words) > 2 else ""
    if name is CommandName.ROLLBACK and not argument:
        return CommandError("`/selfmod rollback` needs a reason, e.g. "
                            "`/selfmod rollback slower on large inputs`.")
    return Command(name, argument)


def is_bot(user: Mapping[str, Any]) -> bool:
    """Tell whether a comment author is a bot (bots never command selfmod)."""
    return user.get("type") == "Bot" or str(user.get("login", "")).endswith("[bot]")


def build_refusal(login: str, permission: str) -> str:
    """Return the reply to a user without write access."""
    return (f"@{login} only collaborators with write, maintain or admin access can run "
            f"selfmod commands (your access here: {permission}).")


@dataclass(frozen=True)
class _Where:
    """The comment a command came from, and the names to reach it with."""

    owner: str
    repo: str
    issue_number: int
    comment_id: int

    def reply_to(self) -> dict[str, Any]:
        return {"owner": self.owner, "repo": self.repo, "issue_number": self.issue_number,
                "comment_id": self.comment_id}


async def reply(gh: GitHubAPI, where: _Where, body: str) -> None:
    """Post a comment on the issue or pull request the command came from."""
    await gh.post(COMMENTS_URL, {"owner": where.owner, "repo": where.repo,
                                 "issue_number": where.issue_number}, data={"body": body})


async def react(gh: GitHubAPI, where: _Where, content: str) -> None:
    """Put a reaction on the command's comment."""
    await gh.post(REACTIONS_URL, {"owner": where.owner, "repo": where.repo,
                                  "comment_id": where.comment_id}, data={"content": content})


@router.register("issue_comment", action="created")
async def issue_comment_created(event: sansio.Event, ctx: EventContext) -> None:
    """Run a /selfmod command from a writer; tell anyone else why not."""
    comment = event.data["comment"]
    user = comment.get("user") or {}
    if is_bot(user):
        return
    parsed = parse_command(comment.get("body") or "")
    if parsed is None:
        return
    repository = event.data["repository"]
    where = _Where(repository["owner"]["login"], repository["name"],
                   event.data["issue"]["number"], comment["id"])
    gh = await ctx.github()
    permission = await ctx.permissions.permission(gh, where.owner, where.repo, user["login"],
                                                  now=ctx.now)
    if not is_writer(permission):
        await reply(gh, where, build_refusal(user["login"], permission))
        return
    if isinstance(parsed, CommandError):
        await reply(gh, where, parsed.reply)
        return
    await react(gh, where, "eyes")
    if parsed.name is CommandName.HELP:
        await reply(gh, where, HELP_TEXT)
    elif parsed.name is CommandName.ANALYZE:
        await _enqueue_analysis(event.data, ctx, where)
    else:
        await _enqueue_rollback(event.data, ctx, gh, where, parsed.argument, user["login"])


async def _enqueue_analysis(data: Mapping[str, Any], ctx: EventContext, where: _Where) -> None:
    repository = data["repository"]
    await remember_repository(ctx, data)
    payload = {
        "installation_id": (data.get("installation") or {}).get("id"),
        "repository_id": repository["id"], "full_name": repository["full_name"],
        "clone_url": repository.get("clone_url"),
        "default_branch": repository.get("default_branch"), "commit_sha": None,
        "trigger": "comment", "delivery_id": ctx.delivery_id, "reply_to": where.reply_to(),
    }
    await ctx.queue.enqueue(ANALYZE_JOB, payload, now=ctx.now, key=f"analyze:{ctx.delivery_id}",
                            group_key=repository_group(repository["id"]))


def build_rollback_refusal(is_pull_request: bool, status: str | None) -> str | None:
    """Say why a rollback cannot run here, or None when it can."""
    if not is_pull_request:
        return "`/selfmod rollback` works on a merged self-mod pull request, not on an issue."
    if status is None:
        return "This pull request was not opened by selfmod, so there is nothing to roll back."
    if status not in (SuggestionStatus.APPLIED.value, SuggestionStatus.PROPOSED.value):
        # Proposed (open, unmerged): the rollback closes it and deletes its branch.
        return f"This self-mod change is `{status}`, so there is nothing to roll back."
    return None


async def _enqueue_rollback(data: Mapping[str, Any], ctx: EventContext, gh: GitHubAPI,
                            where: _Where, reason: str, login: str) -> None:
    repository = data["repository"]
    is_pull_request = "pull_request" in data["issue"]
    modification = None
    if is_pull_request:
        modification = await find_by_pull_request(ctx.sessions, repository["id"],
                                                  where.issue_number)
    refusal = build_rollback_refusal(is_pull_request,
                                     modification.status if modification else None)
    if refusal is not None or modification is None:
        await reply(gh, where, refusal or "")
        return
    payload = {
        "modification_id": str(modification.id), "repository_id": repository["id"],
        "installation_id": (data.get("installation") or {}).get("id"),
        "full_name": repository["full_name"], "reason": reason, "automatic": False,
        "requested_by": login, "delivery_id": ctx.delivery_id, "reply_to": where.reply_to(),
    }
    # Keyed by delivery: after a failed rollback, commenting again is how the user retries.
    await ctx.queue.enqueue(ROLLBACK_JOB, payload, now=ctx.now,
                            key=f"rollback:{modification.id}:{ctx.delivery_id}",
                            group_key=repository_group(repository["id"]))
