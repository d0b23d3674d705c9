"""The local HTTP server: `app` (FastAPI app, auth, admission) and `api` (request rules)."""
