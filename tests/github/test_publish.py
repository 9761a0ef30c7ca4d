"""Opening a proposal on the double: the base it builds on and the branches it may move."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from hubkit import HubRepo

from bot.errors import GitHubError
from bot.fakehub import git as gitops
from bot.github.gitdata import Change, point_branch
from bot.github.proposal import ProposalFacts
from bot.github.publish import BaseMovedError, open_pull, publish_proposal
from bot.vcs.keys import SigningKey, load_or_create_key

BOT = "agent-self-modify[bot]"
HUMAN = {"name": "Alice Person", "email": "alice@example.com"}


def _facts(modification_id: str) -> ProposalFacts:
    return ProposalFacts(modification_id=modification_id, title="Speed up `f`",
                         modification_type="performance", rule_id="r", reasoning="faster",
                         target_symbols=("a",), diff="--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n"
                         "-a = 1\n+a = 2\n", safety_score=0.9)


@pytest.fixture
def key(tmp_path: Path) -> SigningKey:
    """Return a fresh signing key."""
    return load_or_create_key(tmp_path / "key")


async def _parents(hub_repo: HubRepo, sha: str) -> list[str]:
    return list((await gitops.parse_commit(hub_repo.repo.path, sha))["parents"])


async def test_moved_default_branch_gets_the_branch_recreated_on_it(hub_repo: HubRepo,
                                                                    key: SigningKey) -> None:
    """When main moved (other files) since the analysis, the proposal is built on its head."""
    moved = await hub_repo.commit({"b.py": "b = 2\n"}, hub_repo.root)
    await hub_repo.set_branch("main", moved)
    modification_id = str(uuid.uuid4())
    done = await publish_proposal(hub_repo.gh, hub_repo.where, key, _facts(modification_id),
                                  [Change("a.py", "100644", b"a = 2\n")],
                                  analysed=hub_repo.root, bot_login=BOT)
    assert done.base == moved and await _parents(hub_repo, done.commit) == [moved]
    assert await hub_repo.hub_sha(done.branch) == done.commit
    assert hub_repo.hub.issue(hub_repo.repo, done.number).head == done.branch


async def test_stale_branch_of_the_app_is_moved_to_the_new_base(hub_repo: HubRepo,
                                                                key: SigningKey) -> None:
    """A branch left by an earlier attempt, holding only the app's commits, is rebuilt."""
    modification_id = str(uuid.uuid4())
    branch = f"self-mod/{modification_id}"
    old = await hub_repo.commit({"a.py": "a = 3\n"}, hub_repo.root)
    await hub_repo.set_branch(branch, old)
    moved = await hub_repo.commit({"b.py": "b = 2\n"}, hub_repo.root)
    await hub_repo.set_branch("main", moved)
    done = await publish_proposal(hub_repo.gh, hub_repo.where, key, _facts(modification_id),
                                  [Change("a.py", "100644", b"a = 2\n")],
                                  analysed=hub_repo.root, bot_login=BOT)
    assert await hub_repo.hub_sha(branch) == done.commit != old
    assert await _parents(hub_repo, done.commit) == [moved]


async def test_default_branch_changing_the_same_file_stops_the_proposal(
        hub_repo: HubRepo, key: SigningKey) -> None:
    """When main changed a file the suggestion changes, nothing is opened."""
    moved = await hub_repo.commit({"a.py": "a = 5\n"}, hub_repo.root)
    await hub_repo.set_branch("main", moved)
    with pytest.raises(BaseMovedError, match=r"a\.py"):
        await publish_proposal(hub_repo.gh, hub_repo.where, key, _facts(str(uuid.uuid4())),
                               [Change("a.py", "100644", b"a = 2\n")],
                               analysed=hub_repo.root, bot_login=BOT)
    assert [i for i in hub_repo.hub.state.issues[hub_repo.repo.full_name.lower()].values()
            if i.is_pull] == []


async def test_branch_with_a_persons_commit_is_never_rewritten(hub_repo: HubRepo,
                                                               key: SigningKey) -> None:
    """A self-mod branch someone else committed to stays as it is, and no PR is opened."""
    modification_id = str(uuid.uuid4())
    branch = f"self-mod/{modification_id}"
    app_commit = await hub_repo.commit({"a.py": "a = 3\n"}, hub_repo.root)
    human = await hub_repo.commit({"a.py": "a = 4\n"}, app_commit, author=HUMAN)
    await hub_repo.set_branch(branch, human)
    with pytest.raises(GitHubError, match="someone other than the app"):
        await publish_proposal(hub_repo.gh, hub_repo.where, key, _facts(modification_id),
                               [Change("a.py", "100644", b"a = 2\n")],
                               analysed=hub_repo.root, bot_login=BOT)
    assert await hub_repo.hub_sha(branch) == human


async def test_point_branch_leaves_a_branch_already_there(hub_repo: HubRepo) -> None:
    """Pointing a branch at the commit it holds changes nothing (even a person's)."""
    human = await hub_repo.commit({"a.py": "a = 4\n"}, hub_repo.root, author=HUMAN)
    await hub_repo.set_branch("self-mod/x", human)
    before = len(hub_repo.hub.state.deliveries)
    await point_branch(hub_repo.gh, hub_repo.where, "self-mod/x", human, bot_login=BOT)
    assert len(hub_repo.hub.state.deliveries) == before


async def test_open_pull_reuses_the_open_one(hub_repo: HubRepo) -> None:
    """Opening a pull request from a branch that already has one returns that one."""
    await hub_repo.set_branch("self-mod/x", hub_repo.root)
    first = await open_pull(hub_repo.gh, hub_repo.where, "self-mod/x", "t", "b")
    again = await open_pull(hub_repo.gh, hub_repo.where, "self-mod/x", "t2", "b2")
    assert again["number"] == first["number"]
