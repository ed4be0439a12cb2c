"""Live lectures: the ingest supervisor (SRT in, the live HLS ladder out, the source recorded)."""
