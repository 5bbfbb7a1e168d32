"""Synthetic data with known mutual information (estimator validation and synthetic studies).

Samplers of :mod:`infoplane.synthetic.gaussian` are re-exported here. The image renderers live
in :mod:`infoplane.synthetic.images` (import that module directly).
"""

from __future__ import annotations

from infoplane.synthetic.gaussian import (
    DISTRIBUTIONS,
    STUDENT_T_DOF,
    correlated_gaussian,
    discrete_label_gaussian,
    gaussian_mi_bits,
    label_gaussian,
    label_gaussian_mi_bits,
    label_gaussian_separation,
    random_rotation,
    student_t,
    student_t_mi_bits,
    student_t_tail_mi_bits,
    uniform_margins,
)

__all__ = [
    "DISTRIBUTIONS",
    "STUDENT_T_DOF",
    "correlated_gaussian",
    "discrete_label_gaussian",
    "gaussian_mi_bits",
    "label_gaussian",
    "label_gaussian_mi_bits",
    "label_gaussian_separation",
    "random_rotation",
    "student_t",
    "student_t_mi_bits",
    "student_t_tail_mi_bits",
    "uniform_margins",
]
