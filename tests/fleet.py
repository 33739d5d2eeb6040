"""Real services for the fleet tests, started on loopback in temporary folders and stopped afterwards.
They live in ``bot.localservices``, which ``bench --fleet`` uses too."""

from bot.localservices import REDIS_SERVER, PostgresServer, RedisServer, free_port, postgres_bin

__all__ = ["REDIS_SERVER", "PostgresServer", "RedisServer", "free_port", "postgres_bin"]
