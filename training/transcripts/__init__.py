"""Transcripts of lectures: what was said and when (``formats`` turns them into captions/JSON)."""
