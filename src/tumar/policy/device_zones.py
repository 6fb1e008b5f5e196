"""Zones of device policies: where a device is relative to a building. Pure.

Distances use a local equirectangular projection centred on the device's position: longitude
differences are scaled by the cosine of the latitude, then plain planar geometry applies. At
building scale (a few hundred metres) the error is far below a metre; up to 10 km away it stays
under about 0.2 %, which only moves far-away points that are clearly outside anyway. Circles
use the haversine distance. Polygons crossing the antimeridian are not supported (no
government building in Kazakhstan needs them).

A fix is "inside" when its whole accuracy circle lies within the zone widened by its buffer,
"outside" when the whole circle lies beyond it, and "uncertain" when the circle straddles the
edge. Hysteresis: a device that was inside stays inside until it is more than ``buffer_m +
hysteresis_m`` from the zone. A network the zone names (its Wi-Fi, a BSSID, a beacon, or the
client's address in one of its IP networks) counts as inside whatever the fix says: network
hints can only place a device on the premises, never take it off.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any

from tumar.policy.device_policy import Zone

EARTH_RADIUS_M = 6_371_008.8  # mean radius
_M_PER_DEG = math.pi / 180.0 * EARTH_RADIUS_M


class Presence(StrEnum):
    INSIDE = "inside"
    OUTSIDE = "outside"
    UNCERTAIN = "uncertain"


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _in_ring(x: float, y: float, ring: Sequence[Sequence[float]]) -> bool:
    inside = False
    n = len(ring)
    for i in range(n - 1):
        x1, y1 = ring[i][0], ring[i][1]
        x2, y2 = ring[i + 1][0], ring[i + 1][1]
        if (y1 > y) != (y2 > y):
            xc = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < xc:
                inside = not inside
    return inside


def _polygons(z: Zone) -> list[list[list[list[float]]]]:
    g: Any = z.geometry
    if g["type"] == "Polygon":
        return [g["coordinates"]]
    if g["type"] == "MultiPolygon":
        return list(g["coordinates"])
    return []


def _segment_distance_m(
    lat: float, lon: float, ring: Sequence[Sequence[float]], cos_lat: float
) -> float:
    best = math.inf
    for i in range(len(ring) - 1):
        ax = (ring[i][0] - lon) * cos_lat * _M_PER_DEG
        ay = (ring[i][1] - lat) * _M_PER_DEG
        bx = (ring[i + 1][0] - lon) * cos_lat * _M_PER_DEG
        by = (ring[i + 1][1] - lat) * _M_PER_DEG
        dx, dy = bx - ax, by - ay
        seg2 = dx * dx + dy * dy
        t = 0.0 if seg2 == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / seg2))
        px, py = ax + t * dx, ay + t * dy
        best = min(best, math.hypot(px, py))
    return best


def contains_point(z: Zone, lat: float, lon: float) -> bool:
    """Whether the position lies in the zone's geometry (without its buffer)."""
    return distance_to_zone_m(z, lat, lon) <= 0


def distance_to_zone_m(z: Zone, lat: float, lon: float) -> float:
    """Signed distance in metres from the position to the zone's edge: negative inside (how
    deep), positive outside. The buffer is not included."""
    g: Any = z.geometry
    if g["type"] == "Circle":
        clon, clat = g["coordinates"][0], g["coordinates"][1]
        return haversine_m(lat, lon, clat, clon) - float(g["radius_m"])
    cos_lat = math.cos(math.radians(lat))
    inside = False
    edge = math.inf
    for poly in _polygons(z):
        in_outer = _in_ring(lon, lat, poly[0])
        in_hole = any(_in_ring(lon, lat, hole) for hole in poly[1:])
        if in_outer and not in_hole:
            inside = True
        for ring in poly:
            edge = min(edge, _segment_distance_m(lat, lon, ring, cos_lat))
    return -edge if inside else edge


def normalise_network(s: str) -> str | None:
    """A reported network hint in the form zones use (``bssid``/``beacon`` lower case), or
    None when it is not a hint."""
    kind, sep, value = s.partition(":")
    if not sep or not value:
        return None
    if kind in ("bssid", "beacon"):
        return f"{kind}:{value.lower().replace('-', ':') if kind == 'bssid' else value.lower()}"
    if kind == "wifi":
        return s
    return None


def ip_in(networks: Iterable[str], ip: str | None) -> bool:
    """Whether ``ip`` lies in one of the ``ip:<cidr>`` entries of ``networks``."""
    if not ip:
        return False
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for n in networks:
        if n.startswith("ip:"):
            try:
                if addr in ipaddress.ip_network(n[3:], strict=False):
                    return True
            except ValueError:
                continue
    return False


def network_match(z: Zone, networks: Iterable[str], client_ip: str | None) -> bool:
    """Whether a reported network (or the client's address) is one the zone names."""
    reported = {n for n in (normalise_network(x) for x in networks) if n is not None}
    return bool(reported & z.networks) or ip_in(z.networks, client_ip)


def presence(
    z: Zone,
    *,
    lat: float | None,
    lon: float | None,
    accuracy_m: float | None,
    networks: Iterable[str] = (),
    client_ip: str | None = None,
    was_inside: bool | None = None,
    hysteresis_m: float = 0.0,
) -> Presence:
    """Where the device is relative to ``z``: see the module docstring. No usable position and
    no matching network is :attr:`Presence.UNCERTAIN` (so is a fix without an accuracy)."""
    if network_match(z, networks, client_ip):
        return Presence.INSIDE
    if lat is None or lon is None or not _valid(lat, lon, accuracy_m):
        return Presence.UNCERTAIN
    acc = accuracy_m or 0.0
    edge = z.buffer_m + (hysteresis_m if was_inside else 0.0)
    d = distance_to_zone_m(z, lat, lon)
    if d + acc <= edge:
        return Presence.INSIDE
    if d - acc > edge:
        return Presence.OUTSIDE
    return Presence.UNCERTAIN


def _valid(lat: float, lon: float, accuracy_m: float | None) -> bool:
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return False
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return False
    return accuracy_m is not None and math.isfinite(accuracy_m) and accuracy_m >= 0
