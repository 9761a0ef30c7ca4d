"""Feedback and per-repository adaptation."""
