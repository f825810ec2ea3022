"""`python -m api`: serve the API with uvicorn on the configured host and port."""

import sys

import uvicorn

from api.app import create_app
from swath.domain.errors import InsecureSettingsError
from swath.observe.logs import configure_logging
from swath.observe.tracing import configure_tracing
from swath.settings import Settings

ROLE = "api"


def main() -> None:
    settings = Settings()
    configure_logging(role=ROLE, fmt=settings.log_format)
    configure_tracing(settings, role=ROLE)
    try:
        app = create_app(settings)
    except InsecureSettingsError as err:
        sys.exit(f"python -m api: {err}")
    config = uvicorn.Config(
        app, host=settings.api_host, port=settings.api_port, log_level="info",
        # SIGTERM: stop accepting, let in-flight requests finish for this long, then close them.
        timeout_graceful_shutdown=settings.api_drain_s,
    )
    configure_logging(role=ROLE, fmt=settings.log_format)  # again: uvicorn.Config just gave its own loggers fresh handlers
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
