"""The aiohttp application: webhook route, REST API, health and metrics."""
