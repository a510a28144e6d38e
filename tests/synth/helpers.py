"""Tiny synthetic targets and configs for the synthesis tests: a stick person with a head and a
face, waving its arms and stepping sideways, drawn thick on a grey floor (seeded, no files)."""

from __future__ import annotations

import numpy as np

from dancenow.keypoints import FACE, NUM_JOINTS, Joint, PoseSequence


def tiny_poses(frames: int = 24, size: tuple[int, int] = (120, 90), fps: float = 10.0, seed: int = 0) -> PoseSequence:
    """(T, 137, 3) keypoints of a ~70 px tall person in a `size` frame (face points included)."""
    rng = np.random.default_rng(seed)
    w, h = size
    kp = np.zeros((frames, NUM_JOINTS, 3), np.float32)
    for t in range(frames):
        cx = w / 2 + 8 * np.sin(2 * np.pi * t / frames)
        a = np.sin(2 * np.pi * 2 * t / frames)
        top = h / 2 - 35
        pts = {
            Joint.NOSE: (cx, top + 6), Joint.NECK: (cx, top + 16), Joint.R_SHOULDER: (cx - 8, top + 17),
            Joint.L_SHOULDER: (cx + 8, top + 17), Joint.R_ELBOW: (cx - 14, top + 24 - 8 * a),
            Joint.L_ELBOW: (cx + 14, top + 24 + 8 * a), Joint.R_WRIST: (cx - 18, top + 30 - 16 * a),
            Joint.L_WRIST: (cx + 18, top + 30 + 16 * a), Joint.MID_HIP: (cx, top + 40), Joint.R_HIP: (cx - 5, top + 40),
            Joint.L_HIP: (cx + 5, top + 40), Joint.R_KNEE: (cx - 6, top + 54), Joint.L_KNEE: (cx + 6, top + 54),
            Joint.R_ANKLE: (cx - 7, top + 68), Joint.L_ANKLE: (cx + 7, top + 68), Joint.R_EYE: (cx - 2, top + 4),
            Joint.L_EYE: (cx + 2, top + 4), Joint.R_EAR: (cx - 4, top + 5), Joint.L_EAR: (cx + 4, top + 5),
        }
        for j, (x, y) in pts.items():
            kp[t, j] = (x + rng.normal(0, 0.2), y + rng.normal(0, 0.2), 0.9)
        ang = np.linspace(0, 2 * np.pi, 70, endpoint=False)
        kp[t, FACE, 0] = cx + 4 * np.cos(ang)
        kp[t, FACE, 1] = top + 5 + 5 * np.sin(ang)
        kp[t, FACE, 2] = 0.8
    return PoseSequence(kp, fps, w, h)


def tiny_frames(seq: PoseSequence) -> list[np.ndarray]:
    """RGB uint8 frames of the stick person: thick coloured limbs, a skin-coloured head."""
    import cv2

    from dancenow.render import draw_pose

    out = []
    for kp in seq.keypoints:
        img = np.full((seq.height, seq.width, 3), 90, np.uint8)
        img[int(seq.height * 0.8):] = (60, 70, 50)
        draw_pose(img, kp, parts=("body",), thickness=4)
        cv2.circle(img, (int(kp[0, 0]), int(kp[0, 1]) - 1), 6, (230, 190, 160), -1)
        out.append(img)
    return out



def tiny_config(steps_global: int = 4, steps_face: int = 2, **train):
    """A 32x32 config with networks of a few thousand parameters."""
    from dancenow.synth.config import DiscriminatorConfig, FaceConfig, GeneratorConfig, SynthConfig, TrainConfig

    t = dict(steps_global=steps_global, steps_face=steps_face, batch_size=2, log_every=1, sample_every=1000,
             eval_every=1000, checkpoint_every=1000, eval_frames=3)
    t.update(train)
    return SynthConfig(
        image_size=(32, 32),
        generator=GeneratorConfig(ngf=8, n_downsample=2, n_blocks=1),
        discriminator=DiscriminatorConfig(ndf=8, n_layers=2, num_D=2),
        face=FaceConfig(crop=8, ngf=8, n_downsample=1, n_blocks=1, ndf=8, n_layers=1),
        train=TrainConfig(**t),
    ).validate()


def tiny_plate_model(folder, size: tuple[int, int] = (96, 96)):
    """A 32x32 model directory exported as training would, from the synthetic actor "ana" filmed
    by a static camera (so it has a plate) with 6 exemplars and random weights: the pictures
    mean nothing, but every stage of transfer and live (normalization, crop, labels, exemplar
    posing, face, paste into the plate) runs. Returns the model directory."""
    from pathlib import Path

    import torch

    from dancenow.demo import target_camera
    from dancenow.synth.config import FaceConfig, GeneratorConfig, SynthConfig
    from dancenow.synth.data import SynthData
    from dancenow.synth.model import ExemplarBank, export_model
    from dancenow.synth.networks import build_face_generator, build_generator
    from dancenow.synth.prepare import prepare
    from dancenow.world import generate_dance, get_actor, perform, render_frames

    d = Path(folder)
    perf = perform("ana", generate_dance(3, 2.0), size, target_camera(get_actor("ana")))  # a static camera
    data = SynthData(prepare(iter(list(render_frames("ana", perf))), d / "data", size=(32, 32), poses=perf.poses,
                             holdout=0.2, progress=False))
    assert data.plate is not None
    torch.manual_seed(0)
    cfg = SynthConfig(image_size=(32, 32), generator=GeneratorConfig(ngf=4, n_downsample=2, n_blocks=1),
                      face=FaceConfig(enabled=True, crop=8, ngf=4, n_downsample=1, n_blocks=1)).validate()
    bank = ExemplarBank(np.asarray(data.frames[:6]), data.keypoints[:6], np.arange(6), np.full((6, 32, 32), 255, np.uint8))
    return export_model(d / "model", cfg, build_generator(cfg), build_face_generator(cfg),
                        data.body_stats_path, data.crop, step=0, plate=data.plate_video, bank=bank)
