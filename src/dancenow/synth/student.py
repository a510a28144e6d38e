"""The fast student: a small generator distilled from a trained model's own generator (the
teacher), for real-time transfer and the live mirror on a CPU. Inference side only: the
network, its files and loading; the distillation (training) is dancenow.synth.distill.

The student is pix2pixHD's global generator, narrower and shallower (ngf 16, 4 residual
blocks, 3x3 instead of 7x7 convolutions at full resolution and zero instead of reflection
padding: 3.7 GFLOP a frame at 256 px against 21.6 for the cpu-small teacher), seeing the
same inputs (label, previous frame, posed exemplar, plate) and drawing the same outputs
(colour + alpha corrections), so `generate.step` runs it exactly as it runs the teacher, and
the teacher's face generator still refines the face. It lives in the model directory:

  student.safetensors   its weights
  student.json          its shape, the sha256 of its weights and of the teacher's
                        generator.safetensors it was distilled from

A student of an earlier teacher (the model retrained since) is refused: it learned to copy a
generator that no longer exists.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch.nn as nn

from dancenow.atomic import atomic_file, file_sha256
from dancenow.errors import DancenowError
from dancenow.synth.config import SynthConfig
from dancenow.synth.networks import GlobalGenerator, get_norm_layer, init_weights, start_from_exemplar

STUDENT_FILE = "student.safetensors"
STUDENT_INFO = "student.json"
STUDENT_FORMAT = "dancenow.synth.student"
STUDENT_VERSION = 1


@dataclass(frozen=True)
class StudentConfig:
    """The student's shape (a GlobalGenerator's). n_downsample is capped by the teacher's image
    size (it must divide by 2**n_downsample), see `fitted`."""

    ngf: int = 16  # a quarter of the teacher's multiply-adds per layer at half its width
    n_downsample: int = 3
    n_blocks: int = 4  # the bottleneck blocks are cheap at 1/8 resolution; 4 kept the quality
    # The two full-resolution 7x7 convolutions and the reflection padding of full-resolution
    # maps took over half of a 7x7 student's time: 3x3 and zero padding ran 2.3x faster (22.4
    # against 9.6 ms, bf16, 2 threads). padding None: the teacher's.
    edge_kernel: int = 3
    padding: str | None = "zero"

    def fitted(self, cfg: SynthConfig) -> "StudentConfig":
        """This shape for a teacher of `cfg`: no more downsampling than its image size allows."""
        w, h = cfg.image_size
        n = self.n_downsample
        while n > 1 and (w % 2 ** n or h % 2 ** n):
            n -= 1
        return dataclasses.replace(self, n_downsample=n)


def build_student(cfg: SynthConfig, scfg: StudentConfig = StudentConfig()) -> GlobalGenerator:
    """A fresh student for a teacher of config `cfg`: its inputs and outputs, pix2pixHD's
    initialisation, and for residual exemplar models a last layer at zero (it starts by
    drawing the posed exemplar, as the teacher did)."""
    g = cfg.generator
    s = scfg.fitted(cfg)
    model = GlobalGenerator(cfg.generator_input_nc, cfg.generator_output_nc, s.ngf, s.n_downsample, s.n_blocks,
                            get_norm_layer(g.norm), s.padding or g.padding, g.upsample, s.edge_kernel)
    model.apply(init_weights)
    return start_from_exemplar(model, cfg)


def save_student(model_dir: str | os.PathLike, student: nn.Module, scfg: StudentConfig, teacher_sha: str,
                 steps: int, metrics: dict | None = None) -> Path:
    """Write the student beside its teacher, atomically (weights first, then student.json that
    names their sha256: a reader never pairs the info with other weights)."""
    from safetensors.torch import save_file

    model_dir = Path(model_dir)
    with atomic_file(model_dir / STUDENT_FILE) as tmp:
        save_file({k: v.detach().to("cpu").contiguous() for k, v in student.state_dict().items()}, str(tmp))
    doc = {"format": STUDENT_FORMAT, "version": STUDENT_VERSION, "student": asdict(scfg),
           "sha256": file_sha256(model_dir / STUDENT_FILE), "teacher_sha256": teacher_sha, "steps": int(steps),
           "metrics": metrics or {}}
    with atomic_file(model_dir / STUDENT_INFO) as tmp:
        tmp.write_text(json.dumps(doc, indent=1))
    return model_dir / STUDENT_FILE


def load_student(model_dir: str | os.PathLike, cfg: SynthConfig, teacher_sha: str | None) -> GlobalGenerator:
    """The student of the model in `model_dir` (config `cfg`, generator weights of sha256
    `teacher_sha`). DancenowError, in one line, when there is none, it is damaged, or it was
    distilled from another generator than the one now there."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    model_dir = Path(model_dir)
    info_path, weights = model_dir / STUDENT_INFO, model_dir / STUDENT_FILE
    if not info_path.is_file() or not weights.is_file():
        raise DancenowError(f"{model_dir} has no fast student: make one with `dancenow distill --model {model_dir} --data DATA`")
    try:
        doc = json.loads(info_path.read_text())
        # students written before edge_kernel/padding existed had the teacher's 7x7 and padding
        scfg = StudentConfig(**{"edge_kernel": 7, "padding": None, **doc["student"]})
        want = doc["sha256"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        raise DancenowError(f"{info_path} is not a readable student description (distill again)") from None
    if doc.get("format") != STUDENT_FORMAT or int(doc.get("version", -1)) != STUDENT_VERSION:
        raise DancenowError(f"{info_path} is not a dancenow student v{STUDENT_VERSION} (distill again)")
    if teacher_sha is None or doc.get("teacher_sha256") != teacher_sha:
        raise DancenowError(f"the fast student in {model_dir} was distilled from an earlier generator (the model was "
                            f"retrained since): run `dancenow distill --model {model_dir} --data DATA` again")
    if file_sha256(weights) != want:
        raise DancenowError(f"{weights} does not match {STUDENT_INFO} (partly copied?): distill again")
    student = build_student(cfg, scfg)
    try:
        student.load_state_dict(load_file(str(weights)), strict=True)
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise DancenowError(f"{weights} does not fit its student shape ({str(e).splitlines()[0][:100]})") from None
    return student
