"""The HTTP layer: FastAPI app, write routes, read routes and operations."""
