"""infoplane: reproducible Information Bottleneck analyses of neural networks.

The package is organised in rooms with a one-way data flow (see ``docs/design.md``):
``config`` -> ``datasets``/``models``/``training`` -> ``store`` -> ``compression`` ->
``analysis`` (calls ``estimators``) -> ``plots``. ``estimators`` and ``synthetic`` are a
pure numeric library that people import on their own arrays.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("infoplane")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
