"""`python -m api`: serve the API with uvicorn on API_HOST:API_PORT."""

from __future__ import annotations

import uvicorn

from edgewise.config import get_settings
from edgewise.logging import setup_logging


def main() -> None:
    from api.app import create_app

    settings = get_settings()
    setup_logging(settings)
    # log_config=None: uvicorn's loggers propagate to our JSON handler instead of their own format.
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        proxy_headers=True,
    )


if __name__ == "__main__":
    main()
