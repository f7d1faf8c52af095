"""Distances and fuzzing on GCJ-02 coordinates (what the mini-program's location APIs give)."""

from __future__ import annotations

import math

EARTH_RADIUS_M = 6_371_000
# ~500 m in latitude; longitude cells are a little narrower at Weihai's 37°N, which is fine.
FUZZ_GRID_DEG = 0.0045


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres (haversine); GCJ-02's offset is irrelevant at this scale."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    s, t = math.sin((p2 - p1) / 2), math.sin(math.radians(lng2 - lng1) / 2)
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(s * s + math.cos(p1) * math.cos(p2) * t * t))


def prepare(lat: float, lng: float) -> tuple[float, float, float]:
    """A point as ``distances_m`` takes it: what ``distance_m`` works out for it, worked out once."""
    p = math.radians(lat)
    return p, math.cos(p), lng


def distances_m(lat: float, lng: float, points: list[tuple[float, float, float]]) -> list[float]:
    """``distance_m`` from (lat, lng) to each of ``points`` (as ``prepare`` gives them), the very
    same floats, for a fraction of the cost: a browse measures the distance to every spot near it."""
    p1 = math.radians(lat)
    cos_p1 = math.cos(p1)
    sin, asin, sqrt, radians = math.sin, math.asin, math.sqrt, math.radians
    out = []
    for p2, cos_p2, lng2 in points:
        s, t = sin((p2 - p1) / 2), sin(radians(lng2 - lng) / 2)
        out.append(2 * EARTH_RADIUS_M * asin(sqrt(s * s + cos_p1 * cos_p2 * t * t)))
    return out


CELL_ROW = 1_000_000  # cell = row * CELL_ROW + col, both offset to stay positive


def cell_of(lat: float, lng: float) -> int:
    """The grid cell (same grid as ``fuzz``) a position falls in."""
    row = math.floor(lat / FUZZ_GRID_DEG) + 20_000
    col = math.floor(lng / FUZZ_GRID_DEG) + 40_000
    return row * CELL_ROW + col


def ring(cell: int, k: int) -> list[int]:
    """The cells at Chebyshev distance exactly ``k`` from ``cell`` (k = 0: the cell itself)."""
    row, col = divmod(cell, CELL_ROW)
    if k == 0:
        return [cell]
    out = []
    for dr in range(-k, k + 1):
        for dc in (range(-k, k + 1) if abs(dr) == k else (-k, k)):
            out.append((row + dr) * CELL_ROW + col + dc)
    return out


# A cell's neighbourhood: the square of cells reaching this many beyond it on every side (5 × 5,
# ~2.5 km), which browsing keeps whole for each cell it is asked about (server/workflow/browse.py).
HOOD_HALF = 2


def square(cell: int, half: int) -> list[int]:
    """The cells of the square reaching ``half`` cells beyond ``cell`` on every side, row by row."""
    row, col = divmod(cell, CELL_ROW)
    return [(row + dr) * CELL_ROW + col + dc for dr in range(-half, half + 1) for dc in range(-half, half + 1)]


def clear_of_square_m(lat: float, lng: float, half: int) -> float:
    """How far (lat, lng) is from anything outside the square of cells reaching ``half`` cells
    beyond its own on every side: the distance to the square's nearest edge, on the same sphere as
    ``distance_m``. Across a parallel that is the difference in latitude; across a meridian it is
    the cross-track distance asin(cos φ · sin Δλ), a little less than the difference in longitude
    scaled at φ. Less a centimetre for rounding, so a task counted as inside really is."""
    row = math.floor(lat / FUZZ_GRID_DEG)
    col = math.floor(lng / FUZZ_GRID_DEG)
    d_lat = min(lat - (row - half) * FUZZ_GRID_DEG, (row + half + 1) * FUZZ_GRID_DEG - lat)
    d_lng = min(lng - (col - half) * FUZZ_GRID_DEG, (col + half + 1) * FUZZ_GRID_DEG - lng)
    across_meridian = math.asin(min(1.0, math.cos(math.radians(lat)) * math.sin(math.radians(d_lng))))
    return EARTH_RADIUS_M * min(math.radians(d_lat), across_meridian) - 0.01


def fuzz(lat: float, lng: float) -> tuple[float, float]:
    """Snap to the centre of a ~500 m grid cell: stable (no averaging repeated answers), coarse."""
    def snap(v: float) -> float:
        return round((math.floor(v / FUZZ_GRID_DEG) + 0.5) * FUZZ_GRID_DEG, 5)

    return snap(lat), snap(lng)
