"""Classification labels: an ordered set, lowest first (``public`` < ``internal`` <
``official-use`` by default). Pure.

Every room carries its label as the state event ``kz.tumar.classification`` (state key ``""``,
content ``{"label": "<name>"}``). A room without that event (created before labels existed)
counts as the configured default for its kind.
"""

from __future__ import annotations

from collections.abc import Sequence

LABEL_EVENT = "kz.tumar.classification"
LABEL_ERRCODE_PREFIX = "TUMAR_"


def rank(label: str, labels: Sequence[str]) -> int:
    """Position of ``label`` in ``labels`` (0 is the lowest). Unknown labels rank highest, so
    a label that an operator removed from the configuration still protects its rooms."""
    try:
        return labels.index(label)
    except ValueError:
        return len(labels)


def at_least(label: str, floor: str, labels: Sequence[str]) -> bool:
    """Whether ``label`` is ``floor`` or above."""
    return rank(label, labels) >= rank(floor, labels)


def reaches(clearance: str, label: str, labels: Sequence[str]) -> bool:
    """Whether a person with ``clearance`` may see content labelled ``label``."""
    return rank(clearance, labels) >= rank(label, labels) and clearance in labels
