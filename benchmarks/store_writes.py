"""CPU cost of writing recorded epochs to the activation stores: Zarr's region writes against
the direct chunk writes of :func:`infoplane.store.write_epochs`, in the same process.

Sets up the paper-scale study's training group (``config/studies/tishby2017.yaml``: 25 seeds,
layers 10/7/5/4/3 + softmax 2, all 4096 samples, ~280 recorded epochs) in a temporary
directory, takes one recorded epoch of real activations, metrics and SGD diagnostics from the
batched engine, and times ``infoplane.training._write_seed`` (what the background store writer
runs per seed and flush) writing 1 epoch per call and 30 consecutive epochs in one call, each
into fresh epochs of a store written only one way (``--repeat`` rounds, the fastest kept).
Then checks that both ways wrote byte-identical chunk files, and prints the per-seed cost of
``create_store`` and ``finalize_store`` and the size and compression time of zstd levels 1
and 3 on one seed-epoch.

    python benchmarks/store_writes.py [--repeat 3]

Times are CPU milliseconds of this process (``time.process_time``) per seed and recorded epoch.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from infoplane import store as act_store
from infoplane import training as T
from infoplane.config import validate_config

REPO = Path(__file__).resolve().parents[1]
SEEDS = 25


class ZarrWriter(T.StoreWriter):
    """The store writer with every array written through zarr region writes (the old path)."""

    def write(self, path: Path, start: int, activations: dict[str, np.ndarray], metrics: dict[str, np.ndarray]) -> None:
        act_store.write_epochs(path, start, activations, metrics, direct=False)


def cpu_ms(fn: Callable[[], Any]) -> float:
    """CPU milliseconds of one call of ``fn``."""
    c0 = time.process_time()
    fn()
    return (time.process_time() - c0) * 1e3


def sample_items(setup: T._Setup) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """One seed's recorded epoch: activations {layer: (4096, units) float32}, metrics (4,),
    SGD diagnostics (3, n_weight_layers), from the engine after one tracked training epoch."""
    with T._deterministic_torch(1):
        eng = T._make_engine(setup)
        eng.train_epoch([True] * len(setup.seeds), track=True)
        sgd = eng.sgd_stats()
        metrics, acts = eng.evaluate(1, True)
    assert acts is not None
    return acts[0], metrics[0], sgd[0]


def time_writes(writer: T.StoreWriter, path: Path, one: tuple, epochs: range, per_call: int) -> float:
    """CPU ms per seed-epoch of ``_write_seed`` writing ``epochs`` of store ``path``,
    ``per_call`` consecutive epochs per call."""
    acts, vals, sgd = one
    total = 0.0
    for s in range(epochs.start, epochs.stop, per_call):
        items = [(i, acts, vals, sgd) for i in range(s, min(s + per_call, epochs.stop))]
        total += cpu_ms(lambda items=items: T._write_seed(writer, path, items))
    return total / len(epochs)


def chunk_bytes(path: Path, epochs: range) -> dict[str, bytes]:
    """Every chunk file of recorded epochs ``epochs`` in store ``path``: relative key -> bytes."""
    out = {}
    for array in sorted(p for p in path.iterdir() if p.is_dir()):
        for i in epochs:
            top = array / "c" / str(i)
            for f in sorted(top.rglob("*")) if top.is_dir() else [top]:
                if f.is_file():
                    out[str(f.relative_to(path))] = f.read_bytes()
    return out


def zstd_levels(acts: dict[str, np.ndarray], repeat: int) -> None:
    """Compressed size and CPU ms of one seed-epoch's activation chunks at zstd levels 1 and 3."""
    from numcodecs import Zstd

    raw = sum(a.nbytes for a in acts.values())
    chunks = [np.ascontiguousarray(a) for a in acts.values()]
    for level in (1, 3):
        codec = Zstd(level=level, checksum=True)
        size = sum(len(codec.encode(a)) for a in chunks)
        ms = min(cpu_ms(lambda c=codec: [c.encode(a) for a in chunks]) for _ in range(repeat * 5))
        print(f"  zstd level {level}: {size / 1e3:7.1f} kB of {raw / 1e3:.1f} kB raw per seed-epoch, {ms:5.2f} ms CPU")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="rounds per measurement (the fastest is kept)")
    args = ap.parse_args()
    cfg = validate_config(yaml.safe_load((REPO / "config" / "studies" / "tishby2017.yaml").read_text()))
    work = Path(tempfile.mkdtemp(prefix="store_writes-"))
    seeds = list(range(SEEDS))
    setup = T._setup(cfg, seeds, {s: work / f"seed{s}.zarr" for s in seeds}, work / "m.csv", work / "work")
    one = sample_items(setup)
    n_rec = len(setup.rec)
    print(f"{SEEDS}-seed group, {n_rec} recorded epochs, {len(one[0])} layers, "
          f"{sum(a.nbytes for a in one[0].values()) / 1e3:.0f} kB of activations per seed-epoch; in {work}")

    writer = T.StoreWriter()
    with T._deterministic_torch(1):
        eng = T._make_engine(setup)
        create = cpu_ms(lambda: T._init_or_resume(setup, eng, writer)) / SEEDS
    stores = {"zarr": setup.partial(0), "direct": setup.partial(1)}
    writers = {"zarr": ZarrWriter(), "direct": writer}
    results: dict[tuple[str, int], float] = {}
    next_epoch = {"zarr": 0, "direct": 0}
    for _ in range(args.repeat):
        for per_call, n in ((1, 10), (30, 30)):
            for how in ("zarr", "direct"):
                epochs = range(next_epoch[how], next_epoch[how] + n)
                next_epoch[how] += n
                assert epochs.stop <= n_rec
                ms = time_writes(writers[how], stores[how], one, epochs, per_call)
                results[how, per_call] = min(ms, results.get((how, per_call), np.inf))
    print("CPU ms per seed-epoch of _write_seed (fresh epochs, fastest of", args.repeat, "rounds):")
    for per_call in (1, 30):
        before, after = results["zarr", per_call], results["direct", per_call]
        print(f"  {per_call:2d} epoch(s) per call: zarr {before:6.2f}  direct {after:6.2f}  "
              f"ratio {before / after:5.1f}x")
    a = chunk_bytes(stores["zarr"], range(next_epoch["zarr"]))
    b = chunk_bytes(stores["direct"], range(next_epoch["direct"]))
    assert a.keys() == b.keys() and a == b, "the direct chunk files differ from zarr's"
    print(f"  chunk files of both stores byte-identical ({len(a)} files)")
    final = cpu_ms(lambda: [writer.finalize(setup.partial(s), "ok", "", 10000) for s in seeds]) / SEEDS
    print(f"per seed: create_store {create:.1f} ms CPU (once), finalize_store {final:.1f} ms CPU (once)")
    zstd_levels(one[0], args.repeat)


if __name__ == "__main__":
    main()
