"""The Litestar portal: pages, the JSON API, health and metrics."""
