"""SGD diagnostics (gradient mean/std norms over an epoch's mini-batches, weight norms), the
weight decay, the additive noise and the softplus activation of the training; the sgd.csv
tables (collect) and the sgd_phases figure."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from infoplane.collect import collect_sgd, collect_study, sweep_sgd
from infoplane.config import validate_config
from infoplane.datasets import load_dataset, train_eval_split
from infoplane.models import build_model
from infoplane.models.batched import BatchedMLP, _act_backward, _act_forward, aligned
from infoplane.store import open_store
from infoplane.tables import SGD_COLUMNS
from infoplane.training import _generator, _train

RAW_CFG = {
    "study": "tiny",
    "seeds": [0],
    "dataset": {"name": "tishby_12bit", "root": None, "size": None, "train_fraction": 0.8, "split_seed": 0},
    "model": {"kind": "mlp", "widths": [6, 4], "activation": "tanh", "init": "truncated_normal", "noise": 0.0},
    "training": {"epochs": 2, "batch_size": 256, "lr": 0.01, "optimizer": "adam", "checkpoint_every": 1},
    "record": {"num_epochs": 2, "spacing": "log", "include_init": True, "samples": "all"},
    "estimators": [{"name": "binning"}],
}


def cfg_with(**sections) -> dict:
    raw = copy.deepcopy(RAW_CFG)
    for section, values in sections.items():
        raw[section].update(values)
    return validate_config(raw)


def train(cfg: dict, where: Path, seeds=(0,), batched: bool = True) -> tuple[dict[int, Path], Path]:
    stores = {s: where / f"seed{s}.zarr" for s in seeds}
    _train(cfg, list(seeds), stores, where / "metrics.csv", where / "work", False, batched=batched,
           sgd_csv=where / "sgd.csv")
    return stores, where / "sgd.csv"


def _norm(a: np.ndarray) -> float:
    return float(np.sqrt(np.sum(np.asarray(a, dtype=np.float64) ** 2)))


def direct_first_epoch(cfg: dict, seed: int) -> dict[str, tuple[float, float, float, float]]:
    """Per weight layer: (||W_0||, grad_mean, grad_std, ||W_1||) of the first training epoch,
    by torch.autograd on a torch module and torch.optim: the loss of every mini-batch (with the
    penalty (lambda / 2) sum ||W||^2 over the hidden layers), its weight gradients, the step."""
    d, m, t = cfg["dataset"], cfg["model"], cfg["training"]
    data = load_dataset(d["name"], d["root"], d["size"], d["split"])
    idx_train, _ = train_eval_split(data.n, float(d["train_fraction"]), int(d["split_seed"]))
    net = build_model(m, data.input_shape, data.n_classes, generator=_generator(seed, "init"))
    x, y = torch.from_numpy(data.x[idx_train]), torch.from_numpy(data.y[idx_train])
    perm = torch.randperm(len(idx_train), generator=_generator(seed, "shuffle"))
    layers = net.weight_layers()
    weights = [lay.weight for lay in layers.values()]
    w0 = [_norm(w.detach().numpy()) for w in weights]
    opt_cls = torch.optim.Adam if t["optimizer"] == "adam" else torch.optim.SGD
    opt = opt_cls(net.parameters(), lr=float(t["lr"]), foreach=False)
    lam, bs = float(t["weight_decay"]), int(t["batch_size"])
    grads: list[list[np.ndarray]] = []
    for b in range(0, len(idx_train), bs):
        sel = perm[b : b + bs]
        loss = F.cross_entropy(net(x[sel]), y[sel]) + lam / 2 * sum((w**2).sum() for w in weights[:-1])
        opt.zero_grad()
        loss.backward()
        grads.append([w.grad.detach().double().numpy().copy() for w in weights])
        opt.step()
    out = {}
    for j, name in enumerate(layers):
        stack = np.stack([g[j] for g in grads])
        out[name] = (w0[j], _norm(stack.mean(0)), _norm(stack.std(0)), _norm(weights[j].detach().numpy()))
    return out


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "module"])
@pytest.mark.parametrize(
    "training, n_batches",
    [({"batch_size": 4096}, 1), ({"batch_size": 1200, "weight_decay": 0.015}, 3),
     ({"batch_size": 1500, "optimizer": "sgd", "lr": 0.1, "weight_decay": 0.05}, 3)],
    ids=["one-batch", "three-batches-adam-decay", "three-batches-sgd-decay"],
)
def test_gradient_statistics_equal_a_direct_autograd_computation(tmp_path, batched, training, n_batches):
    cfg = cfg_with(training=training)
    assert -(-3276 // cfg["training"]["batch_size"]) == n_batches  # 3276 training samples
    stores, csv = train(cfg, tmp_path, batched=batched)
    ds = open_store(stores[0])
    assert ds.attrs["weight_layers"] == ["1", "2", "logits"] and list(ds.epoch.values) == [0, 1, 2]
    direct = direct_first_epoch(cfg, 0)
    for j, (name, (w0, gmean, gstd, w1)) in enumerate(direct.items()):
        assert np.isnan(ds["grad_mean"].values[0, j]) and np.isnan(ds["grad_std"].values[0, j])
        assert ds["weight_norm"].values[0, j] == pytest.approx(w0, rel=1e-6)
        assert ds["grad_mean"].values[1, j] == pytest.approx(gmean, rel=1e-4), name
        assert ds["weight_norm"].values[1, j] == pytest.approx(w1, rel=1e-5), name
        if n_batches == 1:
            assert ds["grad_std"].values[1, j] == 0.0  # one mini-batch: no spread at all
        else:
            assert gstd > 0 and ds["grad_std"].values[1, j] == pytest.approx(gstd, rel=1e-3), name
    table = pd.read_csv(csv, dtype={"layer": str})
    assert list(table.columns) == list(SGD_COLUMNS)
    assert list(zip(table.layer, table.layer_index, table.epoch, strict=True)) == [
        (name, j, e) for j, name in enumerate(direct) for e in (0, 1, 2)]
    np.testing.assert_array_equal(table.grad_mean.to_numpy().reshape(3, 3), ds["grad_mean"].values.T)
    np.testing.assert_array_equal(table.weight_norm.to_numpy().reshape(3, 3), ds["weight_norm"].values.T)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.testing.assert_array_equal(table.snr, table.grad_mean / table.grad_std)
    if n_batches == 1:
        assert np.isinf(table.snr[table.epoch >= 1]).all()


def test_weight_decay_gradient_is_that_of_the_l2_loss_term():
    """BatchedMLP's gradient = autograd of cross-entropy + (lambda / 2) sum ||W||^2 over the hidden
    layers' weights (Chelombiev et al. 2019's tf.nn.l2_loss penalty): lambda * W on those, nothing on
    the output layer's weights and the biases; the returned loss is the cross-entropy alone."""
    lam = 0.3
    mcfg = {"kind": "mlp", "widths": [5, 4], "activation": "softplus", "init": "default", "noise": 0.0}
    nets = [build_model(mcfg, (12,), 3, generator=torch.Generator().manual_seed(s)) for s in (0, 1)]
    g = torch.Generator().manual_seed(7)
    x = aligned(torch.randn(2, 50, 12, generator=g))
    y = torch.randint(0, 3, (2, 50), generator=g)
    plain, decayed = BatchedMLP(nets, "softplus", 0.0), BatchedMLP(nets, "softplus", 0.0, weight_decay=lam)
    loss_plain, loss_decayed = plain.loss_and_grad(x, y), decayed.loss_and_grad(x, y)
    torch.testing.assert_close(loss_plain, loss_decayed, rtol=0, atol=0)
    for s, net in enumerate(nets):
        lins = list(net.weight_layers().values())
        loss = F.cross_entropy(net(x[s]), y[s]) + lam / 2 * sum((lin.weight**2).sum() for lin in lins[:-1])
        net.zero_grad()
        loss.backward()
        for layer, lin in enumerate(lins):
            torch.testing.assert_close(decayed.grad_weights[layer][s], lin.weight.grad.t(), rtol=1e-5, atol=1e-7)
            torch.testing.assert_close(decayed.grad_biases[layer][s, 0], lin.bias.grad, rtol=1e-5, atol=1e-7)
            diff = decayed.grad_weights[layer][s] - plain.grad_weights[layer][s]
            expected = lam * decayed.weights[layer][s] if layer < len(lins) - 1 else torch.zeros_like(diff)
            torch.testing.assert_close(diff, expected, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(decayed.grad_biases[-1], plain.grad_biases[-1], rtol=0, atol=0)


def test_softplus_is_torchs_with_its_derivative():
    z = aligned(torch.linspace(-60, 60, 241).reshape(1, 1, -1).contiguous())
    a = _act_forward("softplus", z)
    torch.testing.assert_close(a, F.softplus(z), rtol=0, atol=0)
    assert torch.isfinite(a).all() and a[0, 0, -1] == 60.0  # linear above the threshold, no overflow
    da = aligned(torch.ones_like(z))
    torch.testing.assert_close(_act_backward("softplus", da, z, a), torch.sigmoid(z), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "module"])
def test_additive_noise_trains_noisy_and_records_noiseless(tmp_path, batched):
    """With additive noise the metrics (evaluation pass) and the training are noisy, while the
    recorded activations are the noiseless layer outputs: at epoch 0 (same initial weights) they
    equal those of the network without additive noise."""
    noisy, clean = cfg_with(model={"additive_noise": 0.3}), cfg_with(model={"additive_noise": 0.0})
    sa, _ = train(noisy, tmp_path / "noisy", batched=batched)
    sb, _ = train(clean, tmp_path / "clean", batched=batched)
    da, db = open_store(sa[0]), open_store(sb[0])
    assert da.attrs["additive_noise"] == 0.3 and db.attrs["additive_noise"] == 0.0
    for layer in ("act_1", "act_2", "act_softmax"):
        np.testing.assert_allclose(da[layer].values[0], db[layer].values[0], rtol=1e-6, atol=1e-7, err_msg=layer)
        assert not np.allclose(da[layer].values[-1], db[layer].values[-1])  # noisy training: other weights
    assert da.train_loss.values[0] != db.train_loss.values[0]  # the evaluation pass is noisy
    again, _ = train(noisy, tmp_path / "again", batched=batched)
    np.testing.assert_array_equal(open_store(again[0])["act_2"].values, da["act_2"].values)  # seeded


# ---------------------------------------------------------------------------------- tables, figure


def sgd_table(seed: int, epochs=(0, 1, 2, 4, 8, 16), crossing: int = 4) -> pd.DataFrame:
    """A synthetic sgd table: every layer's std grows past its mean at epoch ``crossing``."""
    rows = []
    for j, layer in enumerate(["1", "2", "logits"]):
        for e in epochs:
            mean, std = (np.nan, np.nan) if e == 0 else (1.0 / e**0.2, 0.5 * e / crossing)
            if e == crossing:
                std = mean * 1.5
            rows.append(dict(seed=seed, layer=layer, layer_index=j, epoch=e, grad_mean=mean + 0.01 * seed,
                             grad_std=std, snr=(mean + 0.01 * seed) / std, weight_norm=1.0 + e))
    return pd.DataFrame(rows, columns=list(SGD_COLUMNS))


def test_collect_concatenates_sgd_tables(tmp_path):
    paths = []
    for seed in (1, 0):
        paths.append(tmp_path / f"sgd_{seed}.csv")
        sgd_table(seed).to_csv(paths[-1], index=False)
    (tmp_path / "mi.csv").write_text(",".join(
        ["seed", "layer", "layer_index", "epoch", "estimator", "I_XT", "I_TY", "I_XT_se", "I_TY_se", "status",
         "reason"]) + "\n0,1,0,0,kde,1.0,0.5,,,ok,\n")
    out = tmp_path / "out"
    written = collect_study([tmp_path / "mi.csv"], out / "mi.csv", out / "mi.nc", {"study": "tiny"},
                            sgd_paths=paths, out_sgd=out / "sgd.csv")
    assert written[-1] == out / "sgd.csv"
    table = pd.read_csv(out / "sgd.csv", dtype={"layer": str})
    assert list(table.columns) == list(SGD_COLUMNS) and len(table) == 2 * 3 * 6
    assert table.seed.tolist() == [0] * 18 + [1] * 18
    pd.testing.assert_frame_equal(table[table.seed == 1].reset_index(drop=True), sgd_table(1))
    bad = tmp_path / "bad.csv"
    sgd_table(0).drop(columns=["snr"]).to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"bad\.csv.*snr"):
        collect_sgd([bad])
    with pytest.raises(ValueError, match="out_sgd"):
        collect_study([tmp_path / "mi.csv"], out / "mi.csv", out / "mi.nc", {}, sgd_paths=paths)


def test_sweep_sgd_table_has_the_condition_columns(tmp_path):
    cfg = {"sweep": {"model.activation": ["tanh", "relu"]}}
    cfg = validate_config({**copy.deepcopy(RAW_CFG), **cfg})
    paths = []
    for i, cond in enumerate(("activation-tanh", "activation-relu")):
        paths.append(tmp_path / f"{cond}.csv")
        sgd_table(i).to_csv(paths[-1], index=False)
    table = sweep_sgd(cfg, ["activation-tanh", "activation-relu"], paths)
    assert list(table.columns) == ["condition", "model.activation", *SGD_COLUMNS]
    assert table.groupby("condition", sort=False)["model.activation"].first().to_dict() == {
        "activation-tanh": "tanh", "activation-relu": "relu"}


def test_sgd_phases_figure_renders_and_marks_the_transition(tmp_path):
    from infoplane.plots import notes_text, phase_transition, sgd_phases, sgd_phases_figure, sgd_stats

    table = pd.concat([sgd_table(0), sgd_table(1)], ignore_index=True)
    stats = sgd_stats(table)
    assert 0 not in set(stats.epoch)  # epoch 0 has no gradients
    assert phase_transition(stats) == ("2", 4.0)  # the last hidden layer's SNR falls below 1 at epoch 4
    fig = sgd_phases_figure(table, study="tiny")
    assert "epoch 4" in notes_text(fig) and "last hidden layer (2)" in notes_text(fig)
    import matplotlib.pyplot as plt

    plt.close(fig)
    paths = sgd_phases(table, tmp_path / "sgd_phases")
    assert [p.name for p in paths] == ["sgd_phases.png", "sgd_phases.pdf"]
    assert all(p.stat().st_size > 5000 for p in paths)
    never = table.assign(grad_std=table.grad_mean / 10)  # SNR 10 everywhere: all drift
    assert np.isnan(phase_transition(sgd_stats(never))[1])
    assert "none within the recorded epochs" in notes_text(sgd_phases_figure(never))
