"""Provenance: what made an artifact (config hash, seed, package and library versions).

Every artifact records :func:`provenance_attrs` in its attributes (Zarr/netCDF attrs, or a
``<file>.provenance.json`` sidecar for CSV and figures); :func:`read_provenance` reads any of them
back for ``infoplane provenance <artifact>``.
"""

from __future__ import annotations

import json
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

LIBRARIES: tuple[str, ...] = (
    "infoplane", "torch", "numpy", "scipy", "xarray", "zarr", "dask", "scikit-learn", "pandas"
)


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that can change results."""
    out = {}
    for lib in LIBRARIES:
        try:
            out[f"{lib}_version"] = version(lib)
        except PackageNotFoundError:
            out[f"{lib}_version"] = "not installed"
    out["python_version"] = platform.python_version()
    return out


def provenance_attrs(cfg: dict[str, Any] | None = None, seed: int | None = None, **extra: Any) -> dict[str, Any]:
    """Attributes to attach to an artifact: study, config hashes, seed, library versions."""
    from infoplane.config import ESTIMATION_SECTIONS, config_hash

    attrs: dict[str, Any] = {}
    if cfg is not None:
        attrs["study"] = cfg.get("study", "")
        if "model" in cfg:
            attrs["config_hash"] = config_hash(cfg)
            attrs["estimation_config_hash"] = config_hash(cfg, ESTIMATION_SECTIONS)
    if seed is not None:
        attrs["seed"] = int(seed)
    attrs.update(library_versions())
    attrs.update(extra)
    return attrs


def sidecar_path(path: str | Path) -> Path:
    """``<file>.provenance.json`` beside a CSV or figure."""
    path = Path(path)
    return path.with_name(path.name + ".provenance.json")


def write_sidecar(path: str | Path, attrs: dict[str, Any]) -> Path:
    """Write the provenance of ``path`` to its JSON sidecar and return the sidecar's path."""
    side = sidecar_path(path)
    side.write_text(json.dumps(attrs, indent=2, sort_keys=True, default=str) + "\n")
    return side


def read_provenance(path: str | Path) -> dict[str, Any]:
    """Provenance attributes of a Zarr store, a netCDF file, or a file with a JSON sidecar."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such artifact")
    if path.is_dir() and ((path / "zarr.json").exists() or path.suffix == ".zarr"):
        import xarray as xr

        return dict(xr.open_zarr(path, consolidated=False).attrs)
    if path.suffix in (".nc", ".h5"):
        import xarray as xr

        with xr.open_dataset(path) as ds:
            return dict(ds.attrs)
    side = sidecar_path(path)
    if side.exists():
        return json.loads(side.read_text())
    raise ValueError(f"{path}: no provenance recorded (not a Zarr store or netCDF file, and no {side.name})")
