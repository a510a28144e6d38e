"""The synthesis networks, pix2pixHD's composition read top to bottom:
ResnetBlock -> GlobalGenerator -> LocalEnhancer (reuses a global generator) -> NLayerDiscriminator
-> MultiscaleDiscriminator (returns intermediate features for feature matching) ->
FaceResidualGenerator and the face PatchGAN -> `build_*` helpers that read a SynthConfig.

References: Wang et al., "High-Resolution Image Synthesis and Semantic Manipulation with
Conditional GANs" (pix2pixHD, NVIDIA/pix2pixHD models/networks.py); Chan et al., "Everybody
Dance Now" (temporal smoothing: the generator also sees the previous frame; the discriminator
sees frame pairs; face residual GAN).

Images are (B, C, H, W) float tensors in [-1, 1]. The norm layer is injected (`norm_layer`, a
callable `channels -> nn.Module`), devices are the caller's business (no .cuda()).
"""

from __future__ import annotations

import functools
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from dancenow.synth.config import SynthConfig

NormLayer = Callable[[int], nn.Module]


def get_norm_layer(norm: str = "instance") -> NormLayer:
    """'instance' (pix2pixHD's choice: no affine, no running stats), 'batch' or 'none'."""
    if norm == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False)
    if norm == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True)
    if norm == "none":
        return lambda _channels: nn.Identity()
    raise ValueError(f"unknown norm layer {norm!r}: instance, batch or none")


def _pad(padding: str, size: int) -> tuple[list[nn.Module], int]:
    """Explicit padding layers (reflect/replicate) or the conv's own zero padding."""
    if padding == "reflect":
        return [nn.ReflectionPad2d(size)], 0
    if padding == "replicate":
        return [nn.ReplicationPad2d(size)], 0
    if padding == "zero":
        return [], size
    raise ValueError(f"unknown padding {padding!r}: reflect, replicate or zero")


def _upsample(kind: str, cin: int, cout: int, padding: str) -> list[nn.Module]:
    """2x upsampling with a 3x3 conv: pix2pixHD's transposed convolution, or "resize": nearest
    neighbour then a convolution, which leaves no checkerboard pattern (Odena et al. 2016) at
    4x the FLOPs of those layers."""
    if kind == "transpose":
        return [nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1)]
    if kind == "resize":
        pad, p = _pad(padding, 1)
        return [nn.Upsample(scale_factor=2, mode="nearest"), *pad, nn.Conv2d(cin, cout, 3, padding=p)]
    raise ValueError(f"unknown upsampling {kind!r}: transpose or resize")


def init_weights(module: nn.Module) -> None:
    """pix2pixHD's initialisation: conv weights N(0, 0.02), batch-norm scales N(1, 0.02)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def downsample2x(x: torch.Tensor) -> torch.Tensor:
    """pix2pixHD's image pyramid step: 3x3 average pooling, stride 2 (edges not zero-weighted)."""
    return F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)


# --------------------------------------------------------------------------- generators

class ResnetBlock(nn.Module):
    """x + (pad, conv3x3, norm, ReLU, pad, conv3x3, norm)(x)."""

    def __init__(self, dim: int, norm_layer: NormLayer, padding: str = "reflect"):
        super().__init__()
        pad, p = _pad(padding, 1)
        self.conv_block = nn.Sequential(
            *pad, nn.Conv2d(dim, dim, 3, padding=p), norm_layer(dim), nn.ReLU(True),
            *pad, nn.Conv2d(dim, dim, 3, padding=p), norm_layer(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class GlobalGenerator(nn.Module):
    """pix2pixHD's G1: (B, input_nc, H, W) -> (B, output_nc, H, W) in [-1, 1].

    front (7x7 conv, ngf) -> n_downsample stride-2 3x3 convs (filters x2 each) -> n_blocks
    ResnetBlocks -> n_downsample transposed convs -> 7x7 conv -> tanh (`edge_kernel` sets the
    size of the two full-resolution convs: the fast student uses 3). H and W must be
    multiples of 2**n_downsample. The last three modules of `self.model` are the output head
    (pad, conv, tanh); LocalEnhancer drops them and uses the rest as a feature extractor.
    """

    HEAD_LAYERS = 3

    def __init__(self, input_nc: int, output_nc: int, ngf: int = 64, n_downsample: int = 3,
                 n_blocks: int = 9, norm_layer: NormLayer = get_norm_layer("instance"), padding: str = "reflect",
                 upsample: str = "transpose", edge_kernel: int = 7):
        super().__init__()
        pad3, p3 = _pad(padding, edge_kernel // 2)
        layers: list[nn.Module] = [*pad3, nn.Conv2d(input_nc, ngf, edge_kernel, padding=p3), norm_layer(ngf), nn.ReLU(True)]
        for i in range(n_downsample):
            c = ngf * 2 ** i
            layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), norm_layer(2 * c), nn.ReLU(True)]
        c = ngf * 2 ** n_downsample
        layers += [ResnetBlock(c, norm_layer, padding) for _ in range(n_blocks)]
        for i in range(n_downsample):
            c = ngf * 2 ** (n_downsample - i)
            layers += [*_upsample(upsample, c, c // 2, padding), norm_layer(c // 2), nn.ReLU(True)]
        head = [*pad3, nn.Conv2d(ngf, output_nc, edge_kernel, padding=p3), nn.Tanh()]
        if len(head) < self.HEAD_LAYERS:  # zero padding: keep the head three modules long
            head = [nn.Identity()] + head
        self.model = nn.Sequential(*layers, *head)
        self.n_downsample = n_downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class LocalEnhancer(nn.Module):
    """pix2pixHD's G = {G1, G2}: a global generator at half resolution, without its output head,
    inside a local front/back at full resolution:

        out = back(front(x) + G1_features(downsample2x(x)))

    Built from an existing GlobalGenerator (trained in the global stage), whose ngf must be 2x
    the local ngf. `self.global_model` keeps G1's parameter names, so G1's weights load into it.
    """

    def __init__(self, global_model: GlobalGenerator, input_nc: int, output_nc: int, ngf: int = 32,
                 n_blocks: int = 3, norm_layer: NormLayer = get_norm_layer("instance"), padding: str = "reflect"):
        super().__init__()
        # Coarse-to-fine by composition: G1 minus its head. Truncating in place keeps the
        # parameter names (global_model.model.N.*) of the global stage.
        global_model.model = nn.Sequential(*list(global_model.model)[: -GlobalGenerator.HEAD_LAYERS])
        self.global_model = global_model
        pad3, p3 = _pad(padding, 3)
        self.front = nn.Sequential(
            *pad3, nn.Conv2d(input_nc, ngf, 7, padding=p3), norm_layer(ngf), nn.ReLU(True),
            nn.Conv2d(ngf, 2 * ngf, 3, stride=2, padding=1), norm_layer(2 * ngf), nn.ReLU(True),
        )
        self.back = nn.Sequential(
            *[ResnetBlock(2 * ngf, norm_layer, padding) for _ in range(n_blocks)],
            nn.ConvTranspose2d(2 * ngf, ngf, 3, stride=2, padding=1, output_padding=1), norm_layer(ngf), nn.ReLU(True),
            *pad3, nn.Conv2d(ngf, output_nc, 7, padding=p3), nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        coarse = self.global_model(downsample2x(x))  # (B, 2*ngf, H/2, W/2)
        return self.back(self.front(x) + coarse)  # (B, output_nc, H, W)

    def global_parameters(self):
        return self.global_model.parameters()


class FaceResidualGenerator(nn.Module):
    """Everybody Dance Now's face GAN generator: (label crop, generated crop) -> a residual
    added to the generated crop. A small global generator whose last conv starts at zero, so
    the face stage begins exactly at the body generator's output instead of at noise."""

    def __init__(self, label_nc: int, output_nc: int, ngf: int = 32, n_downsample: int = 2, n_blocks: int = 3,
                 norm_layer: NormLayer = get_norm_layer("instance"), padding: str = "reflect"):
        super().__init__()
        self.net = GlobalGenerator(label_nc + output_nc, output_nc, ngf, n_downsample, n_blocks, norm_layer, padding)
        self.zero_last()

    def zero_last(self) -> None:
        last = [m for m in self.net.model if isinstance(m, nn.Conv2d)][-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, label_crop: torch.Tensor, image_crop: torch.Tensor) -> torch.Tensor:
        """Both (B, C, S, S) in [-1, 1] -> residual (B, output_nc, S, S) in [-1, 1]."""
        return self.net(torch.cat([label_crop, image_crop], dim=1))


# --------------------------------------------------------------------------- discriminators

class NLayerDiscriminator(nn.Module):
    """PatchGAN: 4x4 convs, n_layers with stride 2 (filters x2, at most 512), one with stride 1,
    then a 1-channel map of real/fake scores (no sigmoid: LSGAN). forward returns every block's
    output, the score map last, for the feature-matching loss."""

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3, norm_layer: NormLayer = get_norm_layer("instance")):
        super().__init__()
        kw, pw = 4, 2  # pix2pixHD's padding ceil((4 - 1) / 2)
        blocks = [nn.Sequential(nn.Conv2d(input_nc, ndf, kw, stride=2, padding=pw), nn.LeakyReLU(0.2, True))]
        nf = ndf
        for _ in range(1, n_layers):
            prev, nf = nf, min(nf * 2, 512)
            blocks.append(nn.Sequential(nn.Conv2d(prev, nf, kw, stride=2, padding=pw), norm_layer(nf), nn.LeakyReLU(0.2, True)))
        prev, nf = nf, min(nf * 2, 512)
        blocks.append(nn.Sequential(nn.Conv2d(prev, nf, kw, stride=1, padding=pw), norm_layer(nf), nn.LeakyReLU(0.2, True)))
        blocks.append(nn.Sequential(nn.Conv2d(nf, 1, kw, stride=1, padding=pw)))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats  # n_layers + 2 tensors; feats[-1] is the (B, 1, h, w) score map


class MultiscaleDiscriminator(nn.Module):
    """`num_D` PatchGANs; scale i sees the input downsampled i times. Returns, per scale (full
    resolution first), the list of that discriminator's intermediate features."""

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3, num_D: int = 2,
                 norm_layer: NormLayer = get_norm_layer("instance")):
        super().__init__()
        self.scales = nn.ModuleList(NLayerDiscriminator(input_nc, ndf, n_layers, norm_layer) for _ in range(num_D))

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        out = []
        for i, d in enumerate(self.scales):
            if i:
                x = downsample2x(x)
            out.append(d(x))
        return out


# --------------------------------------------------------------------------- from a config

def start_from_exemplar(generator: nn.Module, cfg: SynthConfig) -> nn.Module:
    """For residual exemplar models: the last convolution starts at zero, no correction to the
    posed exemplar's colour and alpha."""
    if cfg.residual:
        last = [m for m in generator.modules() if isinstance(m, nn.Conv2d)][-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
    return generator


def build_generator(cfg: SynthConfig, global_model: GlobalGenerator | None = None) -> nn.Module:
    """The image generator of `cfg`: a GlobalGenerator, or a LocalEnhancer around one (pass the
    trained `global_model` of the global stage; a fresh one is built otherwise).
    Input: (B, label_nc [+ output_nc previous frame], H, W)."""
    norm = get_norm_layer(cfg.generator.norm)
    g = cfg.generator
    if global_model is None:
        global_model = GlobalGenerator(cfg.generator_input_nc, cfg.generator_output_nc, g.ngf, g.n_downsample, g.n_blocks, norm,
                                       g.padding, g.upsample)
        global_model.apply(init_weights)
        start_from_exemplar(global_model, cfg)
    if not cfg.local.enabled:
        return global_model
    local = LocalEnhancer(global_model, cfg.generator_input_nc, cfg.generator_output_nc, cfg.local.ngf, cfg.local.n_blocks, norm, g.padding)
    local.front.apply(init_weights)
    local.back.apply(init_weights)
    return start_from_exemplar(local, cfg)


def build_global_generator(cfg: SynthConfig) -> GlobalGenerator:
    """The global generator alone (the first training stage, also under the local enhancer)."""
    g = cfg.generator
    model = GlobalGenerator(cfg.generator_input_nc, cfg.generator_output_nc, g.ngf, g.n_downsample, g.n_blocks,
                            get_norm_layer(g.norm), g.padding, g.upsample)
    model.apply(init_weights)
    return start_from_exemplar(model, cfg)


def build_discriminator(cfg: SynthConfig) -> MultiscaleDiscriminator:
    """The image discriminator: on (label_t, label_t+1, image_t, image_t+1) when temporal."""
    d = cfg.discriminator
    model = MultiscaleDiscriminator(cfg.discriminator_input_nc, d.ndf, d.n_layers, d.num_D, get_norm_layer(d.norm))
    model.apply(init_weights)
    return model


def build_face_generator(cfg: SynthConfig) -> FaceResidualGenerator:
    f = cfg.face
    model = FaceResidualGenerator(cfg.label_nc, cfg.output_nc, f.ngf, f.n_downsample, f.n_blocks,
                                  get_norm_layer(cfg.generator.norm), cfg.generator.padding)
    model.apply(init_weights)
    model.zero_last()
    return model


def build_face_discriminator(cfg: SynthConfig) -> NLayerDiscriminator:
    """The face PatchGAN on (label crop, face crop)."""
    f = cfg.face
    model = NLayerDiscriminator(cfg.label_nc + cfg.output_nc, f.ndf, f.n_layers, get_norm_layer(cfg.discriminator.norm))
    model.apply(init_weights)
    return model


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
