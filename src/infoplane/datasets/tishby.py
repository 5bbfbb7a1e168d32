"""The 12-bit dataset of Shwartz-Ziv & Tishby (2017), "Opening the black box of deep neural
networks via information" (arXiv:1703.00810).

The 4096 inputs are all binary 12-vectors; the 12 bits sit on the vertices of an icosahedron.
A sample's label depends only on which vertices are active and how they are arranged:

    score = 41.2 k + 0.8 n_adj - 8.8 n_second - 13.6 n_anti,   y = 1 iff score > 171.8

with k the number of active bits and n_adj / n_second / n_anti the number of unordered pairs of
active bits that are neighbours / at graph distance 2 / antipodal. This reproduces the labels of
the authors' ``var_u.mat`` bit for bit (2118 of 4096 are 1; the closest score is 1.0 from the
threshold, so the rule is robust to rounding).
"""

from __future__ import annotations

import numpy as np

#: Icosahedron adjacency (vertex -> its 5 neighbours), as in the original generator.
ICOSAHEDRON_ADJACENCY: dict[int, tuple[int, ...]] = {
    0: (1, 3, 5, 10, 11),
    1: (0, 2, 3, 4, 11),
    2: (1, 3, 4, 8, 9),
    3: (0, 1, 2, 8, 10),
    4: (1, 2, 6, 9, 11),
    5: (0, 6, 7, 10, 11),
    6: (4, 5, 7, 9, 11),
    7: (5, 6, 8, 9, 10),
    8: (2, 3, 7, 9, 10),
    9: (2, 4, 6, 7, 8),
    10: (0, 3, 5, 7, 8),
    11: (0, 1, 4, 5, 6),
}
#: Antipodal vertex pairs (graph distance 3).
ANTIPODES: tuple[tuple[int, int], ...] = ((0, 9), (1, 7), (2, 5), (3, 6), (4, 10), (8, 11))

N_BITS = 12
_WEIGHTS = {"k": 41.2, "adj": 0.8, "second": -8.8, "anti": -13.6}
_THRESHOLD = 171.8


def icosahedron_distances() -> np.ndarray:
    """Graph distances between the 12 vertices, int64 (12, 12), values 0..3."""
    dist = np.full((N_BITS, N_BITS), N_BITS, dtype=np.int64)
    np.fill_diagonal(dist, 0)
    for i, nbrs in ICOSAHEDRON_ADJACENCY.items():
        dist[i, list(nbrs)] = 1
    for k in range(N_BITS):  # Floyd-Warshall
        dist = np.minimum(dist, dist[:, k : k + 1] + dist[k : k + 1, :])
    return dist


def _pair_counts(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Number of unordered active pairs (i, j) with mask[i, j], per row of the 0/1 matrix x."""
    xi = x.astype(np.int64)
    return np.einsum("ni,ij,nj->n", xi, mask.astype(np.int64), xi) // 2


def tishby_12bit() -> tuple[np.ndarray, np.ndarray]:
    """All 4096 12-bit inputs and their labels.

    Returns
    -------
    x : float32 ndarray, shape (4096, 12)
        Row i is the binary form of i, most significant bit first (as in ``var_u.mat``'s ``F``).
    y : int64 ndarray, shape (4096,)
        Labels in {0, 1}; 2118 ones.
    """
    ids = np.arange(2**N_BITS, dtype=np.int64)
    bits = (ids[:, None] >> np.arange(N_BITS - 1, -1, -1)) & 1
    dist = icosahedron_distances()
    anti = np.zeros((N_BITS, N_BITS), dtype=bool)
    for a, b in ANTIPODES:
        anti[a, b] = anti[b, a] = True
    if not np.array_equal(anti, dist == 3):  # pragma: no cover - guards the constant tables
        raise RuntimeError("icosahedron tables are inconsistent: antipodes are not at distance 3")
    score = (
        _WEIGHTS["k"] * bits.sum(axis=1)
        + _WEIGHTS["adj"] * _pair_counts(bits, dist == 1)
        + _WEIGHTS["second"] * _pair_counts(bits, dist == 2)
        + _WEIGHTS["anti"] * _pair_counts(bits, dist == 3)
    )
    y = (score > _THRESHOLD).astype(np.int64)
    return bits.astype(np.float32), y
