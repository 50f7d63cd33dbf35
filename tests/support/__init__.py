"""Test helpers that start real servers (redis-server, uvicorn, PostgreSQL)."""
