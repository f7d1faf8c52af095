"""Distances and fuzzing on GCJ-02 coordinates (what the mini-program's location APIs give)."""

from __future__ import annotations

import math

EARTH_RADIUS_M = 6_371_000
# ~500 m in latitude; longitude cells are a little narrower at Weihai's 37°N, which is fine.
FUZZ_GRID_DEG = 0.0045


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres (haversine); GCJ-02's offset is irrelevant at this scale."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def fuzz(lat: float, lng: float) -> tuple[float, float]:
    """Snap to the centre of a ~500 m grid cell: stable (no averaging repeated answers), coarse."""
    def snap(v: float) -> float:
        return round((math.floor(v / FUZZ_GRID_DEG) + 0.5) * FUZZ_GRID_DEG, 5)

    return snap(lat), snap(lng)
