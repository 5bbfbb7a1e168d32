"""The one place that converts between nats and bits.

Every public function, table and figure reports mutual information in **bits**; nats appear only
inside formulas (natural logarithms, digamma functions). Convert once, at the return statement.
"""

from __future__ import annotations

import math

import numpy as np

LN2: float = math.log(2.0)
"""ln(2): the number of nats in one bit."""


def nats_to_bits(value):
    """Convert a value (scalar or array) in nats to bits (divide by ln 2)."""
    if isinstance(value, (int, float)):
        return float(value) / LN2
    return np.asarray(value) / LN2


def bits_to_nats(value):
    """Convert a value (scalar or array) in bits to nats (multiply by ln 2)."""
    if isinstance(value, (int, float)):
        return float(value) * LN2
    return np.asarray(value) * LN2
