"""selfmod: a GitHub App that lets a Python codebase improve itself safely."""

__version__ = "0.1.0"
