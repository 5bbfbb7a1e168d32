"""Models: layer names and sizes, initialisation, the noise layer, forward_layers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from infoplane.config import validate_config
from infoplane.models import BatchedMLP, RelativeGaussianNoise, build_model

MLP = {"kind": "mlp", "widths": [10, 7, 5, 4, 3], "activation": "tanh", "init": "truncated_normal", "noise": 0.0,
       "pool": True}


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_mlp_layers_and_shapes():
    net = build_model(MLP, (12,), 2, generator=gen())
    assert net.layer_names == ["1", "2", "3", "4", "5", "softmax"]
    assert net.layer_sizes() == {"1": 10, "2": 7, "3": 5, "4": 4, "5": 3, "softmax": 2}
    x = torch.rand(33, 12)
    acts = net.forward_layers(x)
    assert list(acts) == net.layer_names
    assert acts["1"].shape == (33, 10) and acts["softmax"].shape == (33, 2)
    assert not acts["1"].requires_grad
    torch.testing.assert_close(acts["softmax"], torch.softmax(net(x), dim=1))
    torch.testing.assert_close(acts["softmax"].sum(1), torch.ones(33))
    assert acts["3"].abs().max() < 1  # tanh


def test_forward_layers_batching_does_not_change_results():
    net = build_model(MLP, (12,), 2, generator=gen())
    x = torch.rand(100, 12)
    a, b = net.forward_layers(x, batch_size=7), net.forward_layers(x.numpy())
    for name in net.layer_names:
        # batched matmuls may differ in the last bit, not more
        torch.testing.assert_close(a[name], b[name], rtol=1e-5, atol=1e-6)


def test_forward_layers_checks_input_shape():
    net = build_model(MLP, (12,), 2)
    with pytest.raises(ValueError, match=r"\(11,\).*\(12,\)"):
        net.forward_layers(torch.rand(4, 11))


def test_truncated_normal_init():
    net = build_model({**MLP, "widths": [400, 300]}, (500,), 2, generator=gen())
    lin = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    w = lin[0].weight
    std = 1 / math.sqrt(500)
    assert w.abs().max() <= 2 * std + 1e-7
    # std of N(0, s) truncated at +-2s is 0.8796 s
    assert abs(w.std().item() / std - 0.8796) < 0.02
    assert all(float(m.bias.detach().abs().max()) == 0.0 for m in lin)


@pytest.mark.parametrize("init", ["truncated_normal", "default"])
def test_init_is_seeded_by_the_generator(init):
    cfg = {**MLP, "init": init}
    a = build_model(cfg, (12,), 2, generator=gen(1)).state_dict()
    b = build_model(cfg, (12,), 2, generator=gen(1)).state_dict()
    c = build_model(cfg, (12,), 2, generator=gen(2)).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["blocks.0.ops.0.weight"], c["blocks.0.ops.0.weight"])


def test_activations():
    x = torch.randn(50, 12)
    relu = build_model({**MLP, "activation": "relu"}, (12,), 2).forward_layers(x)
    assert relu["2"].min() >= 0
    sig = build_model({**MLP, "activation": "sigmoid"}, (12,), 2).forward_layers(x)
    assert 0 < sig["2"].min() and sig["2"].max() < 1
    lin = build_model({**MLP, "activation": "linear", "init": "default"}, (12,), 2)
    # a linear network is affine: f(a) + f(b) - f(0) == f(a + b)
    a, b, z = torch.randn(1, 12), torch.randn(1, 12), torch.zeros(1, 12)
    torch.testing.assert_close(lin(a) + lin(b) - lin(z), lin(a + b), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "cfg, match",
    [
        ({**MLP, "kind": "rnn"}, "model.kind='rnn'"),
        ({**MLP, "activation": "gelu"}, "model.activation='gelu'"),
        ({**MLP, "init": "xavier"}, "model.init='xavier'"),
    ],
)
def test_build_model_rejects_unknown_names(cfg, match):
    """A library caller with a typo gets a ValueError naming the choices; other rules are the schema's."""
    with pytest.raises(ValueError, match=match):
        build_model(cfg, (12,), 2)


@pytest.mark.parametrize(
    "model, match",
    [({"widths": []}, "model.widths"), ({"widths": [3, 0]}, "model.widths"), ({"noise": -0.1}, "model.noise"),
     ({"activation": "gelu"}, "model.activation")],
)
def test_schema_holds_the_model_rules(model, match):
    """Bad widths and noise are refused by the config schema (the one place with the rules)."""
    raw = {"study": "x", "seeds": [0], "dataset": {"name": "tishby_12bit"}, "model": model,
           "training": {"epochs": 1}, "estimators": [{"name": "binning"}]}
    with pytest.raises(ValueError, match=match):
        validate_config(raw)


CONV = {**MLP, "kind": "conv", "init": "default", "noise": 0.0}


def test_conv_mnist_layers():
    net = build_model(CONV, (1, 28, 28), 10, generator=gen())
    assert net.layer_names == ["1", "2", "3", "4", "5", "log_softmax", "softmax"]
    assert net.layer_sizes() == {
        "1": 8 * 13 * 13,
        "2": 16 * 11 * 11,
        "3": 32 * 9 * 9,
        "4": 32,
        "5": 10,
        "log_softmax": 10,
        "softmax": 10,
    }
    x = torch.rand(6, 1, 28, 28)
    out = net(x)
    torch.testing.assert_close(out.exp().sum(1), torch.ones(6))  # log-probabilities
    acts = net.forward_layers(x)
    torch.testing.assert_close(acts["log_softmax"], out)
    torch.testing.assert_close(acts["softmax"], out.exp())


def test_conv_small_images_need_pool_off():
    with pytest.raises(ValueError, match="pool: false"):
        build_model(CONV, (1, 8, 8), 10)
    net = build_model({**CONV, "pool": False}, (1, 8, 8), 10)
    sizes = net.layer_sizes()
    assert (sizes["1"], sizes["2"], sizes["3"]) == (8 * 6 * 6, 16 * 4 * 4, 32 * 2 * 2)
    assert net(torch.rand(3, 1, 8, 8)).shape == (3, 10)


def test_conv_rejects_flat_inputs():
    with pytest.raises(ValueError, match="image inputs"):
        build_model(CONV, (12,), 2)


def test_noise_layer_statistics_and_generator():
    layer = RelativeGaussianNoise(0.1)
    x = torch.full((200_000,), 2.0)
    y = layer(x, gen(0))
    rel = (y - x) / x
    assert abs(rel.std().item() - 0.1) < 0.002 and abs(rel.mean().item()) < 0.002
    assert torch.equal(layer(torch.zeros(10), gen(0)), torch.zeros(10))  # relative noise
    assert torch.equal(layer(x, gen(5)), layer(x, gen(5)))
    with pytest.raises(ValueError, match="Generator"):
        layer(x)
    with pytest.raises(ValueError, match="sigma"):
        RelativeGaussianNoise(-1.0)
    assert torch.equal(RelativeGaussianNoise(0.0)(x), x)


@pytest.mark.parametrize("kind, shape", [("mlp", (12,)), ("conv", (1, 28, 28))])
def test_noisy_network_is_stochastic_in_eval_and_reproducible(kind, shape):
    cfg = {**(MLP if kind == "mlp" else CONV), "noise": 0.05}
    net = build_model(cfg, shape, 2 if kind == "mlp" else 10, generator=gen())
    n_noise = sum(isinstance(m, RelativeGaussianNoise) for m in net.modules())
    assert n_noise == (6 if kind == "mlp" else 5)  # one before every linear / conv layer
    net.eval()
    x = torch.rand(4, *shape)
    a = net.forward_layers(x, generator=gen(1))
    b = net.forward_layers(x, generator=gen(1))
    c = net.forward_layers(x, generator=gen(2))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["softmax"], c["softmax"])
    with pytest.raises(ValueError, match="Generator"):
        net(x)
    quiet = build_model({**cfg, "noise": 0.0}, shape, 2 if kind == "mlp" else 10, generator=gen())
    torch.testing.assert_close(a["softmax"], quiet.forward_layers(x)["softmax"], atol=0.1, rtol=0)


def test_gradients_flow_through_every_layer():
    net = build_model({**MLP, "noise": 0.01}, (12,), 2, generator=gen())
    loss = torch.nn.functional.cross_entropy(net(torch.rand(8, 12), gen(3)), torch.zeros(8, dtype=torch.long))
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    assert np.count_nonzero([float(p.grad.abs().sum()) for p in net.parameters()]) == len(list(net.parameters()))


def test_mlp_flattens_image_inputs():
    net = build_model({**MLP, "widths": [5]}, (1, 8, 8), 10)
    assert net.layer_sizes() == {"1": 5, "softmax": 10}
    assert net.forward_layers(torch.rand(3, 1, 8, 8))["1"].shape == (3, 5)


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "leaky_relu", "linear"])
@pytest.mark.parametrize("noise", [0.0, 0.1])
def test_batched_mlp_gradients_match_autograd(activation, noise):
    """BatchedMLP's hand-written backward pass = autograd on each seed's own torch module."""
    cfg = {**MLP, "widths": [10, 7, 5], "activation": activation, "init": "default", "noise": noise}
    nets = [build_model(cfg, (12,), 3, generator=gen(s)) for s in range(3)]
    batched = BatchedMLP(nets, activation, noise)
    x, y = torch.rand(3, 37, 12, generator=gen(9)), torch.randint(0, 3, (3, 37), generator=gen(8))
    gens = [gen(100 + s) for s in range(3)] if noise else None
    loss = batched.loss_and_grad(x, y, gens)
    for s, net in enumerate(nets):
        out = net(x[s], gen(100 + s) if noise else None)
        ref = torch.nn.functional.cross_entropy(out, y[s])
        ref.backward()
        assert loss[s].item() == pytest.approx(ref.item(), rel=1e-6)
        lins = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
        for i, lin in enumerate(lins):
            torch.testing.assert_close(batched.grad_weights[i][s], lin.weight.grad.t(), rtol=1e-5, atol=1e-7)
            torch.testing.assert_close(batched.grad_biases[i][s, 0], lin.bias.grad, rtol=1e-5, atol=1e-7)
    # the stacked layers are the modules' layers (same noise draws when noisy)
    layers = batched.layers(x, [gen(7 + s) for s in range(3)] if noise else None)
    for s, net in enumerate(nets):
        ref = net.forward_layers(x[s], generator=gen(7 + s) if noise else None)
        torch.testing.assert_close(layers["1"][s], ref["1"], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(torch.softmax(layers["logits"][s], 1), ref["softmax"], rtol=1e-5, atol=1e-6)
