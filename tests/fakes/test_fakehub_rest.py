"""The double's REST endpoints, driven through gidgethub as the app drives them."""

# ruff: noqa: F811
from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import gidgethub
import pytest
from fakes.github import (  # noqa: F401
    INSTALLATION_ID,
    app_private_key,
    fakehub,
    github_request_log,
    installation_client,
    seed_main,
)
from gidgethub.abc import GitHubAPI

from bot.fakehub.server import FakeHub
from bot.fakehub.state import Repo
from bot.github.retry import RetryingGitHubAPI

R = "/repos/o/r"


@dataclass
class Hub:
    """The double, one repository with one commit on main, and a client as the installation."""

    hub: FakeHub
    repo: Repo
    gh: GitHubAPI
    root: str

    async def commit(self, files: dict[str, str], parent: str, **extra: Any) -> str:
        """Commit files on top of parent through the Git Data API; return the commit."""
        base = (await self.gh.getitem(R + "/git/commits/" + parent))["tree"]["sha"]
        entries = [{"path": p, "mode": "100644", "type": "blob", "content": c}
                   for p, c in files.items()]
        tree = await self.gh.post(R + "/git/trees", data={"base_tree": base, "tree": entries})
        made = await self.gh.post(R + "/git/commits", data={
            "message": "change", "tree": tree["sha"], "parents": [parent], **extra})
        return str(made["sha"])


@pytest.fixture
async def hub(fakehub: FakeHub) -> AsyncIterator[Hub]:
    """Return the double with repository o/r holding a.txt on main."""
    repo = await fakehub.add_repo("o", "r", installation_id=INSTALLATION_ID)
    async with aiohttp.ClientSession() as session:
        gh = installation_client(fakehub, session)
        yield Hub(fakehub, repo, gh, await seed_main(gh, R, {"a.txt": "one\n"}))


async def _status(hub: Hub, call: Any) -> int:
    """Return the error status of a call made off the contract log.

    Bad requests sent on purpose break the contract, which the session's log would report.
    """
    log, hub.hub.request_log = hub.hub.request_log, None
    try:
        with pytest.raises(gidgethub.HTTPException) as raised:
            await call
    finally:
        hub.hub.request_log = log
    return int(raised.value.status_code)


class TestGitData:
    async def test_blob_bytes_are_kept(self, hub: Hub) -> None:
        """A base64 blob and a utf-8 blob store their exact bytes."""
        raw = b"\x00\xffbinary\r\n"
        blob = await hub.gh.post(R + "/git/blobs", data={
            "content": base64.b64encode(raw).decode(), "encoding": "base64"})
        text = await hub.gh.post(R + "/git/blobs", data={"content": "héllo"})
        tree = await hub.gh.post(R + "/git/trees", data={"tree": [
            {"path": "b.bin", "mode": "100644", "type": "blob", "sha": blob["sha"]},
            {"path": "t.txt", "mode": "100644", "type": "blob", "sha": text["sha"]}]})
        listed = {e["path"]: e["sha"] for e in tree["tree"]}
        assert listed == {"b.bin": blob["sha"], "t.txt": text["sha"]}
        assert blob["url"].startswith(hub.hub.base_url)

    async def test_blob_without_content_is_422(self, hub: Hub) -> None:
        """A blob request without content is refused."""
        assert await _status(hub, hub.gh.post(R + "/git/blobs", data={"encoding": "utf-8"})) == 422

    async def test_tree_on_a_base_adds_and_deletes(self, hub: Hub) -> None:
        """A tree on a base tree adds paths, and an entry with sha null deletes one."""
        base = (await hub.gh.getitem(R + "/git/commits/" + hub.root))["tree"]["sha"]
        tree = await hub.gh.post(R + "/git/trees", data={"base_tree": base, "tree": [
            {"path": "d/b.txt", "mode": "100644", "type": "blob", "content": "two\n"},
            {"path": "a.txt", "mode": "100644", "type": "blob", "sha": None}]})
        got = await hub.gh.getitem(R + "/git/trees/" + tree["sha"] + "?recursive=1")
        assert [e["path"] for e in got["tree"] if e["type"] == "blob"] == ["d/b.txt"]
        top = await hub.gh.getitem(R + "/git/trees/" + tree["sha"])
        assert [(e["path"], e["type"]) for e in top["tree"]] == [("d", "tree")]

    async def test_tree_errors(self, hub: Hub) -> None:
        """A tree without entries, or on a base that does not exist, is refused; 404 to read."""
        assert await _status(hub, hub.gh.post(R + "/git/trees", data={"base_tree": "x"})) == 422
        assert await _status(hub, hub.gh.post(R + "/git/trees", data={
            "base_tree": "0" * 40, "tree": [{"path": "x", "mode": "100644", "type": "blob",
                                             "content": "x"}]})) == 422
        assert await _status(hub, hub.gh.getitem(R + "/git/trees/" + "0" * 40)) == 404

    async def test_commit_without_author_is_the_bots_and_verified(self, hub: Hub) -> None:
        """A commit with no author or committer is the app's bot's and Verified."""
        sha = await hub.commit({"a.txt": "two\n"}, hub.root)
        commit = await hub.gh.getitem(R + "/git/commits/" + sha)
        assert commit["author"]["name"] == "agent-self-modify[bot]"
        assert commit["verification"]["verified"] is True
        assert [p["sha"] for p in commit["parents"]] == [hub.root]
        assert commit["message"] == "change"

    async def test_commit_with_an_author_is_not_verified(self, hub: Hub) -> None:
        """A commit naming its own author is not signed by GitHub."""
        sha = await hub.commit({"a.txt": "two\n"}, hub.root, author={
            "name": "Alice", "email": "alice@example.com", "date": "2024-01-01T00:00:00Z"})
        commit = await hub.gh.getitem(R + "/git/commits/" + sha)
        assert commit["author"]["name"] == "Alice"
        assert commit["verification"] == {**commit["verification"], "verified": False,
                                          "reason": "unsigned"}

    async def test_commit_errors(self, hub: Hub) -> None:
        """A commit without a message, or of a missing tree, is refused; unknown shas 404."""
        assert await _status(hub, hub.gh.post(R + "/git/commits", data={"tree": "x"})) == 422
        assert await _status(hub, hub.gh.post(R + "/git/commits", data={
            "message": "m", "tree": "0" * 40, "parents": []})) == 422
        assert await _status(hub, hub.gh.getitem(R + "/git/commits/" + "0" * 40)) == 404

    async def test_refs_create_update_delete(self, hub: Hub) -> None:
        """A branch is created, fast-forwarded, refused a rewind unless forced, deleted."""
        one = await hub.commit({"a.txt": "two\n"}, hub.root)
        two = await hub.commit({"a.txt": "three\n"}, one)
        ref = "/git/refs/heads%2Ffeat"
        created = await hub.gh.post(R + "/git/refs", data={"ref": "refs/heads/feat",
                                                           "sha": one})
        assert created["object"]["sha"] == one
        assert await _status(hub, hub.gh.post(R + "/git/refs", data={
            "ref": "refs/heads/feat", "sha": one})) == 422
        await hub.gh.patch(R + ref, data={"sha": two})
        assert await _status(hub, hub.gh.patch(R + ref, data={"sha": hub.root})) == 422
        await hub.gh.patch(R + ref, data={"sha": hub.root, "force": True})
        got = await hub.gh.getitem(R + "/git/ref/heads%2Ffeat")
        assert (got["ref"], got["object"]["sha"]) == ("refs/heads/feat", hub.root)
        await hub.gh.delete(R + ref)
        assert await _status(hub, hub.gh.getitem(R + "/git/ref/heads%2Ffeat")) == 404
        assert await _status(hub, hub.gh.delete(R + ref)) == 422

    async def test_ref_errors(self, hub: Hub) -> None:
        """Refs outside refs/, to missing objects, or missing refs are refused."""
        assert await _status(hub, hub.gh.post(R + "/git/refs", data={"ref": "feat",
                                                               "sha": hub.root})) == 422
        assert await _status(hub, hub.gh.post(R + "/git/refs", data={
            "ref": "refs/heads/x", "sha": "0" * 40})) == 422
        assert await _status(hub, hub.gh.patch(R + "/git/refs/heads%2Fnone",
                                          data={"sha": hub.root})) == 422
        assert await _status(hub, hub.gh.patch(R + "/git/refs/heads%2Fmain",
                                          data={"sha": "0" * 40})) == 422

    async def test_ref_changes_send_push_webhooks(self, hub: Hub) -> None:
        """Creating and moving a branch sends the push webhooks GitHub would."""
        one = await hub.commit({"a.txt": "two\n"}, hub.root)
        await hub.gh.post(R + "/git/refs", data={"ref": "refs/heads/feat", "sha": hub.root})
        await hub.gh.patch(R + "/git/refs/heads%2Ffeat", data={"sha": one})
        pushes = [(d["payload"]["ref"], d["payload"]["after"])
                  for d in hub.hub.state.deliveries if d["event"] == "push"]
        assert pushes[-2:] == [("refs/heads/feat", hub.root), ("refs/heads/feat", one)]


class TestHistory:
    async def test_compare_lists_commits_and_files(self, hub: Hub) -> None:
        """A comparison says ahead/behind and lists the head's commits and changed files."""
        one = await hub.commit({"a.txt": "two\n", "n.txt": "new\n"}, hub.root)
        await hub.gh.post(R + "/git/refs", data={"ref": "refs/heads/feat", "sha": one})
        data = await hub.gh.getitem(R + "/compare/main...feat")
        assert (data["status"], data["ahead_by"], data["behind_by"]) == ("ahead", 1, 0)
        assert [c["sha"] for c in data["commits"]] == [one]
        assert data["commits"][0]["author"]["login"] == "agent-self-modify[bot]"
        assert {(f["filename"], f["status"]) for f in data["files"]} == {
            ("a.txt", "modified"), ("n.txt", "added")}
        same = await hub.gh.getitem(R + "/compare/main...main")
        assert (same["status"], same["files"]) == ("identical", [])
        assert (await hub.gh.getitem(R + f"/compare/feat...{hub.root}"))["status"] == "behind"

    async def test_compare_of_unknown_refs_is_404(self, hub: Hub) -> None:
        """Comparing a missing branch, or without `...`, is 404."""
        assert await _status(hub, hub.gh.getitem(R + "/compare/main...nope")) == 404
        assert await _status(hub, hub.gh.getitem(R + "/compare/main")) == 404

    async def test_pull_commits_files_and_reviews(self, hub: Hub) -> None:
        """A pull request's commits, files and reviews are listed."""
        one = await hub.commit({"b.txt": "b\n"}, hub.root)
        await hub.gh.post(R + "/git/refs", data={"ref": "refs/heads/feat", "sha": one})
        pull = await hub.gh.post(R + "/pulls", data={"title": "t", "head": "feat",
                                                     "base": "main", "body": "b"})
        await hub.hub.review(hub.repo, pull["number"], "alice", "approved", "fine")
        number = str(pull["number"])
        assert [c["sha"] for c in await hub.gh.getitem(R + f"/pulls/{number}/commits")] == [one]
        files = await hub.gh.getitem(R + f"/pulls/{number}/files")
        assert [(f["filename"], f["status"], f["additions"]) for f in files] == [
            ("b.txt", "added", 1)]
        [review] = await hub.gh.getitem(R + f"/pulls/{number}/reviews")
        assert (review["state"], review["body"], review["user"]["login"]) == (
            "APPROVED", "fine", "alice")
        assert await _status(hub, hub.gh.getitem(R + "/pulls/99/commits")) == 404

    async def test_contents_at_a_ref(self, hub: Hub) -> None:
        """A file's contents come base64-encoded, at the default branch or a given ref."""
        one = await hub.commit({"a.txt": "two\n"}, hub.root)
        now = await hub.gh.getitem(R + "/contents/a.txt")
        assert base64.b64decode(now["content"]) == b"one\n"
        then = await hub.gh.getitem(R + "/contents/a.txt{?ref}", {"ref": one})
        assert base64.b64decode(then["content"]) == b"two\n"
        assert await _status(hub, hub.gh.getitem(R + "/contents/none.txt")) == 404
        assert await _status(hub, hub.gh.getitem(R + "/contents/a.txt{?ref}",
                                                 {"ref": "nope"})) == 404

    async def test_check_runs_and_combined_status_for_a_ref(self, hub: Hub) -> None:
        """Check runs and statuses are listed for a branch's head commit."""
        await hub.gh.post(R + "/check-runs", data={"name": "selfmod", "head_sha": hub.root,
                                                   "status": "completed",
                                                   "conclusion": "success"})
        runs = await hub.gh.getitem(R + "/commits/main/check-runs")
        assert [(r["name"], r["conclusion"]) for r in runs["check_runs"]] == [
            ("selfmod", "success")]
        assert (await hub.gh.getitem(R + "/commits/main/status"))["state"] == "pending"
        await hub.gh.post(R + f"/statuses/{hub.root}", data={"state": "success",
                                                              "context": "ci"})
        assert (await hub.gh.getitem(R + "/commits/main/status"))["state"] == "success"
        await hub.gh.post(R + f"/statuses/{hub.root}", data={"state": "failure",
                                                              "context": "lint"})
        combined = await hub.gh.getitem(R + f"/commits/{hub.root}/status")
        assert (combined["state"], combined["total_count"]) == ("failure", 2)
        assert await _status(hub, hub.gh.getitem(R + "/commits/nope/status")) == 404


class TestIssues:
    async def test_create_update_and_close_an_issue(self, hub: Hub) -> None:
        """An issue is created by the bot, edited, and closed."""
        issue = await hub.gh.post(R + "/issues", data={"title": "Dashboard", "body": "x",
                                                       "labels": ["selfmod"]})
        assert (issue["user"]["login"], issue["state"]) == ("agent-self-modify[bot]", "open")
        number = str(issue["number"])
        edited = await hub.gh.patch(R + f"/issues/{number}", data={"body": "y",
                                                                   "state": "closed"})
        assert (edited["body"], edited["state"]) == ("y", "closed")
        assert await _status(hub, hub.gh.post(R + "/issues", data={"title": " "})) == 422
        assert await _status(hub, hub.gh.patch(R + f"/issues/{number}",
                                          data={"state": "gone"})) == 422

    async def test_closing_a_pull_through_issues_sends_closed(self, hub: Hub) -> None:
        """Closing a pull request through the issues endpoint closes it unmerged."""
        await hub.gh.post(R + "/git/refs", data={"ref": "refs/heads/feat", "sha": hub.root})
        pull = await hub.gh.post(R + "/pulls", data={"title": "t", "head": "feat",
                                                     "base": "main"})
        await hub.gh.patch(R + f"/issues/{pull['number']}", data={"state": "closed"})
        closed = hub.hub.state.deliveries[-1]
        assert (closed["event"], closed["payload"]["action"]) == ("pull_request", "closed")
        assert closed["payload"]["pull_request"]["merged"] is False

    async def test_edit_a_comment(self, hub: Hub) -> None:
        """A comment's body is replaced; an unknown comment is 404."""
        issue = await hub.gh.post(R + "/issues", data={"title": "t"})
        comment = await hub.gh.post(R + f"/issues/{issue['number']}/comments",
                                    data={"body": "first"})
        edited = await hub.gh.patch(R + f"/issues/comments/{comment['id']}",
                                    data={"body": "second"})
        assert edited["body"] == "second"
        assert await _status(hub, hub.gh.patch(R + "/issues/comments/1", data={"body": "x"})) == 404
        assert await _status(hub, hub.gh.patch(R + f"/issues/comments/{comment['id']}",
                                          data={})) == 422

    async def test_issue_reactions(self, hub: Hub) -> None:
        """A reaction on an issue is stored; a made-up reaction is refused."""
        issue = await hub.gh.post(R + "/issues", data={"title": "t"})
        made = await hub.gh.post(R + f"/issues/{issue['number']}/reactions",
                                 data={"content": "+1"})
        assert made["content"] == "+1"
        assert [r["content"] for r in hub.hub.issue(hub.repo, issue["number"]).reactions] == [
            "+1"]
        assert await _status(hub, hub.gh.post(R + f"/issues/{issue['number']}/reactions",
                                         data={"content": "meh"})) == 422


async def test_other_installations_repositories_are_404(hub: Hub) -> None:
    """A token of another installation does not see the repository."""
    hub.hub.add_installation(99, "someone", [])
    token, _ = hub.hub.issue_token(99)
    async with aiohttp.ClientSession() as session:
        gh = RetryingGitHubAPI(session, "test", oauth_token=token, base_url=hub.hub.base_url,
                               attempts=1)
        assert await _status(hub, gh.getitem(R)) == 404
