"""Benchmarks and their statistics."""
