"""Networks and configs: shapes and gradient flow for every network at two image sizes (runtime
budget: 10 s)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from dancenow.errors import DancenowError
from dancenow.synth.config import SynthConfig, preset
from dancenow.synth.networks import (
    FaceResidualGenerator, GlobalGenerator, LocalEnhancer, MultiscaleDiscriminator, NLayerDiscriminator,
    build_discriminator, build_face_discriminator, build_face_generator, build_generator, build_global_generator,
    get_norm_layer,
)

from .helpers import tiny_config

SIZES = [(32, 32), (64, 48)]  # (w, h): square and not


def _grads_everywhere(module: torch.nn.Module) -> None:
    for name, p in module.named_parameters():
        assert p.grad is not None, f"no gradient reached {name}"
        assert torch.isfinite(p.grad).all(), f"non-finite gradient in {name}"


@pytest.mark.parametrize("size", SIZES)
def test_global_generator_shapes_and_gradients(size):
    torch.manual_seed(0)
    w, h = size
    g = GlobalGenerator(6, 3, ngf=4, n_downsample=2, n_blocks=2)
    x = torch.randn(2, 6, h, w)
    y = g(x)
    assert y.shape == (2, 3, h, w)
    assert y.abs().max() <= 1.0  # tanh output
    y.square().mean().backward()
    _grads_everywhere(g)


@pytest.mark.parametrize("size", SIZES)
def test_local_enhancer_wraps_the_global_model(size):
    torch.manual_seed(0)
    w, h = size
    g = GlobalGenerator(6, 3, ngf=8, n_downsample=1, n_blocks=1)
    front_weight = g.model[1].weight.detach().clone()
    local = LocalEnhancer(g, 6, 3, ngf=4, n_blocks=1)
    # the global model is reused (same tensor, same name), not copied
    assert torch.equal(local.state_dict()["global_model.model.1.weight"], front_weight)
    y = local(torch.randn(2, 6, h, w))
    assert y.shape == (2, 3, h, w)
    y.square().mean().backward()
    _grads_everywhere(local)


@pytest.mark.parametrize("size", SIZES)
def test_multiscale_discriminator_returns_features_per_scale(size):
    torch.manual_seed(0)
    w, h = size
    d = MultiscaleDiscriminator(12, ndf=4, n_layers=3, num_D=2)
    out = d(torch.randn(2, 12, h, w))
    assert len(out) == 2 and all(len(s) == 3 + 2 for s in out)  # n_layers + 2 blocks per scale
    assert out[0][-1].shape[1] == 1 and out[0][0].shape[1] == 4
    # scale 1 sees the input downsampled 2x: its first feature map is about half the size
    assert out[1][0].shape[-1] == pytest.approx(out[0][0].shape[-1] / 2, abs=1)
    sum(s[-1].mean() for s in out).backward()
    _grads_everywhere(d)


@pytest.mark.parametrize("side", [8, 16])
def test_face_networks(side):
    torch.manual_seed(0)
    g = FaceResidualGenerator(3, 3, ngf=4, n_downsample=1, n_blocks=1)
    lab, img = torch.randn(2, 3, side, side), torch.randn(2, 3, side, side)
    r = g(lab, img)
    assert r.shape == (2, 3, side, side)
    assert torch.count_nonzero(r) == 0  # starts as the identity on the face crop
    r.square().sum().backward()
    last = [m for m in g.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    assert last.weight.grad is not None and last.bias.grad is not None
    (g(lab, img) + 0.5).square().sum().backward()  # with a target, the zero head still learns
    assert last.bias.grad.abs().sum() > 0
    d = NLayerDiscriminator(6, ndf=4, n_layers=2)
    feats = d(torch.cat([lab, img], 1))
    assert feats[-1].shape[:2] == (2, 1)
    feats[-1].mean().backward()
    _grads_everywhere(d)


def test_build_from_configs_at_two_sizes():
    for size in SIZES:
        cfg = tiny_config().with_image_size(size)
        w, h = size
        g = build_generator(cfg)
        assert g(torch.randn(1, cfg.generator_input_nc, h, w)).shape == (1, cfg.generator_output_nc, h, w)
        d = build_discriminator(cfg)
        assert len(d(torch.randn(1, cfg.discriminator_input_nc, h, w))) == cfg.discriminator.num_D
        fg, fd = build_face_generator(cfg), build_face_discriminator(cfg)
        s = cfg.face_crop
        assert fg(torch.randn(1, 3, s, s), torch.randn(1, 3, s, s)).shape == (1, 3, s, s)
        assert fd(torch.randn(1, 6, s, s))[-1].shape[1] == 1
    # with the local enhancer: the global part runs at half size with twice the filters
    cfg = dataclasses.replace(tiny_config(), local=dataclasses.replace(tiny_config().local, enabled=True, ngf=4))
    local = build_generator(cfg, build_global_generator(cfg))
    assert isinstance(local, LocalEnhancer)
    assert local(torch.randn(1, cfg.generator_input_nc, 32, 32)).shape == (1, cfg.generator_output_nc, 32, 32)


def test_injected_norm_layers():
    for norm in ("instance", "batch", "none"):
        g = GlobalGenerator(3, 3, ngf=4, n_downsample=1, n_blocks=1, norm_layer=get_norm_layer(norm))
        assert g(torch.randn(2, 3, 16, 16)).shape == (2, 3, 16, 16)
    with pytest.raises(ValueError):
        get_norm_layer("group")


def test_generator_channels_follow_the_config():
    from dancenow.synth.config import ExemplarConfig

    # label, previous frame, posed exemplar and its alpha, plate in; colour and alpha out
    full = tiny_config()
    assert (full.generator_input_nc, full.generator_output_nc, full.discriminator_input_nc) == (13, 4, 12)
    raw = dataclasses.replace(full, exemplar=ExemplarConfig(warp=False))  # exemplar frame and label, unposed
    assert raw.generator_input_nc == 15
    plain = dataclasses.replace(full, temporal=False, plate=False, exemplar=ExemplarConfig(enabled=False))
    assert (plain.generator_input_nc, plain.generator_output_nc, plain.discriminator_input_nc) == (3, 3, 6)
    assert build_generator(plain)(torch.randn(1, 3, 32, 32)).shape == (1, 3, 32, 32)


def test_presets_and_config_checks(tmp_path):
    for name in ("quick", "cpu-small", "paper"):
        cfg = preset(name)
        assert SynthConfig.from_dict(cfg.to_dict()) == cfg  # JSON round trip
    assert preset("paper").face_crop == 128 and preset("cpu-small").face_crop == 64  # 128 px at 512 high, scaled
    assert sum(n for _, n in preset("cpu-small").with_steps(123).stages) == 123
    assert preset("quick").with_steps(1).total_steps == 1
    with pytest.raises(DancenowError, match="multiple of 8"):
        preset("cpu-small").with_image_size((100, 128)).validate()
    with pytest.raises(DancenowError, match="unknown SynthConfig"):
        SynthConfig.from_dict({**preset("quick").to_dict(), "ngf": 3})
    with pytest.raises(DancenowError, match="upgrade"):
        SynthConfig.from_dict({**preset("quick").to_dict(), "version": 99})
    with pytest.raises(DancenowError, match="unknown preset"):
        preset("huge")
    p = tmp_path / "c.json"
    p.write_text('{"preset": "quick", "generator": {"ngf": 8}}')  # a partial file overrides its preset
    cfg = SynthConfig.load(p)
    assert cfg.generator.ngf == 8 and cfg.image_size == (64, 64)
    p.write_text('{"generator": {"ngf": 2.5}}')
    with pytest.raises(DancenowError, match="whole number"):
        SynthConfig.load(p)
