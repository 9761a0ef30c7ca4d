"""What the GitHub double remembers: installations, tokens, issues, pulls and injected faults."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any


def load_examples() -> dict[str, Any]:
    """Return GitHub's own response examples, by name."""
    text = resources.files("bot.fakehub").joinpath("examples.json").read_text("utf-8")
    examples: dict[str, Any] = json.loads(text)["examples"]
    return examples


@dataclass
class Fault:
    """The next `times` requests matching method and path get this answer instead."""

    method: str
    path: re.Pattern[str]
    status: int
    times: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)


@dataclass
class Repo:
    """A repository of the double, backed by a bare git repository."""

    id: int
    owner: str
    name: str
    path: Path
    default_branch: str
    installation_id: int | None = None
    private: bool = False

    @property
    def full_name(self) -> str:
        """Return owner/name."""
        return f"{self.owner}/{self.name}"


@dataclass
class Issue:
    """An issue or a pull request (GitHub numbers them together)."""

    number: int
    title: str
    body: str | None
    user: str
    state: str = "open"
    labels: list[str] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)
    reactions: list[dict[str, Any]] = field(default_factory=list)
    # Pull requests only:
    reviews: list[dict[str, Any]] = field(default_factory=list)
    head: str | None = None
    base: str | None = None
    head_sha: str | None = None
    merged: bool = False
    merge_commit_sha: str | None = None
    closed_at: datetime | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def is_pull(self) -> bool:
        """Tell whether this is a pull request."""
        return self.head is not None


@dataclass
class User:
    """A person or bot known to the double."""

    login: str
    id: int
    type: str = "User"
    token: str | None = None


@dataclass
class HubState:
    """Everything the double holds, in memory (git objects live in the bare repositories)."""

    app_id: int
    app_slug: str
    public_key: str
    repos: dict[str, Repo] = field(default_factory=dict)
    installations: dict[int, str] = field(default_factory=dict)
    tokens: dict[str, tuple[int, datetime]] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    permissions: dict[tuple[str, str], str] = field(default_factory=dict)
    issues: dict[str, dict[int, Issue]] = field(default_factory=dict)
    check_runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    # Commits GitHub itself signed: the installation's, made with no custom author/committer.
    verified_commits: set[str] = field(default_factory=set)
    examples: dict[str, Any] = field(default_factory=load_examples)
    next_id: int = 1000

    def new_id(self) -> int:
        """Return a fresh numeric id."""
        self.next_id += 1
        return self.next_id

    def example(self, name: str) -> dict[str, Any]:
        """Return a deep copy of GitHub's example response `name` (the first, for a list)."""
        value = self.examples[name]
        chosen: dict[str, Any] = copy.deepcopy(value[0] if isinstance(value, list) else value)
        return chosen

    def user(self, login: str, *, kind: str = "User") -> User:
        """Return the user with this login, creating it on first sight."""
        if login not in self.users:
            self.users[login] = User(login, self.new_id(), kind)
        return self.users[login]

    def take_fault(self, method: str, path: str) -> Fault | None:
        """Return (and use up) the first fault that matches this request."""
        for fault in self.faults:
            if fault.method in (method, "*") and fault.path.fullmatch(path) and fault.times > 0:
                fault.times -= 1
                return fault
        return None
