"""The operators' tools: the benchmark (one server, a scaled index, a fleet), the soak test, local
PostgreSQL, Redis and HAProxy for them, the HAProxy configuration, the fleet's commands, and ``Server``,
one real server on loopback, which the tools and the tests share."""
