"""Fixtures of the GitHub tests: the double and the app running against it."""

from fakes.github import (  # noqa: F401
    app_private_key,
    fakehub,
    github_request_log,
    github_settings,
    running_app,
)
