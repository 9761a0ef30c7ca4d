"""GitHub App: authentication, webhook verification, event routing and comment commands."""
