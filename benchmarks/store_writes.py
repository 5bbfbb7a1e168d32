"""CPU cost of writing recorded epochs to the activation stores: Zarr's region writes against
the direct chunk writes of :func:`infoplane.store.write_epochs`, in the same process.

Sets up the paper-scale study's training group (``config/studies/tishby2017.yaml``: 25 seeds,
layers 10/7/5/4/3 + softmax 2, all 4096 samples, ~280 recorded epochs) in a temporary
directory, takes one recorded epoch of real activations, metrics and SGD diagnostics from the
batched engine, and times ``infoplane.training._write_seed`` (what the background store writer
runs per seed and flush) writing 1, 4 and 22 consecutive epochs per call, and all recorded
epochs in the study's own flushes (22 epochs each up to epoch ~1000, ``FLUSH_BYTES`` of 25
seeds' activations, then 2-17, those of one 500-epoch checkpoint interval), each round and way
into fresh epochs of its own store (``--repeat`` rounds, interleaved, the median shown), and
checks that both ways wrote byte-identical chunk files. Then prints the per-seed cost of
``create_store`` and ``finalize_store`` and the size and compression time of zstd levels 1 and 3
on one seed-epoch.

    python benchmarks/store_writes.py [--repeat 3]

Times are CPU milliseconds of this process (``time.process_time``) per seed and recorded epoch.

Measured (3 runs of ``--repeat 3`` on the 2-core development machine, load average 2-4 from
other jobs, so absolute numbers are inflated): in the study's flush sequence zarr 9.7-14.2 ms,
direct 2.7-2.9 ms per seed-epoch (3.4-5.3x; per training job of 25 seeds x 280 epochs about
68-99 CPU s before, 19-20 s after); 1 epoch per call 5.9-6.8x, 22 per call 5.9-7.8x. What is
left is zstd (~0.8 ms) and creating 13 files and 15 directories per seed-epoch (~1 ms of system
time), which the layout fixes. ``create_store`` ~0.14 s per seed (0.34-0.43 s before its dask
placeholders became one chunk each); zstd level 1 is no better than 3 here (same size; on
activations of a trained network, epochs 300-4000, 0.1-0.3 ms faster and 0.1-0.3 % larger).
"""

from __future__ import annotations

import argparse
import shutil
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


def time_writes(writer: T.StoreWriter, path: Path, one: tuple, start: int, calls: list[int]) -> float:
    """CPU ms per seed-epoch of ``_write_seed`` writing consecutive epochs of store ``path``
    from ``start`` on, ``calls[j]`` epochs in the j-th call."""
    acts, vals, sgd = one
    total = 0.0
    for n in calls:
        items = [(i, acts, vals, sgd) for i in range(start, start + n)]
        total += cpu_ms(lambda items=items: T._write_seed(writer, path, items))
        start += n
    return total / sum(calls)


def study_flushes(setup: T._Setup, seed_bytes: int) -> list[int]:
    """Recorded epochs per flush (per ``_write_seed`` call) in the study, as ``_end_of_epoch``
    flushes them: when the buffered activations of the group (``seed_bytes`` per seed and
    recorded epoch) reach ``FLUSH_BYTES``, at every checkpoint and at the end (no seed diverges)."""
    per_epoch = len(setup.seeds) * seed_bytes
    sizes, n, buffered = [], 0, 0
    for epoch in range(setup.epochs + 1):
        if epoch in setup.rec_index:
            n, buffered = n + 1, buffered + per_epoch
        if buffered >= T.FLUSH_BYTES or (epoch > 0 and epoch % setup.checkpoint_every == 0 and epoch < setup.epochs):
            sizes, n, buffered = sizes + [n] * (n > 0), 0, 0
    return sizes + [n] * (n > 0)


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
    ap.add_argument("--repeat", type=int, default=3, help="rounds per measurement (at most 6; the median is shown)")
    args = ap.parse_args()
    if not 1 <= args.repeat <= SEEDS // 4:
        ap.error(f"--repeat must be 1..{SEEDS // 4} (four fresh stores per round)")
    cfg = validate_config(yaml.safe_load((REPO / "config" / "studies" / "tishby2017.yaml").read_text()))
    work = Path(tempfile.mkdtemp(prefix="store_writes-"))
    try:
        measure(cfg, work, args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # up to ~1.5 GB of stores


def measure(cfg: dict[str, Any], work: Path, repeat: int) -> None:
    """Run and print every measurement, with the stores under ``work``."""
    seeds = list(range(SEEDS))
    setup = T._setup(cfg, seeds, {s: work / f"seed{s}.zarr" for s in seeds}, work / "m.csv", work / "work")
    one = sample_items(setup)
    n_rec = len(setup.rec)
    print(f"{SEEDS}-seed group, {n_rec} recorded epochs, {len(one[0])} layers, "
          f"{sum(a.nbytes for a in one[0].values()) / 1e3:.0f} kB of activations per seed-epoch")

    writer = T.StoreWriter()
    with T._deterministic_torch(1):
        eng = T._make_engine(setup)
        create = cpu_ms(lambda: T._init_or_resume(setup, eng, writer)) / SEEDS
    writers = {"zarr": ZarrWriter(), "direct": writer}
    flushes = study_flushes(setup, sum(a.nbytes for a in one[0].values()))
    assert sum(flushes) == n_rec
    rows: dict[str, list[int]] = {"1 epoch per call": [1] * 10, "4 epochs per call": [4] * 6,
                                  "22 epochs per call": [22] * 2, f"study ({len(flushes)} flushes)": flushes}
    results: dict[tuple[str, str], list[float]] = {}
    n_files = 0
    for r in range(repeat):  # each round, row and way into fresh epochs of its own store
        stores = {"zarr": setup.partial(4 * r), "direct": setup.partial(4 * r + 1)}
        start = 0
        for row, calls in rows.items():
            if row.startswith("study"):  # all recorded epochs: a pair of stores of its own
                stores, start = {"zarr": setup.partial(4 * r + 2), "direct": setup.partial(4 * r + 3)}, 0
            for how in ("zarr", "direct"):
                results.setdefault((how, row), []).append(time_writes(writers[how], stores[how], one, start, calls))
            start += sum(calls)
        for k in range(4 * r, 4 * r + 4, 2):  # both ways wrote the same bytes
            a, b = chunk_bytes(setup.partial(k), range(n_rec)), chunk_bytes(setup.partial(k + 1), range(n_rec))
            assert a.keys() == b.keys() and a == b, "the direct chunk files differ from zarr's"
            n_files += len(a)
    print(f"CPU ms per seed-epoch of _write_seed (fresh epochs; median of {repeat} interleaved rounds):")
    for row in rows:
        before, after = (float(np.median(results[how, row])) for how in ("zarr", "direct"))
        print(f"  {row:<22s} zarr {before:6.2f}  direct {after:6.2f}  ratio {before / after:5.1f}x")
    print(f"  study flushes (epochs per call): {flushes}")
    print(f"  chunk files written both ways byte-identical ({n_files} files each way)")
    final = cpu_ms(lambda: [writer.finalize(setup.partial(s), "ok", "", 10000) for s in seeds]) / SEEDS
    print(f"per seed: create_store {create:.1f} ms CPU (once), finalize_store {final:.1f} ms CPU (once)")
    zstd_levels(one[0], repeat)


if __name__ == "__main__":
    main()
