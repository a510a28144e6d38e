"""Losses: LSGAN, feature matching, VGG19 loading and the perceptual loss, the L1 and SSIM terms
(runtime budget: 10 s). SSIM and PSNR are dancenow.evaluate's, tested in test_evaluate.py."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from dancenow.errors import DancenowError
from dancenow.synth import losses
from dancenow.synth.losses import VGG19, FeatureMatchingLoss, GANLoss, VGGLoss, find_vgg_weights, load_vgg19

# torchvision's vgg19().features conv indices (the checkpoint's key names)
TORCHVISION_VGG19_CONVS = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]


def test_lsgan_values_summed_over_scales():
    gan = GANLoss()
    ones = [[torch.zeros(1, 4, 3, 3), torch.ones(1, 1, 5, 5)]] * 2  # two scales, score map last
    zeros = [[torch.zeros(1, 4, 3, 3), torch.zeros(1, 1, 5, 5)]] * 2
    assert gan(ones, True).item() == 0.0
    assert gan(zeros, True).item() == pytest.approx(2.0)  # (0 - 1)^2 per scale
    assert gan(zeros, False).item() == 0.0
    assert gan([torch.full((1, 1, 2, 2), 0.5)], False).item() == pytest.approx(0.25)  # one discriminator


def test_feature_matching_weights():
    fm = FeatureMatchingLoss(n_layers=3, num_D=2)
    real = [[torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 2, 2), torch.ones(1, 1, 2, 2)]] * 2
    fake = [[torch.ones(1, 2, 4, 4), torch.zeros(1, 2, 2, 2), torch.zeros(1, 1, 2, 2)]] * 2
    # one feature differs by 1 (L1 = 1) per scale; score maps are ignored; 4/(3+1) * 1/2 per scale
    assert fm(fake, real).item() == pytest.approx(2 * 0.5 * 1.0 * 1.0)
    assert fm(real, real).item() == 0.0


def _fake_torchvision_vgg19(path):
    """A torchvision-layout VGG19 checkpoint with random weights (the real one cannot be
    downloaded here), including the classifier keys a real one has."""
    g = torch.Generator().manual_seed(0)
    state, c = {}, 3
    for i, n in zip(TORCHVISION_VGG19_CONVS, [64, 64, 128, 128, 256, 256, 256, 256] + [512] * 8):
        state[f"features.{i}.weight"] = torch.randn(n, c, 3, 3, generator=g) * (2 / (9 * c)) ** 0.5
        state[f"features.{i}.bias"] = torch.zeros(n)
        c = n
    state["classifier.0.weight"] = torch.zeros(4, 4)
    torch.save(state, path)
    return state


def test_vgg19_loads_torchvision_checkpoints_and_gives_gradients(tmp_path):
    state = _fake_torchvision_vgg19(tmp_path / "vgg19.pth")
    vgg = load_vgg19(tmp_path / "vgg19.pth")
    assert torch.equal(vgg.features[28].weight, state["features.28.weight"])
    assert not any(p.requires_grad for p in vgg.parameters())
    feats = vgg(torch.zeros(1, 3, 32, 32))
    assert [f.shape[1] for f in feats] == [64, 128, 256, 512, 512]
    assert [f.shape[-1] for f in feats] == [32, 16, 8, 4, 2]
    loss = VGGLoss(vgg)
    y = torch.rand(2, 3, 32, 32) * 2 - 1
    x = y.clone().requires_grad_(True)
    assert loss(x, y).item() == 0.0
    x2 = (y + 0.3 * torch.randn_like(y)).requires_grad_(True)
    value = loss(x2, y)
    assert value.item() > 0
    value.backward()
    assert x2.grad is not None and x2.grad.abs().sum() > 0


def test_vgg_weights_missing_or_bad(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(losses, "DEFAULT_VGG_PATH", tmp_path / "nothing" / "vgg19.pth")
    with caplog.at_level(logging.WARNING, logger="dancenow.synth.losses"):
        assert find_vgg_weights(None) is None
    assert sum("WITHOUT the VGG perceptual loss" in r.getMessage() for r in caplog.records) == 1
    with pytest.raises(DancenowError, match="not found"):
        find_vgg_weights(tmp_path / "missing.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(DancenowError, match="not a readable VGG19"):
        load_vgg19(bad)
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, tmp_path / "partial.pth")
    with pytest.raises(DancenowError, match="missing features"):
        load_vgg19(tmp_path / "partial.pth")
    # the default cache location is used when present
    default = tmp_path / "cache" / "vgg19.pth"
    default.parent.mkdir()
    default.write_bytes(b"x")
    monkeypatch.setattr(losses, "DEFAULT_VGG_PATH", default)
    assert find_vgg_weights(None) == default


def test_vgg19_definition_matches_torchvision_layout():
    keys = set(VGG19().features.state_dict())
    expected = {f"{i}.{k}" for i in TORCHVISION_VGG19_CONVS[:13] for k in ("weight", "bias")}
    assert keys == expected  # up to conv5_1 (index 28); relu5_1 is index 29


def test_ssim_loss_is_one_minus_the_evaluations_ssim_and_pulls_toward_the_real_frame():
    from dancenow.evaluate.metrics import ssim
    from dancenow.synth.losses import SSIMLoss

    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    noisy = np.clip(real.astype(int) + rng.integers(-40, 41, real.shape), 0, 255).astype(np.uint8)

    def t(x):
        return torch.from_numpy(x).permute(2, 0, 1)[None].float() / 127.5 - 1

    loss = SSIMLoss()
    assert 1.0 - loss(t(noisy), t(real)).item() == pytest.approx(ssim(noisy, real), abs=1e-5)
    assert loss(t(real), t(real)).item() == pytest.approx(0.0, abs=1e-6)
    fake = t(noisy).requires_grad_(True)
    loss(fake, t(real)).backward()
    stepped = (fake - 0.5 * fake.grad / fake.grad.abs().max()).detach()
    assert loss(stepped, t(real)).item() < loss(t(noisy), t(real)).item()
