"""The contract checker accepts what GitHub documents and rejects the rest."""

from __future__ import annotations

import json

import pytest

from bot.fakehub.contract import check_contract, check_request, load_operations


@pytest.fixture(scope="module")
def operations():
    """Return the description's operations."""
    return load_operations()


def test_accepts_a_documented_request(operations) -> None:
    """A comment with a string body on a documented path passes."""
    assert check_request(operations, "POST", "/repos/o/r/issues/3/comments", {"body": "hi"}) == []


def test_rejects_a_missing_required_field(operations) -> None:
    """A comment without `body` is reported."""
    problems = check_request(operations, "POST", "/repos/o/r/issues/3/comments", {"text": "x"})
    assert problems == ["POST /repos/{owner}/{repo}/issues/{issue_number}/comments: "
                        "body.body is required"]


def test_rejects_a_wrong_type(operations) -> None:
    """A reaction whose content is not a string is reported."""
    problems = check_request(operations, "POST", "/repos/o/r/issues/comments/5/reactions",
                             {"content": 1})
    assert any("should be string" in p for p in problems)


def test_rejects_a_value_outside_the_enum(operations) -> None:
    """A reaction GitHub does not know is reported."""
    problems = check_request(operations, "POST", "/repos/o/r/issues/comments/5/reactions",
                             {"content": "party-parrot"})
    assert any("is not one of" in p for p in problems)


def test_rejects_an_undocumented_path(operations) -> None:
    """A path outside the description is reported."""
    assert check_request(operations, "GET", "/repos/o/r/secrets", None) != []


def test_rejects_a_wrong_method(operations) -> None:
    """DELETE on the comments path is reported."""
    assert "method not allowed" in check_request(operations, "DELETE",
                                                 "/repos/o/r/issues/3/comments", None)[0]


def test_refs_with_slashes_match(operations) -> None:
    """A ref like heads/feature/x matches git/ref/{ref}, and refs creation its own path."""
    assert check_request(operations, "GET", "/repos/o/r/git/ref/heads/feature/x", None) == []
    assert check_request(operations, "POST", "/repos/o/r/git/refs",
                         {"ref": "refs/heads/x", "sha": "a" * 40}) == []


def test_contract_of_a_log(tmp_path) -> None:
    """A log's requests are counted and its problems named (what `selfmod demo` prints)."""
    log = tmp_path / "requests.jsonl"
    log.write_text(json.dumps({"method": "POST", "path": "/repos/o/r/issues/3/comments",
                               "body": {"body": "hi"}}) + "\n"
                   + json.dumps({"method": "POST", "path": "/repos/o/r/nowhere",
                                 "body": None}) + "\n")
    outcome = check_contract(log)
    assert (outcome.checked, outcome.is_clean) == (2, False)
    assert outcome.problems == ("POST /repos/o/r/nowhere: no such path in the description",)
    assert outcome.describe().startswith("1 problem(s) in 2 requests")


def test_clean_log_and_missing_description(tmp_path) -> None:
    """A clean log says so; without the description the check says it was skipped."""
    log = tmp_path / "requests.jsonl"
    log.write_text(json.dumps({"method": "GET", "path": "/repos/o/r", "body": None}) + "\n")
    assert check_contract(log).describe() == "all 1 requests fit GitHub's OpenAPI description"
    skipped = check_contract(log, tmp_path / "missing.json")
    assert not skipped.is_clean and "skipped" in skipped.describe()
