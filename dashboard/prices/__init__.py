"""Prices: instruments' tiles, ticks and their ingest, the simulated feed, alerts, watchlists."""
