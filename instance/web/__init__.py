"""The print server's web side: native API, OctoPrint-compatible API, live events, metrics."""

import sys

# aiohttp builds client TLS contexts (loading every system CA certificate) as it
# is imported; this server makes no TLS connections and serves plain HTTP behind
# the proxy, so aiohttp is imported without the ssl module: about 3 MB less
# resident memory, a third of the web server's share of the 40 MB budget.
if "aiohttp" not in sys.modules:
    # The Prometheus client (instance.web.metrics) imports urllib's HTTPS handler, which
    # http.client and urllib.request only define if ssl was importable when they were first
    # imported: it comes first, with ssl; aiohttp still builds no TLS context.
    import prometheus_client  # noqa: F401

    _ssl = sys.modules.get("ssl")
    sys.modules["ssl"] = None  # type: ignore[assignment]
    try:
        import aiohttp.web  # noqa: F401
    finally:
        if _ssl is None:
            del sys.modules["ssl"]
        else:
            sys.modules["ssl"] = _ssl
