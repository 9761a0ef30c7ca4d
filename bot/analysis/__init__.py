"""Read-only analysis of a Python codebase: index, public API, tests and conventions."""
