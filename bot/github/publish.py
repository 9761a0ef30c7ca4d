"""Opening a self-mod pull request: signed commit, branch, pull request, labels, check run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gidgethub.abc import GitHubAPI

from bot.errors import GitHubError
from bot.github.gitdata import (
    Change,
    RepoRef,
    branch_head,
    create_signed_commit,
    create_tree,
    get_commit_tree,
    point_branch,
)
from bot.github.proposal import (
    CHECK_NAME,
    ProposalFacts,
    build_body,
    build_check_output,
    build_impact,
    build_labels,
    build_title,
)
from bot.vcs.keys import SigningKey
from bot.vcs.message import CommitFacts, build_branch_name


class BaseMovedError(GitHubError):
    """The default branch changed the files a suggestion changes since the analysis."""


@dataclass(frozen=True)
class Published:
    """Where a proposal went."""

    modification_id: str
    branch: str
    base: str
    commit: str
    number: int
    url: str


def build_commit_facts(facts: ProposalFacts) -> CommitFacts:
    """Return what the proposal's commit message says."""
    return CommitFacts(modification_id=facts.modification_id, title=build_title(facts),
                       reasoning=facts.reasoning, session_id=facts.session_id,
                       safety_score=min(1.0, max(0.0, facts.safety_score)),
                       impact=build_impact(facts))


async def choose_base(gh: GitHubAPI, where: RepoRef, analysed: str,
                      paths: Sequence[str]) -> str:
    """Return the commit to build on: the default branch's head when it moved elsewhere."""
    head = await branch_head(gh, where, where.default_branch)
    if head is None or head == analysed:
        return analysed
    comparison = await gh.getitem(where.api("/compare/{basehead}"),
                                  where.args(basehead=f"{analysed}...{head}"))
    moved = {f["filename"] for f in comparison.get("files") or []} & set(paths)
    if moved:
        raise BaseMovedError("the default branch changed " + ", ".join(sorted(moved)) +
                             " since the analysis; the next analysis will look again")
    return head


async def publish_proposal(gh: GitHubAPI, where: RepoRef, key: SigningKey,
                           facts: ProposalFacts, changes: Sequence[Change], *, analysed: str,
                           bot_login: str, extra_labels: Sequence[str] = (),
                           expected_tree: str | None = None) -> Published:
    """Commit the change through the Git Data API and open its pull request."""
    base = await choose_base(gh, where, analysed, [c.path for c in changes])
    tree = await create_tree(gh, where, await get_commit_tree(gh, where, base), changes)
    if base == analysed and expected_tree is not None and tree != expected_tree:
        raise GitHubError(f"GitHub built tree {tree[:12]} but the workspace computed "
                          f"{expected_tree[:12]} for the same change")
    commit = await create_signed_commit(gh, where, key, tree=tree, parent=base,
                                        facts=build_commit_facts(facts))
    branch = build_branch_name(facts.modification_id)
    await point_branch(gh, where, branch, commit, bot_login=bot_login)
    pull = await open_pull(gh, where, branch, build_title(facts), build_body(facts))
    await gh.post(where.api("/issues/{issue_number}/labels"),
                  where.args(issue_number=pull["number"]),
                  data={"labels": build_labels(facts, extra_labels)})
    await gh.post(where.api("/check-runs"), where.args(), data={
        "name": CHECK_NAME, "head_sha": commit, "status": "completed",
        "conclusion": "success" if facts.safety_score >= 0.7 else "neutral",
        "output": build_check_output(facts)})
    return Published(facts.modification_id, branch, base, commit, int(pull["number"]),
                     str(pull["html_url"]))


async def open_pull(gh: GitHubAPI, where: RepoRef, branch: str, title: str,
                    body: str) -> dict[str, Any]:
    """Open a pull request from branch, or return the one already open from it."""
    async for pull in gh.getiter(where.api("/pulls{?state,head,per_page}"),
                                 where.args(state="open", head=f"{where.owner}:{branch}",
                                            per_page=100)):
        if pull["head"]["ref"] == branch:
            return dict(pull)
    created: dict[str, Any] = await gh.post(where.api("/pulls"), where.args(), data={
        "title": title, "head": branch, "base": where.default_branch, "body": body})
    return created


async def list_open_self_mod_pulls(gh: GitHubAPI, where: RepoRef) -> list[dict[str, Any]]:
    """Return the open pull requests from `self-mod/` branches (reverts included)."""
    found = []
    async for pull in gh.getiter(where.api("/pulls{?state,per_page}"),
                                 where.args(state="open", per_page=100)):
        if str(pull["head"]["ref"]).startswith("self-mod/"):
            found.append(dict(pull))
    return found
