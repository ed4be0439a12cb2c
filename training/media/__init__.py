"""Recordings and their renditions: resumable upload, then the pipeline probe → transcode →
transcribe → publish, each step a job of record."""
