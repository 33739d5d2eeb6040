"""The web layer: a thin FastAPI adapter over the assistant."""
