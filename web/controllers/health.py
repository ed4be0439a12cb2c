"""Liveness, readiness and metrics for operators and load balancers."""

from __future__ import annotations

import time
from typing import Any

from litestar import Controller, MediaType, Request, Response, get
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from infra.db import check_database
from training.jobs.services import JobService
from web.deps import AppServices, DbSession, Visitor
from web.security import may_see_detail, metrics_guard
from web.state import Services


class HealthController(Controller):
    @get("/healthz", sync_to_thread=False)
    def healthz(self) -> dict[str, str]:
        """The process answers. (What it depends on: /readyz.)"""
        return {"status": "ok"}

    @get("/readyz", sync_to_thread=True)
    def readyz(
        self,
        request: Request[Any, Any, Any],
        services: AppServices,
        session: DbSession,
        visitor: Visitor,
    ) -> Response[dict[str, Any]]:
        """Database, object storage, job broker and at least one live worker (the same database
        check as ``clinicast`` commands make at start-up). The status code is for everyone;
        which check failed and why, for admins and the metrics token."""
        checks = {
            "database": _check(lambda: check_database(services.engine)),
            "storage": _check(services.blobs.check),
            "broker": _check(lambda: _ping_broker(services)),
            "workers": _check(lambda: _live_workers(services, session)),
        }
        ready = all(check["ok"] for check in checks.values())
        body: dict[str, Any] = {"ready": ready}
        if may_see_detail(request, visitor.role if visitor else None):
            body["checks"] = checks
        return Response(body, status_code=200 if ready else 503)

    @get("/metrics", sync_to_thread=True, media_type=MediaType.TEXT, guards=[metrics_guard])
    def metrics(self, services: AppServices, session: DbSession) -> Response[bytes]:
        """Prometheus text format: jobs by status and live workers (request metrics are
        exported by the Prometheus middleware at /metrics/http)."""
        registry = CollectorRegistry()
        jobs = Gauge("clinicast_jobs", "Jobs of record by status", ["status"], registry=registry)
        workers = Gauge("clinicast_workers_live", "Workers seen recently", registry=registry)
        service = JobService(session)
        for status, count in service.counts_by_status().items():
            jobs.labels(status=status).set(count)
        workers.set(len(service.live_workers(3 * services.settings.jobs.sweep_seconds)))
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")


def _check(probe: Any) -> dict[str, Any]:
    started = time.monotonic()
    try:
        detail = probe()
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure as not ready
        return {"ok": False, "error": str(exc)[:300]}
    result: dict[str, Any] = {"ok": True, "ms": round((time.monotonic() - started) * 1000, 1)}
    if detail is not None:
        result["detail"] = detail
    return result


def _ping_broker(services: Services) -> None:
    with services.celery.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=3)


def _live_workers(services: Services, session: DbSession) -> list[str]:
    live = JobService(session).live_workers(3 * services.settings.jobs.sweep_seconds)
    if not live:
        raise RuntimeError("no worker has been seen recently")
    return [worker.name for worker in live]
