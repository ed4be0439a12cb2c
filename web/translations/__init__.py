"""Simplified Chinese for the interface, keyed by the English text, one module per area."""
