"""Wiring to the outside world: settings, database, object storage, the embedded S3 server,
the job engine, speech-to-text, and the ``clinicast`` command."""
