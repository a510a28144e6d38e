"""Configuration of the synthesis model and its training: one small dataclass per network
(as nanoGPT's GPTConfig), gathered in `SynthConfig`, with named presets.

The config is saved as JSON into every checkpoint and model directory, so either can rebuild
its networks. Nothing here imports torch: the CLI reads configs before the heavy imports.

Image sizes are (width, height) in model pixels, as everywhere in dancenow.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dancenow.errors import DancenowError

CONFIG_FORMAT = "dancenow.synth.config"
CONFIG_VERSION = 3  # v2: plate, exemplar, loss.l1, train.ema (v1 configs load with them off); v3: exemplar.blend (v2: 1)
PRESETS = ("quick", "cpu-small", "paper")


@dataclass
class GeneratorConfig:
    """pix2pixHD's global generator: 7x7 conv front, `n_downsample` stride-2 convs (filters
    double each time), `n_blocks` residual blocks at the bottleneck, mirrored upsampling."""

    ngf: int = 32  # filters after the front conv
    n_downsample: int = 4  # the bottleneck is image / 2**n_downsample
    n_blocks: int = 9
    norm: Literal["instance", "batch", "none"] = "instance"
    padding: Literal["reflect", "replicate", "zero"] = "reflect"
    upsample: Literal["transpose", "resize"] = "transpose"  # see networks._upsample


@dataclass
class LocalConfig:
    """pix2pixHD's local enhancer: a 2x-resolution front and back around the global generator.
    When enabled, the global generator runs at half the image size and uses 2 * local ngf
    filters, so `GeneratorConfig.ngf` must be twice `ngf` here (checked)."""

    enabled: bool = False
    ngf: int = 32
    n_blocks: int = 3
    # Fraction of the local stage during which the global part is held fixed (learning rate 0),
    # so the fresh local layers do not wreck the trained global model (pix2pixHD's
    # --niter_fix_global).
    fix_global_fraction: float = 0.2


@dataclass
class DiscriminatorConfig:
    """Multi-scale PatchGAN: `num_D` discriminators of `n_layers` stride-2 convs, on the image
    and its 2x, 4x... downsampled versions. With temporal smoothing it sees two consecutive
    frames and their labels (12 channels), as in "Everybody Dance Now"."""

    ndf: int = 64
    n_layers: int = 3
    num_D: int = 2
    norm: Literal["instance", "batch", "none"] = "instance"


@dataclass
class FaceConfig:
    """The face GAN: a residual generator on a square face crop (label crop + generated crop ->
    residual added to the generated crop) and one PatchGAN on (label crop, face crop)."""

    enabled: bool = True
    # Side of the square face crop in model pixels; 0 = the paper's 128 px at 512 px image
    # height, scaled with the height and rounded to a multiple of 2**n_downsample.
    crop: int = 0
    ngf: int = 32
    n_downsample: int = 2
    n_blocks: int = 3
    ndf: int = 32
    n_layers: int = 3


@dataclass
class ExemplarConfig:
    """Exemplar conditioning (dancenow.synth.exemplar): the generator also sees the training
    frame nearest in pose and its label, and corrects it."""

    enabled: bool = True
    # Show the exemplar's person moved part by part into the pose and laid over the plate
    # (dancenow.synth.exemplar.posed_exemplar); off: the exemplar frame and its label as they are.
    warp: bool = True
    # With posing: the generator's colour and alpha are corrections added to the posed exemplar
    # and its alpha, its last layer starting at zero, so training starts from the posed
    # exemplar rather than from noise.
    residual: bool = True
    bank: int = 512  # training frames kept (in the model directory) to choose exemplars from
    exclude_seconds: float = 1.0  # in training, a frame's exemplar is at least this far away in time
    switch: float = 0.2  # in transfer, change exemplar only for one nearer by this fraction
    # Posed exemplars fused by their per-pixel median (exemplar.posed_blend): up to `blend` of the
    # nearest, those within `within` x the nearest's pose distance; 1 = the nearest alone.
    blend: int = 7
    within: float = 1.5

    @property
    def fused(self) -> int:
        """How many exemplars are fused for a frame: `blend` when posed, else 1 (unposed
        exemplars are shown as they are)."""
        return self.blend if self.warp else 1


@dataclass
class LossWeights:
    """Weights of the generator's loss terms (pix2pixHD / Everybody Dance Now values, plus L1)."""

    gan: float = 1.0  # LSGAN adversarial term
    feat: float = 10.0  # discriminator feature matching
    l1: float = 10.0  # L1 reconstruction (no VGG weights exist offline: this anchors colours and layout)
    # L1 between the composite's alpha and the real frame's person mask (MediaPipe's segmentation
    # hardened by the plate, as the exemplars are cut out): with the image losses alone the
    # alpha is free, and where posed exemplars disagree about a limb it settled half-way (legs
    # the chair showed through) and drew a faint grid over the room. Plate models only.
    alpha: float = 0.0
    # The alpha term leaves out a band this wide (a fraction of the image height) just outside
    # each mask, as a matting trimap does: a shadow on the floor or a wisp of hair is not in
    # the mask but is in the frame, and the generator may draw it. Measured and not kept for
    # cpu-small: 0.04 gave held-out tai-chi 0.696 / 0.752 person / face SSIM against 0.709 /
    # 0.765 without (800 steps), the demo level (a faint floor shadow back, face -0.003).
    alpha_band: float = 0.0
    # 1 - SSIM (the evaluation's, `losses.SSIMLoss`) beside L1. Measured for cpu-small and not
    # kept (800 steps, held out, frame / person / face): 5 gave tai-chi 0.809 / 0.715 / 0.767
    # against 0.808 / 0.713 / 0.765 and jacks 0.947 / 0.815 / 0.843 against 0.947 / 0.812 /
    # 0.842, 20 the tai-chi 0.809 / 0.715 / 0.766 (PSNR -0.1 dB), for 26% more time a step.
    ssim: float = 0.0
    vgg: float = 10.0  # VGG19 perceptual (only when VGG19 weights are available)
    face_gan: float = 1.0
    face_feat: float = 10.0
    face_vgg: float = 10.0


@dataclass
class TrainConfig:
    """Optimisation and bookkeeping. Steps count optimizer steps (one batch of frame pairs)."""

    steps_global: int = 3000
    steps_local: int = 0
    steps_face: int = 500
    batch_size: int = 1  # per process; under torchrun the global batch is this x world size
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    decay_fraction: float = 0.5  # the last fraction of each stage decays the lr linearly to 0
    log_every: int = 10  # loss lines (losses.jsonl, TensorBoard, progress bar)
    sample_every: int = 500  # sample grids (label | generated | real)
    eval_every: int = 500  # SSIM / PSNR on held-out frames
    eval_frames: int = 48  # held-out frames generated in sequence for SSIM / PSNR
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    seed: int = 0
    ema: float = 0.999  # decay of the generator weights' moving average (what is exported); 0 = off
    # auto: bf16 autocast on CUDA when supported, and on CPUs with AVX512-BF16 (1.7x faster here)
    amp: Literal["auto", "bf16", "off"] = "auto"
    channels_last: Literal["auto", "on", "off"] = "auto"  # auto: on CUDA


@dataclass
class SynthConfig:
    """Everything needed to rebuild the networks and continue their training."""

    image_size: tuple[int, int] = (128, 128)  # (w, h) of the generated frames
    label_nc: int = 3  # RGB stick-figure label images (dancenow.render.render_label)
    output_nc: int = 3
    # Temporal smoothing: the generator also sees the previous generated frame (3 more input
    # channels) and the discriminator sees frame pairs. Off = plain single-frame pix2pixHD.
    temporal: bool = True
    # Background plate: the generator draws colour + alpha, composited over the target's
    # background (dancenow.synth.plate); off, or a moving camera: whole frames.
    plate: bool = True
    exemplar: ExemplarConfig = field(default_factory=ExemplarConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    local: LocalConfig = field(default_factory=LocalConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    face: FaceConfig = field(default_factory=FaceConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    train: TrainConfig = field(default_factory=TrainConfig)
    preset: str = "custom"

    # ----------------------------------------------------------------- derived sizes
    @property
    def generator_input_nc(self) -> int:
        """label [+ previous frame] [+ posed exemplar and its alpha, or exemplar frame and label] [+ plate]."""
        ex = (self.output_nc + 1 if self.exemplar.warp else self.output_nc + self.label_nc) if self.exemplar.enabled else 0
        return self.label_nc + (self.output_nc if self.temporal else 0) + ex + (self.output_nc if self.plate else 0)

    @property
    def residual(self) -> bool:
        """Whether the generator corrects the posed exemplar (see ExemplarConfig.residual)."""
        return self.exemplar.enabled and self.exemplar.warp and self.exemplar.residual

    @property
    def generator_output_nc(self) -> int:
        """colour [+ alpha over the plate]."""
        return self.output_nc + (1 if self.plate else 0)

    @property
    def discriminator_input_nc(self) -> int:
        """(label, image), twice for frame pairs when temporal."""
        return (self.label_nc + self.output_nc) * (2 if self.temporal else 1)

    @property
    def global_size(self) -> tuple[int, int]:
        """(w, h) the global generator runs at: half the image size under the local enhancer."""
        w, h = self.image_size
        return (w // 2, h // 2) if self.local.enabled else (w, h)

    @property
    def face_crop(self) -> int:
        """Side of the square face crop in model pixels (see FaceConfig.crop)."""
        if self.face.crop:
            return int(self.face.crop)
        m = 2 ** self.face.n_downsample
        side = 128 * self.image_size[1] / 512
        return max(m, int(round(side / m)) * m)

    @property
    def stages(self) -> list[tuple[str, int]]:
        """The training stages in order with their step counts (stages with 0 steps left out)."""
        out = [("global", self.train.steps_global)]
        if self.local.enabled:
            out.append(("local", self.train.steps_local))
        if self.face.enabled:
            out.append(("face", self.train.steps_face))
        return [(n, s) for n, s in out if s > 0]

    @property
    def total_steps(self) -> int:
        return sum(s for _, s in self.stages)

    # ----------------------------------------------------------------- checks
    def validate(self) -> "SynthConfig":
        """Raise DancenowError naming the first inconsistent setting; returns self."""
        w, h = self.image_size
        if w <= 0 or h <= 0:
            raise DancenowError(f"image_size must be positive, got {w}x{h}")
        m = 2 ** (self.generator.n_downsample + (1 if self.local.enabled else 0))
        if w % m or h % m:
            raise DancenowError(
                f"image size {w}x{h} must be a multiple of {m} (2**n_downsample"
                f"{' x 2 for the local enhancer' if self.local.enabled else ''})")
        if self.local.enabled and self.generator.ngf != 2 * self.local.ngf:
            raise DancenowError(f"with the local enhancer, generator.ngf ({self.generator.ngf}) must be 2 x local.ngf ({self.local.ngf})")
        for name, v in [("generator.ngf", self.generator.ngf), ("discriminator.ndf", self.discriminator.ndf),
                        ("discriminator.num_D", self.discriminator.num_D), ("discriminator.n_layers", self.discriminator.n_layers),
                        ("face.ngf", self.face.ngf), ("face.ndf", self.face.ndf), ("train.batch_size", self.train.batch_size)]:
            if v < 1:
                raise DancenowError(f"{name} must be >= 1, got {v}")
        if self.face.enabled:
            fc = self.face_crop
            if fc % (2 ** self.face.n_downsample):
                raise DancenowError(f"face crop {fc} px must be a multiple of 2**face.n_downsample = {2 ** self.face.n_downsample}")
            if fc > min(w, h):
                raise DancenowError(f"face crop {fc} px is larger than the image {w}x{h}")
        if min(self.global_size) < 2 ** (self.discriminator.num_D - 1) * 8:
            raise DancenowError(f"image {w}x{h} is too small for {self.discriminator.num_D} discriminator scales")
        t = self.train
        if not (0 <= t.ema < 1):
            raise DancenowError(f"train.ema must be in [0, 1), got {t.ema}")
        ex = self.exemplar
        if ex.enabled and (ex.bank < 2 or ex.exclude_seconds < 0 or not 0 <= ex.switch < 1 or not 1 <= ex.blend <= 16 or ex.within < 1):
            raise DancenowError("exemplar: bank must be >= 2, exclude_seconds >= 0, switch in [0, 1), blend 1-16, within >= 1")
        if min(self.loss.gan, self.loss.feat, self.loss.l1, self.loss.ssim, self.loss.vgg, self.loss.alpha, self.loss.alpha_band) < 0:
            raise DancenowError("loss weights must be >= 0")
        if not (0 <= t.decay_fraction <= 1):
            raise DancenowError(f"train.decay_fraction must be in [0, 1], got {t.decay_fraction}")
        if min(t.steps_global, t.steps_local, t.steps_face) < 0:
            raise DancenowError("step counts must be >= 0")
        if self.total_steps < 1:
            raise DancenowError("nothing to train: every stage has 0 steps")
        for name in ("log_every", "sample_every", "eval_every", "checkpoint_every", "keep_checkpoints", "eval_frames"):
            if getattr(t, name) < 1:
                raise DancenowError(f"train.{name} must be >= 1")
        if self.generator.upsample not in ("transpose", "resize"):
            raise DancenowError(f"generator.upsample must be transpose or resize, got {self.generator.upsample!r}")
        if t.amp not in ("auto", "bf16", "off") or t.channels_last not in ("auto", "on", "off"):
            raise DancenowError(f"train.amp must be auto|bf16|off and train.channels_last auto|on|off, got {t.amp!r}, {t.channels_last!r}")
        return self

    # ----------------------------------------------------------------- edits
    def with_steps(self, total: int) -> "SynthConfig":
        """A copy whose stage step counts are scaled to add up to `total` (each enabled stage
        keeps at least one step when total allows), for `--steps N`."""
        if total < 1:
            raise DancenowError(f"--steps must be >= 1, got {total}")
        stages = self.stages or [("global", 1)]
        weights = [s for _, s in stages]
        tot = sum(weights)
        counts = [max(1, int(round(total * s / tot))) if total >= len(stages) else 0 for s in weights]
        if total < len(stages):
            counts[0] = total
        counts[0] += total - sum(counts)  # rounding goes to the global stage
        if counts[0] < 1:  # tiny totals: take from the largest other stage
            i = max(range(1, len(counts)), key=lambda k: counts[k])
            counts[i] -= 1 - counts[0]
            counts[0] = 1
        new = dataclasses.replace(self.train, steps_global=0, steps_local=0, steps_face=0)
        for (name, _), c in zip(stages, counts):
            setattr(new, f"steps_{name}", c)
        return dataclasses.replace(self, train=new)

    def with_steps_from(self, step: int, total: int) -> "SynthConfig":
        """For resuming at `step` with a new total: stages finished before `step` keep their
        counts; the current and later stages share the rest in their old proportions (the
        current stage keeps at least the steps it has done, plus one)."""
        stages, start, done = self.stages, 0, []
        for name, n in stages:
            if step < start + n:
                break
            done.append((name, n))
            start += n
        rest = stages[len(done):]
        if not rest:  # every stage finished: extend the last one
            rest, done = [done[-1]], done[:-1]
            start -= rest[0][1]
        need = (step - start) + 1
        if total - start < need + (len(rest) - 1):
            raise DancenowError(f"the run is at step {step}: --steps must be at least {start + need + len(rest) - 1}")
        weights = [n for _, n in rest]
        counts = [max(1, int(round((total - start) * w / sum(weights)))) for w in weights]
        counts[0] = max(counts[0], need)
        counts[-1 if len(counts) > 1 else 0] += (total - start) - sum(counts)
        if min(counts) < 1 or counts[0] < need:
            raise DancenowError(f"cannot split {total} steps over the remaining stages from step {step}")
        new = dataclasses.replace(self.train)
        for name, n in done:
            setattr(new, f"steps_{name}", n)
        for (name, _), c in zip(rest, counts):
            setattr(new, f"steps_{name}", c)
        return dataclasses.replace(self, train=new)

    def with_image_size(self, size: tuple[int, int]) -> "SynthConfig":
        return dataclasses.replace(self, image_size=(int(size[0]), int(size[1])))

    # ----------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["image_size"] = list(self.image_size)
        return {"format": CONFIG_FORMAT, "version": CONFIG_VERSION, **d}

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "config") -> "SynthConfig":
        """Strict: unknown keys and newer versions are errors (they mean another dancenow)."""
        d = dict(d)
        fmt = d.pop("format", CONFIG_FORMAT)
        version = int(d.pop("version", CONFIG_VERSION))
        if fmt != CONFIG_FORMAT:
            raise DancenowError(f"{where} is not a dancenow synthesis config (format {fmt!r})")
        if version > CONFIG_VERSION:
            raise DancenowError(f"{where} is config v{version}; this dancenow reads up to v{CONFIG_VERSION}: upgrade dancenow")
        if version < 2:  # v1 models had none of these: whole frames, no exemplar, no L1, no EMA
            d.setdefault("plate", False)
            d.setdefault("exemplar", {"enabled": False})
            d["loss"] = {"l1": 0.0, **d.get("loss", {})}
            d["train"] = {"ema": 0.0, **d.get("train", {})}
        if version < 3 and isinstance(d.get("exemplar"), dict):  # v2 models posed one exemplar
            d["exemplar"] = {"blend": 1, **d["exemplar"]}
        return _from_dict(cls, d, where).validate()

    def save(self, path: str | os.PathLike) -> Path:
        from dancenow.atomic import write_json

        return write_json(path, self.to_dict(), indent=2)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SynthConfig":
        """Read a config JSON; a partial file overrides the `preset` it names (default cpu-small)."""
        path = Path(path)
        try:
            d = json.loads(path.read_text())
        except FileNotFoundError:
            raise DancenowError(f"config file not found: {path}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DancenowError(f"{path} is not valid JSON ({e})") from None
        if not isinstance(d, dict):
            raise DancenowError(f"{path} must hold a JSON object")
        base = preset(d.get("preset", "cpu-small")) if d.get("preset", "cpu-small") in PRESETS else SynthConfig()
        merged = _merge(base.to_dict(), d)
        return cls.from_dict(merged, str(path))


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _from_dict(cls, d: dict, where: str):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(d) - set(fields)
    if unknown:
        raise DancenowError(f"{where}: unknown {cls.__name__} setting(s): {', '.join(sorted(unknown))}")
    kwargs = {}
    for name, value in d.items():
        default = getattr(cls(), name) if name in fields else None
        if dataclasses.is_dataclass(default):
            if not isinstance(value, dict):
                raise DancenowError(f"{where}: {name} must be an object")
            kwargs[name] = _from_dict(type(default), value, f"{where}.{name}")
        elif name == "image_size":
            try:
                w, h = (int(v) for v in value)
            except (TypeError, ValueError):
                raise DancenowError(f"{where}: image_size must be [width, height]") from None
            kwargs[name] = (w, h)
        else:
            if isinstance(default, bool) and not isinstance(value, bool):
                raise DancenowError(f"{where}: {name} must be true or false")
            if isinstance(default, (int, float)) and not isinstance(default, bool):
                if not isinstance(value, (int, float)) or isinstance(value, bool):
                    raise DancenowError(f"{where}: {name} must be a number")
                if isinstance(default, int) and not float(value).is_integer():
                    raise DancenowError(f"{where}: {name} must be a whole number, got {value}")
                value = type(default)(value)
            if isinstance(default, str) and not isinstance(value, str):
                raise DancenowError(f"{where}: {name} must be a string")
            kwargs[name] = value
    return cls(**kwargs)


# --------------------------------------------------------------------------- presets

def preset(name: str) -> SynthConfig:
    """A named configuration.

    quick: 64x64, tiny networks, 280 steps: a demo model in a minute or two (or pass a time
        budget: `train(..., minutes=1)`); it shows the pipeline working, not a good likeness.
    cpu-small: 256x256, ngf 32, 3 downsamples, 6 blocks, the background plate and posed
        exemplars (the generator corrects the nearest training frame moved into the pose), no
        face stage: a model of a person in about 8 minutes on 2 idle CPU cores (the default
        800 steps; measured figures in bench/synth_quality.py).
    paper: 1024x512 with the local enhancer, ngf 64 global / 32 local, 9 blocks, 2-scale D,
        face GAN on 128 px crops: "Everybody Dance Now" / pix2pixHD at full size, for GPUs.
    """
    if name == "quick":
        return SynthConfig(
            image_size=(64, 64),
            generator=GeneratorConfig(ngf=16, n_downsample=3, n_blocks=3),
            discriminator=DiscriminatorConfig(ndf=16, n_layers=3, num_D=2),
            face=FaceConfig(enabled=True, crop=16, ngf=16, n_downsample=2, n_blocks=2, ndf=16, n_layers=2),
            exemplar=ExemplarConfig(bank=64),
            train=TrainConfig(steps_global=240, steps_face=40, batch_size=1, sample_every=80, eval_every=80,
                              eval_frames=24, checkpoint_every=80, log_every=10),
            preset="quick",
        ).validate()
    if name == "cpu-small":
        return SynthConfig(
            image_size=(256, 256),
            generator=GeneratorConfig(ngf=32, n_downsample=3, n_blocks=6),
            discriminator=DiscriminatorConfig(ndf=32, n_layers=3, num_D=2),
            # No face stage: with L1 and the alpha term the body generator draws the face as well
            # as the face GAN's correction of it did (800 steps either way, held-out frame /
            # person / face SSIM without / with it: tai-chi 0.808 / 0.710 / 0.769 against 0.808 /
            # 0.710 / 0.765, jumping jacks 0.946 / 0.809 / 0.832 both, the synthetic target
            # 0.964 / 0.884 / 0.889 against 0.964 / 0.884 / 0.890), and transfer skips a network.
            face=FaceConfig(enabled=False, crop=0, ngf=32, n_downsample=2, n_blocks=3, ndf=32, n_layers=3),
            # L1 and the alpha term, no adversarial ones: in a CPU budget the generator only
            # corrects the posed exemplar, and LSGAN + feature matching made that correction a
            # grain and a checkerboard over the person (held-out tai-chi, 800 steps, person /
            # face SSIM: 0.693 / 0.739 with them, 0.709 / 0.765 without, alpha term on).
            loss=LossWeights(gan=0.0, feat=0.0, alpha=10.0),
            # 800 steps, not 2,250: the held-out figures stop moving by then. Person SSIM at 250 /
            # 500 / 800 steps: tai-chi 0.703 / 0.708 / 0.709; jumping jacks 0.812 at every
            # evaluation from 250 to 1370; the demo's target 0.836 / 0.839 / 0.840 (at 700). The
            # posed exemplars carry the picture, and L1 leaves what they get wrong uncorrected.
            train=TrainConfig(steps_global=800, steps_face=0, batch_size=1, sample_every=250, eval_every=250,
                              checkpoint_every=250),
            preset="cpu-small",
        ).validate()
    if name == "paper":
        return SynthConfig(
            image_size=(1024, 512),
            generator=GeneratorConfig(ngf=64, n_downsample=4, n_blocks=9),
            local=LocalConfig(enabled=True, ngf=32, n_blocks=3),
            discriminator=DiscriminatorConfig(ndf=64, n_layers=3, num_D=2),
            face=FaceConfig(enabled=True, crop=128, ngf=64, n_downsample=3, n_blocks=5, ndf=64, n_layers=3),
            train=TrainConfig(steps_global=100_000, steps_local=50_000, steps_face=20_000, batch_size=1,
                              sample_every=2000, eval_every=5000, eval_frames=120, checkpoint_every=5000,
                              log_every=50),
            preset="paper",
        ).validate()
    raise DancenowError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
