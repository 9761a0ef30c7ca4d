"""The GitHub double: REST (in openapi-subset shapes), git smart HTTP, and signed webhooks."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from yarl import URL

from bot.fakehub import git as gitops
from bot.fakehub.shapes import Shapes, iso
from bot.fakehub.state import Fault, HubState, Issue, Repo
from bot.github.signature import build_signature

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TOKEN_LIFETIME = timedelta(hours=1)
CONTROL_PREFIX = "/_fakehub/"


def public_key_of(pem: str) -> str:
    """Return the PEM public key of a PEM key that may be private or public."""
    if "PRIVATE KEY" not in pem:
        return pem
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message,
                              "documentation_url": "https://docs.github.com/rest"}, status=status)


class FakeHub:
    """One GitHub: owns the state, the aiohttp app, and the webhook sender."""

    def __init__(self, *, repos_dir: Path, app_id: int, app_key: str, webhook_url: str | None,
                 webhook_secret: str | None, request_log: Path | None = None,
                 app_slug: str = "agent-self-modify") -> None:
        self.state = HubState(app_id=app_id, app_slug=app_slug, public_key=public_key_of(app_key))
        self.repos_dir = repos_dir
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.request_log = request_log
        # GitHub's tokens live an hour; tests of the app's renewal shorten it.
        self.token_lifetime = TOKEN_LIFETIME
        self.base_url = "http://127.0.0.1"
        self.shapes = Shapes(self.state, self.base_url)
        self._session: aiohttp.ClientSession | None = None
        self._sent: set[asyncio.Task[None]] = set()

    # ---- set-up (the Python API tests and the demo use) -------------------------------

    def set_base_url(self, url: str) -> None:
        """Tell the double the address it is reachable at (URLs in payloads use it)."""
        self.base_url = url.rstrip("/")
        self.shapes = Shapes(self.state, self.base_url)

    async def add_repo(self, owner: str, name: str, *, default_branch: str = "main",
                       installation_id: int | None = None) -> Repo:
        """Create (or adopt) the bare repository DIR/owner/name.git."""
        path = self.repos_dir / owner / f"{name}.git"
        if not (path / "HEAD").exists():
            await gitops.init_bare(path, default_branch)
        repo = Repo(self.state.new_id(), owner, name, path, default_branch, installation_id)
        self.state.repos[repo.full_name.lower()] = repo
        self.state.issues[repo.full_name.lower()] = {}
        return repo

    def add_installation(self, installation_id: int, account: str, repos: list[Repo]) -> None:
        """Install the app on an account's repositories."""
        self.state.installations[installation_id] = account
        for repo in repos:
            repo.installation_id = installation_id

    def set_permission(self, repo: Repo, login: str, permission: str) -> None:
        """Give a user a role on a repository (admin, maintain, write, triage, read)."""
        self.state.permissions[(repo.full_name.lower(), login.lower())] = permission

    def user_token(self, login: str) -> str:
        """Return a token a person can push with (`login:token` basic auth)."""
        user = self.state.user(login)
        if user.token is None:
            user.token = "ghp_" + secrets.token_hex(16)
        return user.token

    def inject(self, method: str, path: str, status: int, *, times: int = 1,
               headers: dict[str, str] | None = None, message: str = "injected") -> None:
        """Answer the next `times` matching REST requests with `status` (path is a regex).

        Status 0 closes the connection without any answer.
        """
        self.state.faults.append(Fault(method.upper(), re.compile(path), status, times,
                                       headers or {}, {"message": message}))

    def issue(self, repo: Repo, number: int) -> Issue:
        """Return an issue or pull request of a repository."""
        return self.state.issues[repo.full_name.lower()][number]

    def open_issue(self, repo: Repo, title: str, user: str, body: str | None = None) -> Issue:
        """Open an issue (no webhook: the app does not listen to issues)."""
        issues = self.state.issues[repo.full_name.lower()]
        issue = Issue(len(issues) + 1, title, body, user)
        issues[issue.number] = issue
        return issue

    async def open_pull(self, repo: Repo, head: str, base: str, title: str, user: str,
                        body: str | None = None) -> Issue:
        """Open a pull request from a branch of the repository."""
        sha = await gitops.resolve(repo.path, f"refs/heads/{head}")
        if sha is None:
            raise ValueError(f"no branch {head}")
        issues = self.state.issues[repo.full_name.lower()]
        pull = Issue(len(issues) + 1, title, body, user, head=head, base=base, head_sha=sha)
        issues[pull.number] = pull
        return pull

    async def comment(self, repo: Repo, number: int, user: str, body: str, *,
                      user_type: str = "User") -> dict[str, Any]:
        """Post a comment as a person (or bot) and send `issue_comment` created."""
        self.state.user(user, kind=user_type)
        issue = self.issue(repo, number)
        comment = {"id": self.state.new_id(), "user": user, "body": body, "created_at": iso()}
        issue.comments.append(comment)
        await self.send(repo, "issue_comment", sender=user, action="created",
                        issue=self.shapes.issue(repo, issue),
                        comment=self.shapes.comment(repo, issue, comment))
        return comment

    async def edit_issue(self, repo: Repo, number: int, user: str, body: str) -> None:
        """Edit an issue's body as a person and send `issues` edited."""
        issue = self.issue(repo, number)
        previous, issue.body = issue.body, body
        await self.send(repo, "issues", sender=user, action="edited",
                        issue=self.shapes.issue(repo, issue),
                        changes={"body": {"from": previous or ""}})

    def react(self, repo: Repo, number: int, user: str, content: str) -> None:
        """Put a person's reaction on an issue or pull request (GitHub sends no webhook)."""
        self.state.user(user)
        self.issue(repo, number).reactions.append({"issue": number, "content": content,
                                                   "user": user})

    async def merge(self, repo: Repo, number: int, user: str) -> str:
        """Merge a pull request with a real merge commit and send `pull_request` closed."""
        pull = self.issue(repo, number)
        base_sha = await gitops.resolve(repo.path, f"refs/heads/{pull.base}")
        head_sha = await gitops.resolve(repo.path, f"refs/heads/{pull.head}")
        if base_sha is None or head_sha is None or pull.merged or pull.state != "open":
            raise ValueError("pull request is not mergeable")
        tree = await gitops.merge_tree(repo.path, base_sha, head_sha)
        if tree is None:
            raise ValueError("merge conflict")
        person = {"name": user, "email": f"{user}@users.noreply.github.com"}
        sha = await gitops.commit_tree(repo.path, tree, [base_sha, head_sha],
                                       f"Merge pull request #{number} from {pull.head}\n\n"
                                       f"{pull.title}\n", person)
        await gitops.update_ref(repo.path, f"refs/heads/{pull.base}", sha, base_sha)
        pull.merged, pull.merge_commit_sha, pull.state = True, sha, "closed"
        pull.closed_at = datetime.now(UTC)
        pull.head_sha = head_sha
        await self.send(repo, "pull_request", sender=user, action="closed",
                        number=number, pull_request=self.shapes.pull(repo, pull))
        await self.send_push(repo, f"refs/heads/{pull.base}", base_sha, sha, user)
        return sha

    async def close(self, repo: Repo, number: int, user: str) -> None:
        """Close a pull request without merging and send `pull_request` closed."""
        pull = self.issue(repo, number)
        pull.state, pull.closed_at = "closed", datetime.now(UTC)
        await self.send(repo, "pull_request", sender=user, action="closed",
                        number=number, pull_request=self.shapes.pull(repo, pull))

    async def reopen(self, repo: Repo, number: int, user: str) -> None:
        """Reopen a closed, unmerged pull request and send `pull_request` reopened."""
        pull = self.issue(repo, number)
        if pull.merged or pull.state != "closed":
            raise ValueError("only a closed, unmerged pull request can be reopened")
        pull.state, pull.closed_at = "open", None
        await self.send(repo, "pull_request", sender=user, action="reopened",
                        number=number, pull_request=self.shapes.pull(repo, pull))

    def paginate(self, request: web.Request, items: list[Any]) -> web.Response:
        """Answer one page of a list (per_page, page) with GitHub's Link header."""
        try:
            per_page = min(max(int(request.query.get("per_page", "30")), 1), 100)
            page = max(int(request.query.get("page", "1")), 1)
        except ValueError:
            return _error(422, "per_page and page must be numbers")
        headers = {}
        if page * per_page < len(items):
            query = {**request.query, "per_page": str(per_page), "page": str(page + 1)}
            url = URL(self.base_url + request.path).with_query(query)
            headers["Link"] = f'<{url}>; rel="next"'
        return web.json_response(items[(page - 1) * per_page: page * per_page],
                                 headers=headers)

    async def review(self, repo: Repo, number: int, user: str, state: str,
                     body: str | None = None) -> None:
        """Submit a review and send `pull_request_review` submitted."""
        pull = self.issue(repo, number)
        review = {"id": self.state.new_id(), "user": self.shapes.user(user), "body": body,
                  "state": state.lower(), "commit_id": pull.head_sha, "submitted_at": iso()}
        # The REST API writes review states in upper case, webhooks in lower case.
        pull.reviews.append({**review, "state": state.upper(), "node_id": f"PRR_{review['id']}",
                             "html_url": f"{self.base_url}/{repo.full_name}/pull/{number}",
                             "pull_request_url": f"{self.base_url}/repos/{repo.full_name}"
                                                 f"/pulls/{number}",
                             "author_association": "COLLABORATOR",
                             "_links": {"html": {"href": ""}, "pull_request": {"href": ""}}})
        await self.send(repo, "pull_request_review", sender=user, action="submitted",
                        review=review, pull_request=self.shapes.pull(repo, pull))

    async def complete_check_suite(self, repo: Repo, sha: str, conclusion: str,
                                   branch: str | None = None) -> None:
        """Send `check_suite` completed for a commit."""
        suite = {"id": self.state.new_id(), "head_branch": branch or repo.default_branch,
                 "head_sha": sha, "status": "completed", "conclusion": conclusion,
                 "pull_requests": [], "app": {"id": 1, "slug": "ci", "name": "CI"}}
        await self.send(repo, "check_suite", sender="ci[bot]", action="completed",
                        check_suite=suite)

    async def send_push(self, repo: Repo, ref: str, before: str | None, after: str | None,
                        pusher: str) -> None:
        """Send a `push` webhook for one ref update."""
        zero = "0" * 40
        head_commit = None
        if after:
            commit = await gitops.parse_commit(repo.path, after)
            head_commit = {"id": after, "tree_id": commit["tree"], "message": commit["message"],
                           "timestamp": commit["committer"]["date"],
                           "author": {**commit["author"], "username": None},
                           "committer": {**commit["committer"],
                                         "username": pusher if pusher.endswith("[bot]")
                                         else None}}
        await self.send(repo, "push", sender=pusher, ref=ref, before=before or zero,
                        after=after or zero, created=before is None, deleted=after is None,
                        forced=False, pusher={"name": pusher, "email": None},
                        head_commit=head_commit, commits=[head_commit] if head_commit else [],
                        compare=f"{self.base_url}/{repo.full_name}/compare")

    async def send(self, repo: Repo, event: str, *, sender: str, **fields: Any) -> None:
        """Sign and POST a webhook to the app (in the background, like GitHub)."""
        payload = self.shapes.delivery(repo, sender, **fields)
        record = {"event": event, "delivery_id": str(uuid.uuid4()), "payload": payload,
                  "status": None}
        self.state.deliveries.append(record)
        task = asyncio.ensure_future(self._deliver(record))
        self._sent.add(task)
        task.add_done_callback(self._sent.discard)

    async def drain(self) -> None:
        """Wait until every webhook sent so far has been answered."""
        while self._sent:
            await asyncio.gather(*list(self._sent), return_exceptions=True)

    async def _deliver(self, record: dict[str, Any]) -> None:
        if self.webhook_url is None or self.webhook_secret is None:
            return
        body = json.dumps(record["payload"]).encode()
        headers = {"X-GitHub-Event": record["event"], "X-GitHub-Delivery": record["delivery_id"],
                   "X-Hub-Signature-256": build_signature(body, self.webhook_secret),
                   "Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/fake"}
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.post(self.webhook_url, data=body, headers=headers) as answer:
                record["status"] = answer.status
        except aiohttp.ClientError as exc:
            record["status"] = f"error: {exc}"
            log.warning("webhook %s to %s failed: %s", record["event"], self.webhook_url, exc)

    async def aclose(self) -> None:
        """Finish sending and close the webhook client."""
        await self.drain()
        if self._session is not None:
            await self._session.close()

    # ---- lookups used by the routes ---------------------------------------------------

    def find_repo(self, request: web.Request) -> Repo:
        """Return the repository named in the path, or raise 404."""
        key = f"{request.match_info['owner']}/{request.match_info['repo']}".lower()
        repo = self.state.repos.get(key)
        if repo is None:
            raise web.HTTPNotFound(text='{"message": "Not Found"}',
                                   content_type="application/json")
        return repo

    def token_installation(self, token: str) -> int | None:
        """Return the installation a live token belongs to."""
        entry = self.state.tokens.get(token)
        if entry is None or entry[1] <= datetime.now(UTC):
            return None
        return entry[0]

    def verify_app_jwt(self, token: str) -> bool:
        """Check the App JWT as GitHub does: RS256, our app, at most 10 minutes long."""
        try:
            claims = jwt.decode(token, self.state.public_key, algorithms=["RS256"],
                                options={"require": ["iat", "exp", "iss"]}, leeway=60)
        except jwt.PyJWTError:
            return False
        return (str(claims["iss"]) == str(self.state.app_id)
                and int(claims["exp"]) - int(claims["iat"]) <= 600 + 60)

    def issue_token(self, installation_id: int) -> tuple[str, datetime]:
        """Mint an installation token."""
        token = "ghs_" + secrets.token_hex(18)
        expires = datetime.now(UTC) + self.token_lifetime
        self.state.tokens[token] = (installation_id, expires)
        return token, expires

    def log_request(self, method: str, path: str, body: Any) -> None:
        """Remember a REST request and append it to the request log."""
        entry = {"method": method, "path": path, "body": body}
        self.state.requests.append(entry)
        if self.request_log is not None:
            with self.request_log.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry) + "\n")


def decode_basic(header: str) -> tuple[str, str] | None:
    """Return (user, password) from a Basic authorization header."""
    if not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, password
