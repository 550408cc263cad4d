"""Live price tiles and a personal notification inbox, kept current over SSE."""
