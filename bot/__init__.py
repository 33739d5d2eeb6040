"""A retrieval FAQ bot that only ever answers with vetted passages."""

__version__ = "0.1.0"
