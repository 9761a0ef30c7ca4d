"""Tests of `selfmod analyze` and its JSON report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main

PROJECT = Path(__file__).parent / "fixtures" / "project"


@pytest.fixture(autouse=True)
def _data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the index cache in a throwaway folder."""
    monkeypatch.setenv("SELFMOD_DATA_DIR", str(tmp_path / "data"))


def test_json_report_has_the_documented_shape(capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints the documented keys, the hot spots and an empty suggestions list."""
    assert main(["analyze", str(PROJECT), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"schema_version", "root", "summary", "config", "conventions",
                           "hot_spots", "public_api", "problems", "suggestions"}
    assert report["schema_version"] == 1 and report["suggestions"] == []
    assert report["summary"]["tests"] == 3 and report["summary"]["functions"] == 16
    assert report["hot_spots"][0]["qualname"] == "shop.pricing.total_price"
    assert report["conventions"]["function_naming"]["value"] == "snake_case"
    assert "shop.total_price" in report["public_api"]["symbols"]


def test_goal_options_override_the_config(capsys: pytest.CaptureFixture[str]) -> None:
    """--goals and --safety-level replace the repository's settings in the report."""
    assert main(["analyze", str(PROJECT), "--json", "--goals", "refactor",
                 "--safety-level", "aggressive"]) == 0
    config = json.loads(capsys.readouterr().out)["config"]
    assert (config["goals"], config["safety_level"]) == (["refactor"], "aggressive")


def test_text_report_names_hot_spots(capsys: pytest.CaptureFixture[str]) -> None:
    """The text report lists conventions and hot spots."""
    assert main(["analyze", str(PROJECT)]) == 0
    out = capsys.readouterr().out
    assert "Hot spots:" in out and "shop.pricing.total_price" in out
    assert "function_naming  snake_case" in out


def test_missing_path_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A path that is not a folder exits 1 with a clear message."""
    assert main(["analyze", str(tmp_path / "nope")]) == 1
    assert "is not a folder" in capsys.readouterr().err


def test_invalid_repo_config_is_an_error(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """An invalid selfmod.yml stops the analysis naming the key and line."""
    (tmp_path / ".selfmod.yml").write_text("safety_level: wild\n")
    assert main(["analyze", str(tmp_path)]) == 1
    assert ".selfmod.yml line 1: safety_level" in capsys.readouterr().err
