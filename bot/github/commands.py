"""The /selfmod comment commands: parse, check permission, react, reply, enqueue."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gidgethub import sansio
from gidgethub.abc import GitHubAPI
from gidgethub.routing import Router

from bot.github.context import ANALYZE_JOB, ROLLBACK_JOB, EventContext, repository_group
from bot.github.dashboard import DASHBOARD_JOB, build_dashboard_payload
from bot.github.modifications import find_by_pull_request
from bot.github.permissions import is_writer
from bot.github.push import remember_repository
from bot.learning.feedback import record_feedback, refresh_statistics, set_ignored
from bot.learning.profile import Scope
from bot.store.models import SuggestionStatus

router = Router()

COMMAND_PREFIX = "/selfmod"
HELP_TEXT = (
    "selfmod commands (write access needed):\n"
    "- `/selfmod analyze`: analyse the default branch now and propose changes\n"
    "- `/selfmod rollback <reason>`: on a merged self-mod pull request, open a revert\n"
    "- `/selfmod rate <1-5> [comment]`: on a self-mod pull request, rate the change\n"
    "- `/selfmod ignore <rule>` / `/selfmod unignore <rule>`: stop or resume a rule here\n"
    "- `/selfmod help`: this message"
)
COMMENTS_URL = "/repos/{owner}/{repo}/issues/{issue_number}/comments"
REACTIONS_URL = "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"


class CommandName(enum.StrEnum):
    """The commands selfmod understands."""

    ANALYZE = "analyze"
    ROLLBACK = "rollback"
    RATE = "rate"
    IGNORE = "ignore"
    UNIGNORE = "unignore"
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
    if name is CommandName.RATE and not _RATING.match(argument):
        return CommandError("`/selfmod rate` needs a rating from 1 to 5 and maybe a comment, "
                            "e.g. `/selfmod rate 2 hard to read`.")
    if name in (CommandName.IGNORE, CommandName.UNIGNORE) and not _RULE.fullmatch(argument):
        return CommandError(f"`/selfmod {name.value}` needs one rule id, e.g. "
                            f"`/selfmod {name.value} append-comprehension`.")
    return Command(name, argument)


_RATING = re.compile(r"^[1-5](\s|$)")
_RULE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,99}")


def is_bot(user: Mapping[str, Any]) -> bool:
    """Tell whether a comment author is a bot (bots never command selfmod)."""
    return user.get("type") == "Bot" or str(user.get("login", "")).endswith("[bot]")


def build_refusal(login: str, permission: str) -> str:
    """Return the reply to a user without write access."""
    return (f"@{login} only collaborators with write, maintain or admin access can run "
            f"selfmod commands (your access here: {permission}).")


@dataclass(frozen=True)
class _Where:
    """The comment a command came from, its names, and the payload's URLs to reach it."""

    owner: str
    repo: str
    issue_number: int
    comment_id: int
    repository_url: str | None = None
    comments_url: str | None = None
    comment_url: str | None = None

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> _Where:
        """Read the comment's place from an `issue_comment` payload."""
        repository, issue, comment = data["repository"], data["issue"], data["comment"]
        return cls(repository["owner"]["login"], repository["name"], issue["number"],
                   comment["id"], repository.get("url"), issue.get("comments_url"),
                   comment.get("url"))

    def vars(self) -> dict[str, Any]:
        return {"owner": self.owner, "repo": self.repo, "issue_number": self.issue_number,
                "comment_id": self.comment_id}

    def reply_to(self) -> dict[str, Any]:
        return {**self.vars(), "comments_url": self.comments_url}


async def reply(gh: GitHubAPI, where: _Where, body: str) -> None:
    """Post a comment on the issue or pull request the command came from."""
    await gh.post(where.comments_url or COMMENTS_URL, where.vars(), data={"body": body})


async def react(gh: GitHubAPI, where: _Where, content: str) -> None:
    """Put a reaction on the command's comment."""
    url = where.comment_url + "/reactions" if where.comment_url else REACTIONS_URL
    await gh.post(url, where.vars(), data={"content": content})


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
    where = _Where.of(event.data)
    gh = await ctx.github()
    permission = await ctx.permissions.permission(gh, where.owner, where.repo, user["login"],
                                                  now=ctx.now, url=where.repository_url)
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
    elif parsed.name is CommandName.RATE:
        await _rate(event.data, ctx, gh, where, parsed.argument, user["login"])
    elif parsed.name in (CommandName.IGNORE, CommandName.UNIGNORE):
        await _ignore(event.data, ctx, gh, where, parsed, user["login"])
    else:
        await _enqueue_rollback(event.data, ctx, gh, where, parsed.argument, user["login"])


async def _enqueue_analysis(data: Mapping[str, Any], ctx: EventContext, where: _Where) -> None:
    repository = data["repository"]
    await remember_repository(ctx, data)
    payload = {
        "installation_id": (data.get("installation") or {}).get("id"),
        "repository_id": repository["id"], "full_name": repository["full_name"],
        "repository_url": repository.get("url"), "clone_url": repository.get("clone_url"),
        "default_branch": repository.get("default_branch"), "commit_sha": None,
        "trigger": "comment", "delivery_id": ctx.delivery_id, "reply_to": where.reply_to(),
    }
    await ctx.queue.enqueue(ANALYZE_JOB, payload, now=ctx.now, key=f"analyze:{ctx.delivery_id}",
                            group_key=repository_group(repository["id"]))


async def _rate(data: Mapping[str, Any], ctx: EventContext, gh: GitHubAPI, where: _Where,
                argument: str, login: str) -> None:
    repository = data["repository"]
    modification = None
    if "pull_request" in data["issue"]:
        modification = await find_by_pull_request(ctx.sessions, repository["id"],
                                                  where.issue_number)
    if modification is None:
        await reply(gh, where, "`/selfmod rate` works on a self-mod pull request.")
        return
    rating, _, comment = argument.partition(" ")
    await record_feedback(ctx.sessions, modification.id, source="rate", rating=int(rating),
                          body=comment.strip() or None, author=login,
                          repository_id=repository["id"])
    await refresh_statistics(ctx.sessions, Scope(repository["id"]), now=ctx.now)
    await reply(gh, where, f"Thanks @{login}: rated {rating}/5; selfmod learns from it in this "
                "repository.")


async def _ignore(data: Mapping[str, Any], ctx: EventContext, gh: GitHubAPI, where: _Where,
                  command: Command, login: str) -> None:
    rule_id = command.argument
    known = known_rule_ids()
    if rule_id not in known:
        await reply(gh, where, f"There is no rule `{rule_id}`. Rules: "
                    + ", ".join(f"`{r}`" for r in sorted(known)) + ".")
        return
    repository = data["repository"]
    ignored = command.name is CommandName.IGNORE
    await set_ignored(ctx.sessions, Scope(repository["id"]), rule_id, ignored=ignored, by=login,
                      now=ctx.now)
    await ctx.queue.enqueue(DASHBOARD_JOB, build_dashboard_payload(data), now=ctx.now,
                            key=f"dashboard:{ctx.delivery_id}",
                            group_key=repository_group(repository["id"]))
    await reply(gh, where, f"Rule `{rule_id}` " + (
        "will not propose changes in this repository until `/selfmod unignore "
        f"{rule_id}`." if ignored else "may propose changes here again; its earlier "
        "outcomes no longer count against it."))


def known_rule_ids() -> frozenset[str]:
    """Return the id of every rule selfmod can propose with."""
    from bot.generate.generator import RENAME_RULE_ID
    from bot.generate.llm import LLM_RULE_ID
    from bot.generate.rules import CATALOGUE

    return frozenset({r.info.rule_id for r in CATALOGUE} | {RENAME_RULE_ID, LLM_RULE_ID})


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
    # The reason is feedback even before the revert is merged (or if it cannot be made).
    await record_feedback(ctx.sessions, modification.id, source="rollback", rating=-1,
                          body=reason, author=login, repository_id=repository["id"])
    payload = {
        "modification_id": str(modification.id), "repository_id": repository["id"],
        "installation_id": (data.get("installation") or {}).get("id"),
        "full_name": repository["full_name"], "repository_url": repository.get("url"),
        "reason": reason, "automatic": False,
        "requested_by": login, "delivery_id": ctx.delivery_id, "reply_to": where.reply_to(),
    }
    # Keyed by delivery: after a failed rollback, commenting again is how the user retries.
    await ctx.queue.enqueue(ROLLBACK_JOB, payload, now=ctx.now,
                            key=f"rollback:{modification.id}:{ctx.delivery_id}",
                            group_key=repository_group(repository["id"]))
