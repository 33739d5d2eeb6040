"""``bench --fleet``'s report: what it says of each fleet size, checked on figures given to it (the fleet
itself runs in tests/test_fleet.py; the measurement is for `faqbot bench --fleet N`, not for a test)."""

from __future__ import annotations

from bot.ops.bench import Phase
from bot.ops.fleet_bench import FleetRun, table


def phase(name: str, requests: int, seconds: float) -> Phase:
    return Phase(name, tuple(float(n % 50) for n in range(requests)), 0, seconds)


def test_per_replica_efficiency_is_throughput_over_n_times_one_replicas() -> None:
    runs = [
        FleetRun(1, phase("unique", 200, 2.0), phase("repeated", 1000, 1.0)),
        FleetRun(2, phase("unique", 300, 2.0), phase("repeated", 1000, 1.0)),
        FleetRun(3, phase("unique", 450, 3.0), phase("repeated", 900, 1.0)),
    ]
    rows = table(runs, 16)
    assert rows[0].startswith("| replicas | phase (c=16) |")
    # 150 unique questions a second on two replicas, where one gave 100: each gives 0.75 of what one did.
    assert "| 2 | unique | 24.5 | 49.0 | 150 | 0.75 | 0 |" in rows
    assert "| 3 | unique | 24.5 | 49.0 | 150 | 0.50 | 0 |" in rows
    assert "| 1 | repeated | 24.5 | 49.0 | 1000 | 1.00 | 0 |" in rows
    assert "| 3 | repeated | 24.5 | 49.0 | 900 | 0.30 | 0 |" in rows
