"""Outlier bounds for sensor readings (rule 5): flagged, never dropped.

Bounds are inclusive and keyed by kind of measure, so every temperature field is checked whatever the sensor
(the original keyed by field name and so never checked ``temperature``, ``humidity``, ``light``...).
Override or extend with the Variable ``sensor_outlier_bounds``: JSON ``{"<sensor_type>.<field>": [lo, hi]}``,
``"*.<field>"`` for every sensor type.
"""

from __future__ import annotations

import json

Bounds = tuple[float, float]

# (sensor_type or "*", field) -> (low, high), inclusive.
DEFAULT_BOUNDS: dict[tuple[str, str], Bounds] = {
    ("*", "temperature"): (-20.0, 60.0),
    ("*", "temperature_c"): (-20.0, 60.0),
    ("*", "humidity"): (0.0, 100.0),
    ("*", "humidity_pct"): (0.0, 100.0),
    ("*", "co2_ppm"): (300.0, 5000.0),
    ("*", "noise_db"): (0.0, 140.0),
    ("*", "pressure_hpa"): (870.0, 1085.0),
    # Absolute (station) pressure sits below sea-level pressure in the Valais (~500-1500 m).
    ("*", "abs_pressure_hpa"): (700.0, 1085.0),
    ("*", "battery"): (0.0, 100.0),
    ("*", "open"): (0.0, 1.0),
    ("*", "motion"): (0.0, 1.0),
    ("*", "light"): (0.0, 100000.0),
    ("plug", "power"): (0.0, 10000.0),
    ("plug", "total"): (0.0, 1.0e9),
    ("consumption", "total_power"): (0.0, 30000.0),
    **{("consumption", f"power{i}"): (0.0, 15000.0) for i in (1, 2, 3)},
    **{("consumption", f"current{i}"): (0.0, 80.0) for i in (1, 2, 3)},
    **{("consumption", f"voltage{i}"): (180.0, 260.0) for i in (1, 2, 3)},
}


def parse_overrides(text: str | None) -> dict[tuple[str, str], Bounds]:
    """Parse the ``sensor_outlier_bounds`` Variable; raise ValueError naming the bad entry."""
    if not text:
        return {}
    result: dict[tuple[str, str], Bounds] = {}
    for key, pair in json.loads(text).items():
        sensor_type, _, field = key.partition(".")
        if not field or not isinstance(pair, list) or len(pair) != 2:
            raise ValueError(f"sensor_outlier_bounds: bad entry {key!r}: expected '<type>.<field>': [lo, hi]")
        result[(sensor_type, field)] = (float(pair[0]), float(pair[1]))
    return result


def bounds_for(sensor_type: str, field: str, table: dict[tuple[str, str], Bounds] | None = None) -> Bounds | None:
    """The bounds that apply to a series: a type-specific entry wins over a ``*`` entry."""
    table = table or DEFAULT_BOUNDS
    return table.get((sensor_type, field)) or table.get(("*", field))
