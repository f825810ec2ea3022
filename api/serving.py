"""How uvicorn serves the API: the options every launch shares (`python -m api`, `swath up`, the tests).

Which client a request comes from decides its failed-authentication budget, so it is taken from
`X-Forwarded-For` only when the TCP peer is one of `SWATH_TRUSTED_PROXIES`. uvicorn's own default
believes the header from 127.0.0.1 (and `FORWARDED_ALLOW_IPS`); here the setting alone decides.
"""

from __future__ import annotations

from typing import Any

from swath.settings import Settings


def proxy_options(settings: Settings) -> dict[str, Any]:
    """`uvicorn.Config` keywords that believe forwarded headers from the trusted proxies only."""
    proxies = list(settings.trusted_proxies)
    # With no proxy trusted the middleware is left out: `forwarded_allow_ips=[]` would fall back to nothing,
    # but a missing header middleware cannot be talked into anything.
    return {"proxy_headers": bool(proxies), "forwarded_allow_ips": proxies}


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Every `uvicorn.Config` keyword that comes from the settings."""
    return {
        "host": settings.api_host,
        "port": settings.api_port,
        # SIGTERM: stop accepting, let in-flight requests finish for this long, then close them.
        "timeout_graceful_shutdown": settings.api_drain_s,
        **proxy_options(settings),
    }
