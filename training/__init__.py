"""The Clinicast domain: clinics, accounts, lectures, media, transcripts, search, attendance.

This package never imports ``web``, ``infra`` or Litestar; it reaches the outside world only
through the small protocols in :mod:`training.ports`.
"""
