"""Dask clients for the estimation stages: a local cluster of single-threaded processes, or an
existing scheduler (a real cluster), opened and closed in one place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: Environment of local worker processes: one OpenMP/BLAS thread each. A Snakemake job with
#: ``threads: N`` exports OMP_NUM_THREADS=N, which every worker would otherwise inherit (N
#: threads in each of N processes oversubscribe the cores).
SINGLE_THREAD_ENV = {v: "1" for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}


@contextmanager
def dask_client(workers: int, scheduler: str | None = None) -> Iterator[Any]:
    """Yield a ``distributed.Client``, or ``None`` for serial in-process work.

    Parameters
    ----------
    workers : int
        Local worker processes (one thread each); ``workers <= 1`` without a scheduler yields
        ``None`` (callers then run serially).
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); overrides ``workers``. The
        scheduler and its workers are left running on exit; a local cluster is shut down.
    """
    if workers <= 1 and not scheduler:
        yield None
        return
    from distributed import Client, LocalCluster

    if scheduler:
        client = Client(scheduler)
        try:
            yield client
        finally:
            client.close()
        return
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=40, env=SINGLE_THREAD_ENV)
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
