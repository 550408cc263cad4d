"""The live layer: one subscriber session behind every transport (SSE, NDJSON, WebSocket).

Kept free of imports so that :mod:`dashboard.client` can use :mod:`dashboard.live.wire`
without loading the server.
"""
