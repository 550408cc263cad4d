"""The store: engine and sessions, migrations, PostgreSQL wake-ups, and leases (claims)."""
