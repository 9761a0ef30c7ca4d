"""`selfmod analyze`: print what the analysis engine sees."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from bot.analysis.index import build_index
from bot.analysis.model import CodebaseIndex
from bot.analysis.repoconfig import RepoConfig, load_repo_config
from bot.analysis.report import build_report, render_text
from bot.errors import AnalysisError
from bot.generate.suggestion import Suggestion
from bot.settings import Settings


def analyze_command(args: argparse.Namespace, settings: Settings) -> int:
    """Analyse a codebase and print the summary (or the documented JSON)."""
    root = Path(args.path)
    if not root.is_dir():
        raise AnalysisError(f"{root} is not a folder")
    config = load_repo_config(root)
    if args.goals:
        config = replace(config, goals=tuple(args.goals))
    if args.safety_level:
        config = replace(config, safety_level=args.safety_level)
    index = build_index(root, cache_dir=settings.data_dir / "index-cache", config=config)
    report = build_report(index, config, suggestions=suggestions_hook(index, config))
    print(json.dumps(report, indent=2) if args.json else render_text(report))
    return 0


def suggestions_hook(index: CodebaseIndex, config: RepoConfig) -> tuple[Suggestion, ...]:
    """Return the generator's suggestions for the report."""
    from bot.generate.generator import generate_suggestions

    return tuple(generate_suggestions(index.root, index, config.goals))
