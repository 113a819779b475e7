"""`python -m api`: serve the API with uvicorn on API_HOST:API_PORT."""

from __future__ import annotations

import logging
import signal
from types import FrameType

import uvicorn

from edgewise.config import get_settings
from edgewise.logging import setup_logging

log = logging.getLogger("edgewise.api")


def _drained(signum: int, frame: FrameType | None) -> None:
    """uvicorn handles SIGTERM itself (stop accepting, finish requests in flight, run the lifespan's
    shutdown), then restores the handler it found and raises the signal again. Finding this one, the process
    ends normally — exit 0, like the worker after its drain — instead of dying of the re-raised signal."""
    log.info("api stopped after draining")


def main() -> None:
    from api.app import create_app

    settings = get_settings()
    setup_logging(settings)
    # log_config=None: uvicorn's loggers propagate to our JSON handler instead of their own format.
    # access_log=False: uvicorn's access lines carry the query string (an `api_key=…` or a cursor a client
    # put there); api.middleware.MetricsMiddleware logs every request by its path instead.
    signal.signal(signal.SIGTERM, _drained)
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        # SIGTERM: stop accepting, let requests in flight finish (this long at most), then shut down.
        timeout_graceful_shutdown=round(settings.api_shutdown_grace_seconds),
    )


if __name__ == "__main__":
    main()
