"""Read-only analysis of a Python codebase: index, public API, tests and conventions.

Entry points:

- `build_index(root, cache_dir=..., config=...) -> CodebaseIndex` (bot.analysis.index): parse
  and link a codebase, reusing the on-disk cache. Look-ups on the index: `function(qualname)`
  (span, signature, loops, calls), `callers_of`, `fan_in`, `tests_for`, `functions_in(path)`,
  and the fields `public_api`, `conventions`, `module_graph`, `problems`.
- `rank_hot_spots(index, limit) -> tuple[HotSpot, ...]` (bot.analysis.hotspots).
- `load_repo_config(root) -> RepoConfig` and `parse_repo_config(text)` (bot.analysis.repoconfig):
  `.github/selfmod.yml` or `.selfmod.yml`, validated; errors raise RepoConfigError.
- `build_report(index, config, suggestions=...)` (bot.analysis.report): the JSON of
  `selfmod analyze --json`, documented in docs/analyze-json.md.

Import from the submodules; this package imports nothing at load time.
"""
