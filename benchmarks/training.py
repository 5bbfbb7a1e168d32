"""Training many seeds at once: which batched formulation is fastest, and by how much.

Times one training epoch (a batch-order draw per seed and every minibatch step) on the Tishby
set-up (12-bit data, 12-10-7-5-4-3-2 tanh MLP, Adam lr 4e-4, batch 256, 80/20 split) for

* ``module``: one ``nn.Module`` + fused ``torch.optim.Adam`` per seed, seeds one after another
  (what one-seed-per-process ``train_run`` did, minus the process start-up);
* ``bmm_autograd``: stacked (S, in, out) weights, ``torch.baddbmm`` forward, autograd backward,
  fused Adam on the stacked tensors;
* ``vmap``: ``torch.func.vmap(grad(functional_call))`` over stacked parameters, fused Adam;
* ``handwritten``: :class:`infoplane.models.batched.BatchedMLP` (hand-written forward/backward,
  Adam on one flat buffer, batched torch ops) - what ``train_group`` uses for noisy MLPs;
* ``fused``: the same arithmetic as one compiled call per epoch (:mod:`infoplane.models.fused`) -
  what ``train_group`` uses for noiseless MLPs on the CPU;

and the whole epoch (training + the evaluation on all 4096 inputs) for ``module``, ``handwritten``
and ``fused``. Prints seconds per epoch and the speed-up per seed against ``module`` at S = 1.

    python benchmarks/training.py [--seeds 1 10 50] [--epochs 5] [--threads 1]

Times are CPU seconds of this process (``time.process_time``, one torch thread), so other
processes sharing the cores inflate them less than wall-clock time; median of a few epochs.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from infoplane.config import validate_config
from infoplane.training import (
    _BatchedEngine,
    _deterministic_torch,
    _Engine,
    _ModuleEngine,
    _setup,
)

CFG = {
    "study": "bench",
    "seeds": [0],
    "dataset": {"name": "tishby_12bit", "train_fraction": 0.8, "split_seed": 0},
    "model": {"kind": "mlp", "widths": [10, 7, 5, 4, 3], "activation": "tanh", "init": "truncated_normal"},
    "training": {"epochs": 10000, "batch_size": 256, "lr": 0.0004, "optimizer": "adam"},
    "record": {"num_epochs": 400},
    "estimators": [{"name": "binning"}],
}


class _Stacked(_Engine):
    """Stacked weights (S, in, out) trained with autograd (bmm) or vmap; fused Adam."""

    def __init__(self, setup, how: str) -> None:
        super().__init__(setup)
        lins = [[m for m in net.modules() if isinstance(m, torch.nn.Linear)] for net in self.nets]
        self.w = [torch.stack([ls[i].weight.detach().t() for ls in lins]).requires_grad_() for i in range(len(lins[0]))]
        self.b = [torch.stack([ls[i].bias.detach()[None] for ls in lins]).requires_grad_() for i in range(len(lins[0]))]
        self.params = self.w + self.b
        self.opt = torch.optim.Adam(self.params, lr=4e-4, fused=True)
        self.how = how
        if how == "vmap":
            from torch.func import grad, vmap

            def loss_one(ws, bs, x, y):
                h = x
                for i, (w, b) in enumerate(zip(ws, bs, strict=False)):
                    h = torch.addmm(b, h, w)
                    if i < len(ws) - 1:
                        h = torch.tanh(h)
                return F.cross_entropy(h, y)

            self.grad_fn = vmap(grad(loss_one, argnums=(0, 1)))

    def train_epoch(self, active) -> None:
        n_train, bs = self.x_train.shape[0], self.setup.batch_size
        perms = torch.stack([torch.randperm(n_train, generator=g) for g in self.g_shuffle])
        for b0 in range(0, n_train, bs):
            sel = perms[:, b0 : b0 + bs]
            x, y = self.x_train[sel], self.y_train[sel]
            if self.how == "vmap":
                gw, gb = self.grad_fn(self.w, self.b, x, y)
                for p, g in zip(self.params, list(gw) + list(gb), strict=False):
                    p.grad = g
            else:
                h = x
                for i, (w, b) in enumerate(zip(self.w, self.b, strict=False)):
                    h = torch.baddbmm(b, h, w)
                    if i < len(self.w) - 1:
                        h = torch.tanh(h)
                loss = F.cross_entropy(h.reshape(-1, h.shape[2]), y.reshape(-1), reduction="sum") / y.shape[1]
                for p in self.params:
                    p.grad = None
                loss.backward()
            self.opt.step()


def _time(fn, repeats: int) -> float:
    """Median CPU seconds of this process per call (robust to other processes sharing the cores)."""
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 10, 50])
    ap.add_argument("--epochs", type=int, default=5, help="Epochs timed per variant (median).")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--variants", nargs="+", default=["module", "bmm_autograd", "vmap", "handwritten", "fused"])
    args = ap.parse_args()
    cfg = validate_config(CFG)
    base = None
    print(f"threads={args.threads}; CPU seconds per epoch (median of {args.epochs}); "
          "'x per seed' = speed-up per seed of the full epoch vs module at S=1")
    print(f"{'variant':<14}{'S':>4}{'train s/ep':>12}{'full s/ep':>11}{'x per seed':>12}")
    with _deterministic_torch(args.threads):
        for n in args.seeds:
            setup = _setup(cfg, list(range(n)), {}, None, None)
            for variant in args.variants:
                if variant == "module":
                    eng = _ModuleEngine(setup)
                elif variant in ("handwritten", "fused"):
                    eng = _BatchedEngine(setup, fused=variant == "fused")
                else:
                    eng = _Stacked(setup, "vmap" if variant == "vmap" else "bmm")
                active = [True] * n
                eng.train_epoch(active)  # warm-up
                train = _time(lambda eng=eng, active=active: eng.train_epoch(active), args.epochs)
                full = float("nan")
                if variant in ("module", "handwritten", "fused"):
                    full = _time(lambda eng=eng, active=active: (eng.train_epoch(active), eng.evaluate(1, False)),
                                 args.epochs)
                if variant == "module" and n == 1:
                    base = full
                ratio = base * n / full if base and full == full else float("nan")
                print(f"{variant:<14}{n:>4}{train:>12.4f}{full:>11.4f}{ratio:>12.1f}", flush=True)


if __name__ == "__main__":
    main()
