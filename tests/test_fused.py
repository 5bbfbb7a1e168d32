"""The fused training epoch (infoplane.models.fused): its tanh and softmax against numpy/torch,
a whole epoch against the torch path of BatchedMLP (the same arithmetic to float32 rounding),
the SGD diagnostics, non-finite losses, inactive seeds and thread counts. Group == alone and
resume, bit for bit, are tested through the training loop in tests/test_training.py."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from infoplane.config import validate_config
from infoplane.models import fused
from infoplane.training import _BatchedEngine, _deterministic_torch, _setup

RAW = {
    "study": "fused",
    "seeds": [0],
    "dataset": {"name": "tishby_12bit", "train_fraction": 0.8, "split_seed": 0},
    "model": {"kind": "mlp", "widths": [10, 7, 5, 4, 3], "activation": "tanh", "init": "truncated_normal"},
    "training": {"epochs": 10, "batch_size": 256, "lr": 0.004, "optimizer": "adam"},
    "record": {"num_epochs": 4},
    "estimators": [{"name": "binning"}],
}


def engines(model: dict | None = None, training: dict | None = None, seeds=(0, 1, 2), threads: int = 1):
    raw = copy.deepcopy(RAW)
    raw["model"].update(model or {})
    raw["training"].update(training or {})
    setup = _setup(validate_config(raw), list(seeds), {}, None, None)
    with _deterministic_torch(threads):
        return _BatchedEngine(setup, fused=False), _BatchedEngine(setup, fused=True)


def test_tanh_is_within_one_float32_ulp_and_keeps_nan_and_infinities():
    z = np.concatenate([np.linspace(-12, 12, 20001), np.geomspace(1e-30, 1e-3, 200), -np.geomspace(1e-30, 1e-3, 200),
                        [0.0, -0.0, np.inf, -np.inf, np.nan, 1e30, -1e30]]).astype(np.float32)
    out = np.empty_like(z[None])
    fused._activate(fused.ACTIVATION_CODES["tanh"], z[None], out, 1, z.size)
    ref = np.tanh(z.astype(np.float64)).astype(np.float32)
    ok = np.isfinite(ref)
    ulps = np.abs(out[0][ok].astype(np.float64) - ref[ok]) / np.spacing(np.abs(ref[ok]))
    assert ulps.max() <= 1.0
    assert np.isnan(out[0][~ok]).all() and np.isnan(ref[~ok]).all()
    assert out[0][z == np.inf][0] == 1.0 and out[0][z == -np.inf][0] == -1.0


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "leaky_relu", "softplus", "linear"])
def test_other_activations_equal_torch(activation):
    z = torch.linspace(-30, 30, 2001, dtype=torch.float32)
    ref = {"relu": torch.relu, "sigmoid": torch.sigmoid, "leaky_relu": torch.nn.functional.leaky_relu,
           "softplus": torch.nn.functional.softplus, "linear": lambda t: t}[activation](z).numpy()
    out = np.empty((1, z.numel()), np.float32)
    fused._activate(fused.ACTIVATION_CODES[activation], z.numpy()[None], out, 1, z.numel())
    np.testing.assert_allclose(out[0], ref, rtol=2e-7, atol=1e-37)


def test_softmax_gradient_equals_torch_with_extreme_logits():
    rng = np.random.default_rng(0)
    z = (rng.standard_normal((3, 50)) * 30).astype(np.float32)
    z[:, 0] = [200.0, -200.0, 0.0]  # one class far above the others
    y = rng.integers(0, 3, 50)
    rows = np.arange(50)
    dz = np.empty_like(z)
    total = fused._softmax_grad(z, y, rows, 0, 3, 50, dz, np.empty(50), np.empty(50), np.empty((3, 50)))
    zt = torch.from_numpy(z.T.astype(np.float64)).requires_grad_()  # float64: p - 1 near p = 1 exact
    torch.nn.functional.cross_entropy(zt, torch.from_numpy(y)).backward()
    np.testing.assert_allclose(dz, zt.grad.numpy().T, rtol=2e-7, atol=1e-40)
    assert total == pytest.approx(float(z.astype(np.float64).sum()))


@pytest.mark.parametrize(
    "model, training",
    [({}, {}), ({"activation": "relu", "init": "default"}, {"optimizer": "sgd", "lr": 0.1}),
     ({"activation": "sigmoid"}, {"batch_size": 100}), ({"activation": "leaky_relu"}, {"weight_decay": 0.01}),
     ({"activation": "softplus"}, {"weight_decay": 0.015, "batch_size": 300}), ({"activation": "linear"}, {})],
    ids=["tanh-adam", "relu-sgd", "sigmoid-b100", "leaky-decay", "softplus-decay-b300", "linear"],
)
def test_fused_epochs_follow_the_torch_path(model, training):
    """Three epochs (the last tracked): parameters, Adam moments and SGD diagnostics agree with
    the torch ops of BatchedMLP to float32 rounding."""
    ref, fast = engines(model, training)
    with _deterministic_torch(1):
        for epoch in range(3):
            for eng in (ref, fast):
                eng.train_epoch([True] * 3, track=epoch == 2)
        np.testing.assert_allclose(fast.model.params.numpy(), ref.model.params.numpy(), rtol=0, atol=2e-6)
        if training.get("optimizer", "adam") == "adam":
            assert fast.optimizer.steps == ref.optimizer.steps == 3 * -(-3277 // fast.setup.batch_size)
            np.testing.assert_allclose(fast.optimizer.exp_avg.numpy(), ref.optimizer.exp_avg.numpy(), atol=1e-6)
        a, b = ref.sgd_stats(), fast.sgd_stats()
    assert np.isfinite(a).all()
    np.testing.assert_allclose(b, a, rtol=2e-4)
    assert fast.finite_losses().all()


def test_a_non_finite_seed_is_flagged_and_leaves_the_others_untouched():
    ref, fast = engines(seeds=(0, 1, 2))
    _, alone = engines(seeds=(0, 1, 2))
    with _deterministic_torch(1):
        fast.model.params[1, 0] = float("nan")
        fast.train_epoch([True] * 3)
        alone.train_epoch([True] * 3)
    assert fast.finite_losses().tolist() == [True, False, True]
    for s in (0, 2):
        assert torch.equal(fast.model.params[s], alone.model.params[s])


def test_inactive_seeds_are_not_trained_and_threads_do_not_change_bits():
    _, one = engines(seeds=(0, 1, 2, 3))
    _, two = engines(seeds=(0, 1, 2, 3), threads=2)
    before = one.model.params.clone()
    with _deterministic_torch(1):
        one.train_epoch([True, False, True, True], track=True)
    with _deterministic_torch(2):
        two.train_epoch([True, False, True, True], track=True)
    assert torch.equal(one.model.params[1], before[1])
    assert not torch.equal(one.model.params[0], before[0])
    keep = [0, 2, 3]
    assert torch.equal(one.model.params[keep], two.model.params[keep])
    np.testing.assert_array_equal(one.sgd_stats()[keep], two.sgd_stats()[keep])


def test_noisy_networks_keep_the_torch_path():
    ref, _ = engines()
    assert ref.fused is False
    raw = copy.deepcopy(RAW)
    raw["model"]["noise"] = 0.05
    setup = _setup(validate_config(raw), [0], {}, None, None)
    assert _BatchedEngine(setup).fused is False
    with pytest.raises(ValueError, match="noiseless MLP on the CPU"):
        _BatchedEngine(setup, fused=True)


#: Prints the bits of two fused epochs (parameters, Adam moments, gradient statistics) as a hash;
#: with argv[1] == "helpers-first" the helpers are compiled on their own first.
HISTORY_SCRIPT = """
import hashlib, sys
import numpy as np
from infoplane.models import fused
rng = np.random.default_rng(0)
dims = np.array([[12, 10], [10, 7], [7, 5], [5, 4], [4, 3], [3, 2]], np.int64)
w_off, b_off, p = [], [], 0
for i, o in dims:
    w_off.append(p); b_off.append(p + i * o); p += i * o + o
w_off, b_off = np.array(w_off, np.int64), np.array(b_off, np.int64)
if sys.argv[1] == "helpers-first":
    z = np.random.default_rng(1).standard_normal((3, 40)).astype(np.float32)
    fused._activate(1, z, np.empty_like(z), 3, 40)
    fused._weight_grads(z, z, 3, 3, 40, np.zeros(20, np.float32), 0, 9)
params = (0.3 * rng.standard_normal((2, p))).astype(np.float32)
m, v = np.zeros_like(params), np.zeros_like(params)
x = rng.integers(0, 2, (700, 12)).astype(np.float32)
y = rng.integers(0, 2, 700)
stats = (np.zeros(params.shape), np.zeros(params.shape))
for epoch in range(2):
    perms = np.stack([rng.permutation(700) for _ in range(2)])
    fused.fused_epoch(params, m, v, w_off, b_off, dims, x, y, perms, 256, "tanh", lr=0.01, weight_decay=0.01,
                      step0=3 * epoch, stats=stats if epoch else None)
print(hashlib.sha256(b"".join(a.tobytes() for a in (params, m, v, *stats))).hexdigest())
"""


def _bits(cache, how: str) -> str:
    import os
    import subprocess
    import sys
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "src"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache),
           "PYTHONPATH": os.pathsep.join([str(src), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.run([sys.executable, "-c", HISTORY_SCRIPT, how], env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_fused_epoch_bits_do_not_depend_on_what_was_compiled_or_cached_before(tmp_path):
    """Compiled in this process, loaded from numba's cache, or compiled after its helpers were
    compiled (and cached) on their own: the same bits (the training is one compilation unit)."""
    compiled = _bits(tmp_path / "a", "plain")
    assert any((tmp_path / "a").rglob("*.nbc")), "the first run should have written the cache"
    assert _bits(tmp_path / "a", "plain") == compiled
    assert _bits(tmp_path / "b", "helpers-first") == compiled
    assert _bits(tmp_path / "b", "helpers-first") == compiled
