"""Route handlers, one module per area, named after the URLs they answer:

- ``pages``: ``/``, ``/login``, ``/logout``, ``/lang`` (a POST)
- ``account``: ``/account`` (tokens, password, sign out everywhere) and ``/api/v1/me…``
- ``lectures``: the pages under ``/lectures`` (library, new lecture, one lecture)
- ``player``: ``/lectures/{id}/watch``
- ``media``: ``/lectures/{id}/hls/master.m3u8``, ``/lectures/{id}/download``, ``/media/…``
  and ``/api/v1/lectures/{id}/media``
- ``search``: ``/search`` and ``/api/v1/search``
- ``lectures_api``: ``/api/v1/lectures`` and ``/api/v1/lectures/{id}``
- ``uploads``: ``/api/v1/lectures/{id}/upload…``
- ``pipeline``: ``/api/v1/lectures/{id}/pipeline…``
- ``transcripts``: ``/api/v1/lectures/{id}/transcript…``
- ``admin``: ``/admin/…``
- ``health``: ``/healthz``, ``/readyz``, ``/metrics``

Handlers receive ``services``, ``session``, ``user`` or ``visitor`` by name (``web.deps``);
domain errors become HTTP in ``web.errors``.
"""
