"""Hardened Docker execution of untrusted code."""
