"""Serving: uvloop, one or many worker processes on one port, graceful shutdown.

``--workers N`` forks N processes that each bind the port with SO_REUSEPORT, so the kernel spreads
connections. SIGTERM (or SIGINT) stops accepting, lets in-flight requests and streams finish for up
to ``shutdown_grace_s``, runs the features' teardown (the log queue is drained), then exits.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys

import uvloop
from aiohttp import web

from proxy.app import create_app
from proxy.settings import Settings

log = logging.getLogger("lockgate")
SWITCH_INTERVAL_S = 0.0005
GC_GEN0_THRESHOLD = 10_000
"""Allocations between young-generation collections (CPython's default: 700). The objects of
the requests in flight (a few hundred each) outnumber 700, so at the default the collector ran
every few dozen requests only to find them alive and promote them (~20 us of CPU per request).
Garbage here is freed by reference counting; the collector only looks for rare cycles."""


def serve_one(settings: Settings, *, reuse_port: bool) -> None:
    os.makedirs(settings.data_dir, exist_ok=True)
    # Background threads (the log writer, the cache's SQLite and FAISS threads) run Python too;
    # with the default 5 ms GIL switch interval a request can wait that long behind them.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    app = create_app(settings)
    app.on_startup.append(_tune_gc)  # after the features' start-up: freeze what they loaded
    uvloop.install()
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        reuse_port=reuse_port or None,
        shutdown_timeout=settings.shutdown_grace_s,
        access_log=None,
        handle_signals=True,
        print=lambda *_: log.info(
            "lockgate listening on http://%s:%s (pid %d)", settings.host, settings.port, os.getpid()
        ),
    )


async def _tune_gc(app: web.Application) -> None:
    """Move the start-up objects (modules, models, config) out of the collector's way, so a
    full collection no longer walks them all, and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, *gc.get_threshold()[1:])


def serve(settings: Settings) -> int:
    if settings.workers <= 1:
        serve_one(settings, reuse_port=False)
        return 0
    children: list[int] = []
    for _ in range(settings.workers):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                serve_one(settings, reuse_port=True)
            except BaseException:
                log.exception("worker %d failed", os.getpid())
                code = 1
            finally:
                logging.shutdown()
                os._exit(code)
        children.append(pid)

    def forward(signum: int, _frame: object) -> None:
        for pid in children:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = 0
    for pid in children:
        while True:
            try:
                _, code = os.waitpid(pid, 0)
                status = status or (os.waitstatus_to_exitcode(code) if code else 0)
                break
            except InterruptedError:
                continue
            except ChildProcessError:
                break
    return status


def configure_logging() -> None:
    logging.basicConfig(
        level=os.environ.get("LOCKGATE_LOG_LEVEL", "INFO").upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
