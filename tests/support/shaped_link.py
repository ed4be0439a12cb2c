"""A village clinic's link, made for real: a network namespace joined to this machine by a veth
pair, its rate limited by ``tc tbf`` in both directions, its round trip lengthened by a small
delaying TCP proxy (this kernel has no netem), and outages made by taking the link down.

    with ShapedLink(LinkProfile("0.5 Mbit/s", rate_kbit=500, rtt_ms=150), target_port=8000) as link:
        link.run(["python", "probe.py", link.url("/lectures/1/watch")])

The portal listens on loopback as usual; the proxy listens on the host end of the veth
(``10.231.<n>.1``) and forwards to it, so everything the clinic fetches (pages, scripts,
playlists, segments) crosses the shaped link. Needs root (CAP_NET_ADMIN).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

_NUMBERS = itertools.count(1)


@dataclass(frozen=True)
class LinkProfile:
    name: str
    rate_kbit: int
    rtt_ms: int = 150


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def _tc(*args: str) -> None:
    subprocess.run(["tc", *args], check=True, capture_output=True)


def _tbf(device: str, rate_kbit: int, *, namespace: str | None = None) -> None:
    """Rate-limit ``device``'s egress. The burst is a few packets (a real bottleneck link
    has no large bucket); the queue holds about 400 ms, as a DSL/4G modem's buffer does."""
    prefix = ["ip", "netns", "exec", namespace] if namespace else []
    burst = max(4, rate_kbit // 100)  # kbit: 5 kB at 0.5 Mbit/s
    subprocess.run(
        [*prefix, "tc", "qdisc", "replace", "dev", device, "root", "tbf",
         "rate", f"{rate_kbit}kbit", "burst", f"{burst}kb", "latency", "400ms"],
        check=True, capture_output=True,
    )  # fmt: skip


class DelayProxy:
    """Forwards TCP connections from ``listen`` to ``target``, holding every chunk for
    ``one_way_ms`` in each direction (so a round trip gains twice that), order kept."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int], one_way_ms: int) -> None:
        self.listen, self.target, self.delay = listen, target, one_way_ms / 1000
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="delay-proxy", daemon=True)
        self._server: asyncio.base_events.Server | None = None

    def start(self) -> None:
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the delaying proxy did not start")

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._server is not None:
                await self._server.wait_closed()

        with contextlib.suppress(RuntimeError, TimeoutError):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._connection, *self.listen)
        )
        self._started.set()
        self._loop.run_forever()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.CancelledError):  # stopping: end quietly
            await self._forward(reader, writer)

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
            )
        finally:
            for end in (writer, up_writer):
                end.close()
                with contextlib.suppress(OSError, asyncio.CancelledError):
                    await end.wait_closed()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        async def deliver() -> None:
            while True:
                due, chunk = await queue.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                if not chunk:
                    writer.close()
                    return
                writer.write(chunk)
                await writer.drain()

        sender = asyncio.create_task(deliver())
        try:
            while chunk := await reader.read(64 * 1024):
                await queue.put((loop.time() + self.delay, chunk))
            await queue.put((loop.time() + self.delay, b""))
            await sender
        finally:
            sender.cancel()
            writer.close()


class ShapedLink:
    """A namespace ``cc<pid>-<n>`` whose only way out is the shaped veth to this machine."""

    def __init__(self, profile: LinkProfile, *, target_port: int, proxy_port: int = 8080) -> None:
        number = next(_NUMBERS) % 250
        self.profile = profile
        self.namespace = f"cc{os.getpid()}-{number}"
        self.host_device = f"cch{os.getpid() % 10000}n{number}"
        self.clinic_device = f"ccc{os.getpid() % 10000}n{number}"
        self.host_address = f"10.231.{number}.1"
        self.clinic_address = f"10.231.{number}.2"
        self.proxy_port = proxy_port
        self.proxy = DelayProxy(
            (self.host_address, proxy_port), ("127.0.0.1", target_port), profile.rtt_ms // 2
        )

    def url(self, path: str = "/") -> str:
        """An address of the portal as the clinic reaches it."""
        return f"http://{self.host_address}:{self.proxy_port}{path}"

    def __enter__(self) -> ShapedLink:
        _ip("netns", "add", self.namespace)
        try:
            _ip("link", "add", self.host_device, "type", "veth", "peer", "name", self.clinic_device)
            _ip("link", "set", self.clinic_device, "netns", self.namespace)
            _ip("addr", "add", f"{self.host_address}/30", "dev", self.host_device)
            _ip("link", "set", self.host_device, "up")
            inside = ["netns", "exec", self.namespace, "ip"]
            _ip(*inside, "addr", "add", f"{self.clinic_address}/30", "dev", self.clinic_device)
            _ip(*inside, "link", "set", self.clinic_device, "up")
            _ip(*inside, "link", "set", "lo", "up")
            _tbf(self.host_device, self.profile.rate_kbit)  # towards the clinic
            _tbf(self.clinic_device, self.profile.rate_kbit, namespace=self.namespace)
            self.proxy.start()
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.proxy.stop()
        self._remove()

    def _remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("link", "del", self.host_device)
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("netns", "del", self.namespace)

    def outage(self, down: bool) -> None:
        """Take the link down (packets are lost, connections stay open) or bring it back."""
        _ip("link", "set", self.host_device, "down" if down else "up")
        if not down:
            _tbf(self.host_device, self.profile.rate_kbit)

    def popen(self, command: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
        """Start ``command`` inside the clinic's namespace."""
        return subprocess.Popen(["ip", "netns", "exec", self.namespace, *command], **kwargs)  # type: ignore[call-overload,no-any-return]
