"""Zones: point in polygon (with holes, multipolygons), circles, signed distances, buffer,
accuracy, hysteresis and network hints. Pure."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tumar.policy.device_policy import Zone
from tumar.policy.device_zones import (
    Presence,
    contains_point,
    distance_to_zone_m,
    haversine_m,
    network_match,
    presence,
)

LAT0, LON0 = 51.1280, 71.4300  # Astana
M_LAT = 1 / 111_195.0  # degrees of latitude per metre
M_LON = M_LAT / math.cos(math.radians(LAT0))


def off(north_m: float, east_m: float) -> tuple[float, float]:
    return LAT0 + north_m * M_LAT, LON0 + east_m * M_LON


def square(half_m: float, *, north: float = 0, east: float = 0) -> list[list[float]]:
    pts = [(-half_m, -half_m), (-half_m, half_m), (half_m, half_m), (half_m, -half_m)]
    ring = []
    for n, e in [*pts, pts[0]]:
        lat, lon = off(n + north, e + east)
        ring.append([lon, lat])
    return ring


def zone(geometry: dict[str, Any], buffer_m: float = 0, networks: frozenset[str] = frozenset()
         ) -> Zone:  # fmt: skip
    return Zone("z", "Z", geometry, buffer_m, networks)


BOX = zone({"type": "Polygon", "coordinates": [square(100)]})
HOLED = zone({"type": "Polygon", "coordinates": [square(100), square(30)]})
MULTI = zone({"type": "MultiPolygon", "coordinates": [[square(50)], [square(50, east=500)]]})
CIRCLE = zone({"type": "Circle", "coordinates": [LON0, LAT0], "radius_m": 100})

DISTANCES = [
    # zone, (north, east) metres from the centre, expected signed distance
    (BOX, (0, 0), -100),
    (BOX, (0, 90), -10),
    (BOX, (0, 110), 10),
    (BOX, (150, 0), 50),
    (BOX, (130, 140), math.hypot(30, 40)),  # nearest is the corner
    (HOLED, (0, 0), 30),  # in the hole: outside, 30 m from its edge
    (HOLED, (0, 50), -20),
    (HOLED, (0, 95), -5),
    (MULTI, (0, 0), -50),
    (MULTI, (0, 500), -50),
    (MULTI, (0, 250), 200),
    (CIRCLE, (0, 0), -100),
    (CIRCLE, (60, 80), 0),
    (CIRCLE, (0, 250), 150),
]


@pytest.mark.parametrize(("z", "where", "expected"), DISTANCES)
def test_distance(z: Zone, where: tuple[float, float], expected: float) -> None:
    lat, lon = off(*where)
    d = distance_to_zone_m(z, lat, lon)
    assert d == pytest.approx(expected, abs=0.1)  # decimetres at building scale
    assert contains_point(z, lat, lon) is (d <= 0)


def test_haversine_known_distance() -> None:
    # one degree of latitude along a meridian
    assert haversine_m(51.0, 71.0, 52.0, 71.0) == pytest.approx(111_195, rel=1e-4)


def P(z: Zone, where: tuple[float, float], acc: float, **kw: Any) -> Presence:
    lat, lon = off(*where)
    return presence(z, lat=lat, lon=lon, accuracy_m=acc, **kw)


BUFFERED = zone({"type": "Polygon", "coordinates": [square(100)]}, buffer_m=20)

PRESENCE = [
    # zone, where, accuracy, extra, expected
    (BUFFERED, (0, 0), 10, {}, Presence.INSIDE),
    (BUFFERED, (0, 115), 0, {}, Presence.INSIDE),  # in the buffer
    (BUFFERED, (0, 115), 10, {}, Presence.UNCERTAIN),  # circle straddles buffer edge
    (BUFFERED, (0, 125), 10, {}, Presence.UNCERTAIN),
    (BUFFERED, (0, 135), 10, {}, Presence.OUTSIDE),
    (BUFFERED, (0, 0), 500, {}, Presence.UNCERTAIN),  # a coarse fix cannot tell
    (BUFFERED, (0, 2000), 500, {}, Presence.OUTSIDE),
    # hysteresis: inside stays inside until buffer + hysteresis
    (BUFFERED, (0, 135), 5, {"was_inside": True, "hysteresis_m": 25}, Presence.INSIDE),
    (BUFFERED, (0, 150), 5, {"was_inside": True, "hysteresis_m": 25}, Presence.OUTSIDE),
    (BUFFERED, (0, 135), 5, {"was_inside": False, "hysteresis_m": 25}, Presence.OUTSIDE),
    (BUFFERED, (0, 142), 5, {"was_inside": True, "hysteresis_m": 25}, Presence.UNCERTAIN),
]


@pytest.mark.parametrize(("z", "where", "acc", "extra", "expected"), PRESENCE)
def test_presence(z: Zone, where: tuple[float, float], acc: float, extra: dict[str, Any],
                  expected: Presence) -> None:  # fmt: skip
    assert P(z, where, acc, **extra) is expected


NETZ = zone(
    {"type": "Polygon", "coordinates": [square(100)]},
    networks=frozenset({"wifi:MOF-STAFF", "bssid:aa:bb:cc:dd:ee:ff", "ip:10.1.0.0/16"}),
)


def test_network_hints() -> None:
    assert network_match(NETZ, {"wifi:MOF-STAFF"}, None)
    assert not network_match(NETZ, {"wifi:mof-staff"}, None)  # SSIDs are case-sensitive
    assert network_match(NETZ, {"bssid:AA-BB-CC-DD-EE-FF"}, None)
    assert network_match(NETZ, set(), "10.1.44.5")
    assert not network_match(NETZ, set(), "10.2.0.1")
    assert not network_match(NETZ, {"garbage", "ip:10.1.0.0/16"}, "not-an-ip")
    # a matching network counts as inside whatever the fix says, and without a fix
    assert P(NETZ, (0, 5000), 5, networks={"wifi:MOF-STAFF"}) is Presence.INSIDE
    assert presence(NETZ, lat=None, lon=None, accuracy_m=None, client_ip="10.1.0.9") is (
        Presence.INSIDE
    )
    assert presence(NETZ, lat=None, lon=None, accuracy_m=None) is Presence.UNCERTAIN


@pytest.mark.parametrize(
    ("lat", "lon", "acc"),
    [(float("nan"), LON0, 5), (LAT0, float("inf"), 5), (95.0, LON0, 5), (LAT0, LON0, -1),
     (LAT0, LON0, float("nan")), (LAT0, LON0, None)],
)  # fmt: skip
def test_unusable_fix_is_uncertain(lat: float, lon: float, acc: float | None) -> None:
    assert presence(BOX, lat=lat, lon=lon, accuracy_m=acc) is Presence.UNCERTAIN


# ---- properties -------------------------------------------------------------------------------

metres = st.floats(-400, 400)


@settings(deadline=None)  # CPU is shared with other test runs
@given(metres, metres, st.floats(0.05, 1.0))
def test_moving_inwards_never_leaves(n: float, e: float, k: float) -> None:
    """A point moved towards the centre of a convex zone is never further from inside."""
    for z in (BOX, CIRCLE):
        far = distance_to_zone_m(z, *off(n, e))
        near = distance_to_zone_m(z, *off(n * k, e * k))
        assert near <= far + 1e-6


@settings(deadline=None)  # CPU is shared with other test runs
@given(metres, metres, st.floats(0, 50), st.floats(0, 50), st.booleans())
def test_presence_monotone_in_accuracy_and_hysteresis(n: float, e: float, acc: float,
                                                      hyst: float, was: bool) -> None:  # fmt: skip
    got = P(BUFFERED, (n, e), acc, was_inside=was, hysteresis_m=hyst)
    # a more precise fix never turns a definite answer around
    sharper = P(BUFFERED, (n, e), acc / 2, was_inside=was, hysteresis_m=hyst)
    if got is not Presence.UNCERTAIN:
        assert sharper is got
    # having been inside never makes a device outside where it would otherwise be inside
    if P(BUFFERED, (n, e), acc, was_inside=False, hysteresis_m=hyst) is Presence.INSIDE:
        assert P(BUFFERED, (n, e), acc, was_inside=True, hysteresis_m=hyst) is Presence.INSIDE


@settings(deadline=None)  # CPU is shared with other test runs
@given(metres, metres)
def test_hole_and_outer_agree(n: float, e: float) -> None:
    lat, lon = off(n, e)
    in_box = distance_to_zone_m(BOX, lat, lon) < -0.01
    in_hole = max(abs(n), abs(e)) < 29.99
    if in_box and not in_hole and max(abs(n), abs(e)) > 30.01:
        assert distance_to_zone_m(HOLED, lat, lon) < 0
    if in_hole:
        assert distance_to_zone_m(HOLED, lat, lon) > 0
