"""Evaluation: SSIM/PSNR against scikit-image, LPIPS math and weight loading, the face crop, the
pose distance, video pairs (streaming, reports, bad pairs) and the CLI. Budget: under 40 s."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from dancenow.errors import DancenowError
from dancenow.evaluate import (
    LPIPS, EvalConfig, LpipsUnavailable, evaluate_pairs, evaluate_videos, face_box, face_center, load_lpips,
    person_box, pose_distance, psnr, ssim, write_report,
)
from dancenow.evaluate import perceptual, posedist
from dancenow.images import read_image
from dancenow.keypoints import FACE, LEFT_HAND, NUM_JOINTS, RIGHT_HAND, Joint, PoseSequence
from dancenow.video import read_all, write_video

SKIMAGE_TOL = 1e-4  # absolute, in SSIM units and in dB


# ----------------------------------------------------------------------------- helpers

# A standing person, BODY_25 joints as (dx, dy) fractions of the frame height from the nose.
_BODY_TEMPLATE = {
    Joint.NOSE: (0, 0), Joint.NECK: (0, 0.07), Joint.R_SHOULDER: (-0.07, 0.07), Joint.R_ELBOW: (-0.10, 0.20),
    Joint.R_WRIST: (-0.11, 0.32), Joint.L_SHOULDER: (0.07, 0.07), Joint.L_ELBOW: (0.10, 0.20),
    Joint.L_WRIST: (0.11, 0.32), Joint.MID_HIP: (0, 0.35), Joint.R_HIP: (-0.04, 0.35), Joint.R_KNEE: (-0.045, 0.53),
    Joint.R_ANKLE: (-0.05, 0.71), Joint.L_HIP: (0.04, 0.35), Joint.L_KNEE: (0.045, 0.53), Joint.L_ANKLE: (0.05, 0.71),
    Joint.R_EYE: (-0.015, -0.015), Joint.L_EYE: (0.015, -0.015), Joint.R_EAR: (-0.03, -0.01), Joint.L_EAR: (0.03, -0.01),
    Joint.L_BIG_TOE: (0.07, 0.75), Joint.L_SMALL_TOE: (0.08, 0.74), Joint.L_HEEL: (0.045, 0.73),
    Joint.R_BIG_TOE: (-0.07, 0.75), Joint.R_SMALL_TOE: (-0.08, 0.74), Joint.R_HEEL: (-0.045, 0.73),
}


def _person(n: int, w: int, h: int, rng: np.random.Generator, head=(0.5, 0.15)) -> PoseSequence:
    """n frames of one standing person whose nose is at `head` (fractions of w, h), drifting
    (2, 1) px per frame, with a 70-point face (an ellipse around the nose) and two hands."""
    kp = np.zeros((n, NUM_JOINTS, 3), np.float32)
    ang = np.linspace(0, 2 * np.pi, 70, endpoint=False)
    for t in range(n):
        cx, cy = head[0] * w + 2 * t, head[1] * h + t
        for j, (dx, dy) in _BODY_TEMPLATE.items():
            kp[t, j, :2] = cx + dx * h, cy + dy * h
        kp[t, :25, :2] += rng.normal(0, 0.003 * h, (25, 2))
        kp[t, FACE, 0] = cx + 0.04 * h * np.cos(ang)
        kp[t, FACE, 1] = cy + 0.05 * h * np.sin(ang)
        for hand, wrist in ((LEFT_HAND, Joint.L_WRIST), (RIGHT_HAND, Joint.R_WRIST)):
            kp[t, hand, :2] = kp[t, wrist, :2] + rng.normal(0, 0.02 * h, (21, 2))
    kp[..., 2] = 0.9
    return PoseSequence(kp, 25.0, w, h)


def _frames(n: int, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth textured scene with a moving bright block (codec-friendly, not constant)."""
    yy, xx = np.mgrid[0:h, 0:w]
    out = []
    for t in range(n):
        base = 128 + 60 * np.sin(xx / 7.0 + t) * np.cos(yy / 9.0)
        img = np.stack([base, np.roll(base, 5, axis=1), 255 - base], axis=-1)
        img[10 + 2 * t:30 + 2 * t, 20:40] = 250
        out.append(np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8))
    return np.stack(out)


def _degrade(frames: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    noise = rng.normal(0, sigma, frames.shape)
    noise[len(frames) // 2] *= 4  # one clearly worst frame
    return np.clip(frames + noise, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- SSIM / PSNR

def test_ssim_psnr_equal_scikit_image_on_real_images(shared_data: Path) -> None:
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    real = shared_data / "real"
    a, b = read_image(real / "basketball1.png"), read_image(real / "basketball2.png")
    m = read_image(real / "messi5.jpg")
    rng = np.random.default_rng(0)
    noisy = np.clip(m + rng.normal(0, 20, m.shape), 0, 255).astype(np.uint8)
    coco = read_image(sorted((real / "coco").glob("*.jpg"))[0])[:301, :257]  # odd sizes
    blurred = np.ascontiguousarray(coco[::-1, ::-1])
    for x, y in [(a, b), (m, noisy), (coco, blurred)]:
        ref_ssim = structural_similarity(x, y, channel_axis=-1, data_range=255)
        ref_psnr = peak_signal_noise_ratio(x, y, data_range=255)
        assert abs(ssim(x, y) - ref_ssim) < SKIMAGE_TOL
        assert abs(psnr(x, y) - ref_psnr) < SKIMAGE_TOL
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    assert psnr(a, a) == math.inf
    assert 0.5 < ssim(a, b) < 0.95  # two consecutive frames: similar, not identical


def test_ssim_psnr_reject_bad_input() -> None:
    a = np.zeros((20, 20, 3), np.uint8)
    with pytest.raises(DancenowError, match="differ in size"):
        ssim(a, np.zeros((20, 21, 3), np.uint8))
    with pytest.raises(DancenowError, match="RGB uint8"):
        psnr(a.astype(np.float32), a.astype(np.float32))
    with pytest.raises(DancenowError, match="at least 7x7"):
        ssim(a[:6], a[:6])


# ----------------------------------------------------------------------------- LPIPS

def _direct_lpips(model: LPIPS, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    """LPIPS written out from the definitions (torchvision AlexNet/VGG16 + lpips v0.1), sharing
    only the weights with `model`."""
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]

    def feats(x):
        x = (x - torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)) / torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
        out = []
        if model.net_name == "alex":
            c = convs
            x = F.relu(F.conv2d(x, c[0].weight, c[0].bias, stride=4, padding=2)); out.append(x)
            x = F.relu(F.conv2d(F.max_pool2d(x, 3, 2), c[1].weight, c[1].bias, padding=2)); out.append(x)
            x = F.relu(F.conv2d(F.max_pool2d(x, 3, 2), c[2].weight, c[2].bias, padding=1)); out.append(x)
            x = F.relu(F.conv2d(x, c[3].weight, c[3].bias, padding=1)); out.append(x)
            x = F.relu(F.conv2d(x, c[4].weight, c[4].bias, padding=1)); out.append(x)
        else:
            it = iter(convs)
            for block, n in enumerate((2, 2, 3, 3, 3)):
                if block:
                    x = F.max_pool2d(x, 2, 2)
                for _ in range(n):
                    c = next(it)
                    x = F.relu(F.conv2d(x, c.weight, c.bias, padding=1))
                out.append(x)
        return out

    total = 0
    for a, b, lin in zip(feats(x0), feats(x1), model.lins):
        a = a / (a.norm(dim=1, keepdim=True) + 1e-10)
        b = b / (b.norm(dim=1, keepdim=True) + 1e-10)
        total = total + ((a - b) ** 2 * lin.weight.view(1, -1, 1, 1)).sum(dim=1).mean(dim=(1, 2))
    return total


@pytest.mark.parametrize("net,side", [("alex", 64), ("vgg", 32)])
def test_lpips_math_equals_direct_reimplementation(net: str, side: int) -> None:
    torch.manual_seed(0)
    model = LPIPS(net)
    for lin in model.lins:  # lpips' linear weights are non-negative
        lin.weight.data.uniform_(0, 0.1)
    x0 = torch.rand(2, 3, side, side + 8) * 2 - 1
    x1 = torch.rand(2, 3, side, side + 8) * 2 - 1
    with torch.no_grad():
        got, want = model(x0, x1), _direct_lpips(model, x0, x1)
        assert torch.allclose(got, want, rtol=1e-5, atol=1e-7)
        assert float(got.min()) > 0
        assert torch.allclose(model(x0, x0), torch.zeros(2), atol=1e-7)  # identical images: 0
        assert torch.allclose(model(x1, x0), got, rtol=1e-5)  # symmetric


def _fake_weight_files(tmp: Path, net: str) -> tuple[Path, Path]:
    """A torchvision-style backbone checkpoint (features.* and classifier.*) and lpips-style
    linear weights (lin{i}.model.1.weight), random, as the real files are laid out."""
    torch.manual_seed(1)
    features = LPIPS(net).features
    backbone = {f"features.{k}": torch.randn_like(v) for k, v in features.state_dict().items()}
    backbone["classifier.1.weight"] = torch.randn(8, 8)
    lin = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate(perceptual.CHANNELS[net])}
    torch.save(backbone, tmp / "backbone.pth")
    torch.save(lin, tmp / "lin.pth")
    return tmp / "backbone.pth", tmp / "lin.pth"


def test_load_lpips_from_local_files(tmp_path: Path) -> None:
    bpath, lpath = _fake_weight_files(tmp_path, "alex")
    model = load_lpips("alex", backbone=bpath, weights=lpath)
    sd_b, sd_l = torch.load(bpath, weights_only=True), torch.load(lpath, weights_only=True)
    assert torch.equal(model.features[3].weight, sd_b["features.3.weight"])
    assert torch.equal(model.lins[2].weight, sd_l["lin2.model.1.weight"])
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    assert model.distance(a, a) == pytest.approx(0.0, abs=1e-7)
    assert model.distance(a, 255 - a) > 0
    with pytest.raises(DancenowError, match="is not vgg backbone weights"):
        load_lpips("vgg", backbone=bpath, weights=lpath)  # alex files do not fit vgg
    with pytest.raises(DancenowError, match="not found"):
        load_lpips("alex", backbone=tmp_path / "nope.pth", weights=lpath)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(DancenowError, match="not a readable"):
        load_lpips("alex", backbone=tmp_path / "junk.pth", weights=lpath)


def test_lpips_unavailable_without_files(tmp_path: Path, monkeypatch, rng) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))  # an empty cache
    with pytest.raises(LpipsUnavailable, match="no alex backbone weights"):
        load_lpips("alex")
    frames = _frames(2, 48, 64, rng)
    report = evaluate_pairs(zip(frames, frames), 25.0, config=EvalConfig(pose=False), progress=False)
    assert report.lpips is None and report.face_lpips is None
    assert "no alex backbone weights" in report.lpips_unavailable
    assert np.isnan(report.per_frame.lpips).all()
    assert report.ssim == pytest.approx(1.0)


def test_evaluation_uses_lpips_when_weights_given(tmp_path: Path, rng) -> None:
    bpath, lpath = _fake_weight_files(tmp_path, "alex")
    frames = _frames(3, 96, 128, rng)
    poses = _person(3, 96, 128, rng)
    gen = _degrade(frames, rng, 10)
    cfg = EvalConfig(lpips_backbone=bpath, lpips_weights=lpath, pose=False, examples=0)
    report = evaluate_pairs(zip(gen, frames), 25.0, poses, cfg, progress=False)
    model = load_lpips("alex", bpath, lpath)
    assert report.lpips_unavailable is None and report.lpips_net == "alex"
    assert report.face_side == 32  # alex's minimum
    assert report.per_frame.lpips[0] == pytest.approx(model.distance(gen[0], frames[0]), rel=1e-6)
    box = face_box(poses.keypoints[1], (96, 128))
    want = model.distance(np.ascontiguousarray(box.crop(gen[1])), np.ascontiguousarray(box.crop(frames[1])))
    assert report.per_frame.face_lpips[1] == pytest.approx(want, rel=1e-6)
    assert report.lpips > 0 and report.face_lpips > 0


# ----------------------------------------------------------------------------- face crop

def test_face_box_follows_face_keypoints(rng) -> None:
    w, h = 1024, 512
    seq = _person(1, w, h, rng, head=(0.4, 0.3))
    kp = seq.keypoints[0]
    box = face_box(kp, (w, h))
    assert (box.width, box.height) == (128, 128)  # the paper's crop at 1024x512
    fx, fy = kp[FACE, 0], kp[FACE, 1]
    cx, cy = 0.5 * (fx.min() + fx.max()), 0.5 * (fy.min() + fy.max())
    assert abs(box.center[0] - cx) <= 1 and abs(box.center[1] - cy) <= 1  # pixels
    moved = kp.copy()
    moved[FACE, 0] += 100
    moved[FACE, 1] -= 40
    b2 = face_box(moved, (w, h))
    assert (b2.x0 - box.x0, b2.y0 - box.y0) == (100, -40)
    # at the border: shifted inside, same size
    edge = kp.copy()
    edge[FACE, 0] -= fx.min() - 2
    b3 = face_box(edge, (w, h))
    assert b3.x0 == 0 and b3.width == 128
    # keypoints of a smaller source frame are scaled to the frame
    half = kp.copy()
    half[:, :2] /= 2
    b4 = face_box(half, (w, h), src_size=(w // 2, h // 2))
    assert abs(b4.center[0] - box.center[0]) <= 1 and abs(b4.center[1] - box.center[1]) <= 1
    # no face points: the body's nose/eyes/ears; nothing at all: None
    body_only = kp.copy()
    body_only[FACE] = 0
    body_only[[Joint.R_EAR, Joint.L_EAR], 2] = 0
    body_only[Joint.NOSE, :2] = (300, 200)
    body_only[Joint.R_EYE, :2] = (290, 190)
    body_only[Joint.L_EYE, :2] = (310, 190)
    assert face_center(body_only) == (300.0, 195.0)
    assert face_box(np.zeros((NUM_JOINTS, 3), np.float32), (w, h)) is None
    assert face_box(kp, (64, 48)).width == 12  # 1/4 of the height


def test_person_box_is_the_body_extent_plus_a_tenth_of_the_height(rng) -> None:
    w, h = 640, 480
    kp = _person(1, w, h, rng).keypoints[0]
    box = person_box(kp, (w, h))
    body = kp[:25]
    bh = 0.5 * (kp[Joint.R_ANKLE, 1] + kp[Joint.L_ANKLE, 1]) - kp[Joint.NOSE, 1]  # nose to ankles
    assert box.x0 == int(np.floor(body[:, 0].min() - 0.1 * bh)) and box.y0 == int(np.floor(body[:, 1].min() - 0.1 * bh))
    assert abs(box.x1 - (body[:, 0].max() + 0.1 * bh)) <= 2 and abs(box.y1 - (body[:, 1].max() + 0.1 * bh)) <= 2  # pixels
    assert person_box(kp, (w, h), margin=0.0).width < box.width
    # clipped to the frame; keypoints of a half-size frame are scaled; nobody: None
    low = kp.copy()
    low[:, 1] += 200
    assert person_box(low, (w, h)).y1 == h
    half = kp.copy()
    half[:, :2] /= 2
    b2 = person_box(half, (w, h), src_size=(w // 2, h // 2))
    assert abs(b2.x0 - box.x0) <= 1 and abs(b2.y1 - box.y1) <= 1
    assert person_box(np.zeros((NUM_JOINTS, 3), np.float32), (w, h)) is None


# ----------------------------------------------------------------------------- pose distance

def test_pose_distance_zero_against_itself_and_exact_for_a_shift(rng) -> None:
    ref = _person(5, 640, 480, rng)
    d0 = pose_distance(ref, ref)
    for name, part in d0.parts.items():
        assert part.mean_px == 0.0 and part.missed_per_image == 0.0 and part.part_missed_rate == 0.0
    assert d0.parts["body"].matched == 5 * 25 and d0.parts["hands"].matched == 5 * 42

    kp = ref.keypoints.copy()
    kp[..., 0] += 3.0
    kp[..., 1] += 4.0  # a 5-pixel shift of every keypoint
    kp[:, 30:40, 2] = 0  # 10 face points lost in every frame
    kp[2, LEFT_HAND, 2] = 0
    kp[2, RIGHT_HAND, 2] = 0  # hands lost in one frame of five
    d = pose_distance(ref.replace(keypoints=kp), ref)
    for name in ("body", "face", "hands"):
        assert d.parts[name].mean_px == pytest.approx(5.0, abs=1e-4)  # pixels
    assert d.parts["face"].missed_per_image == pytest.approx(10.0)
    assert d.parts["face"].matched == 5 * 60
    assert d.parts["hands"].missed_per_image == pytest.approx(42 / 5)
    assert d.parts["hands"].part_missed_rate == pytest.approx(1 / 5)
    assert np.isnan(d.parts["hands"].per_frame_px[2])
    assert d.at_height(512)["body"] == pytest.approx(5.0 * 512 / 480, abs=1e-4)
    json.dumps(d.to_dict())

    # a prediction at half resolution is compared in the reference's pixels
    half = ref.keypoints.copy()
    half[..., :2] /= 2
    dh = pose_distance(PoseSequence(half, 25.0, 320, 240), ref)
    assert dh.parts["body"].mean_px == pytest.approx(0.0, abs=1e-3)
    with pytest.raises(DancenowError, match="as many"):
        pose_distance(ref.slice(0, 4), ref)
    with pytest.raises(DancenowError, match="aspect ratio"):
        pose_distance(PoseSequence(half, 25.0, 320, 320), ref)


def test_pose_distance_from_the_detector_plumbing(monkeypatch, rng) -> None:
    """The generated frames reach the detector in order, and its output is scored."""
    frames = _frames(4, 64, 48, rng)
    ref = _person(4, 64, 48, rng)
    seen = []

    def fake_detect(frames_it, fps, config=None, total=None, progress=True):
        for f in frames_it:
            seen.append(f)
        kp = ref.keypoints.copy()
        kp[..., 0] += 2.0  # the "detector" finds everything 2 px to the right
        return ref.replace(keypoints=kp)

    monkeypatch.setattr(posedist, "detect", fake_detect)
    gen = _degrade(frames, rng, 5)
    report = evaluate_pairs(zip(gen, frames), 25.0, ref, EvalConfig(lpips=False), progress=False)
    assert len(seen) == 4 and all(np.array_equal(a, b) for a, b in zip(seen, gen))
    assert report.pose.parts["body"].mean_px == pytest.approx(2.0, abs=1e-4)
    assert report.pose_unavailable is None


def test_evaluate_real_video_pair_with_detection(shared_data: Path, tmp_path: Path) -> None:
    """The whole path on real frames: reference poses detected, face crop placed from them,
    detector run on the generated (slightly noisy) frames."""
    pytest.importorskip("dancenow.pose")
    real = shared_data / "real"
    a, b = read_image(real / "basketball1.png"), read_image(real / "basketball2.png")  # 640x480
    ref = np.stack([a, b, a])
    gen = np.clip(ref + np.random.default_rng(0).normal(0, 4, ref.shape), 0, 255).astype(np.uint8)
    write_video(tmp_path / "ref.mp4", ref, 10.0)
    write_video(tmp_path / "gen.mp4", gen, 10.0)
    report = evaluate_videos(tmp_path / "gen.mp4", tmp_path / "ref.mp4", config=EvalConfig(lpips=False), progress=False)
    assert report.source["poses"].startswith("detected on")
    assert report.face_frames == 3 and report.face_side == 120  # 480 / 4
    assert 0.8 < report.ssim < 0.99 and 0.8 < report.face_ssim < 0.99
    body = report.pose.parts["body"]
    assert body.matched >= 3 * 15 and body.mean_px < 5.0  # pixels at 640x480: noise barely moves it
    assert body.missed_per_image <= 2.0


# ----------------------------------------------------------------------------- video pairs

@pytest.fixture(scope="module")
def video_pair(tmp_path_factory):
    rng = np.random.default_rng(3)
    d = tmp_path_factory.mktemp("pair")
    ref = _frames(8, 96, 128, rng)
    gen = _degrade(ref, rng, 12)
    write_video(d / "ref.mp4", ref, 25.0)
    write_video(d / "gen.mp4", gen, 25.0)
    return d, _person(8, 96, 128, rng)


def test_evaluate_videos_streams_the_right_numbers(video_pair, tmp_path: Path) -> None:
    d, poses = video_pair
    report = evaluate_videos(d / "gen.mp4", d / "ref.mp4", poses, EvalConfig(lpips=False, pose=False), progress=False)
    gen, ref = read_all(d / "gen.mp4"), read_all(d / "ref.mp4")
    want = [ssim(g, r) for g, r in zip(gen, ref)]
    assert report.frames == 8 and (report.width, report.height) == (96, 128)
    assert np.allclose(report.per_frame.ssim, want, atol=1e-12)
    assert report.ssim == pytest.approx(np.mean(want), abs=1e-12)
    assert report.psnr == pytest.approx(np.mean([psnr(g, r) for g, r in zip(gen, ref)]), abs=1e-9)
    boxes = [face_box(kp, (96, 128)) for kp in poses.keypoints]
    assert report.face_ssim == pytest.approx(np.mean([ssim(b.crop(g), b.crop(r)) for b, g, r in zip(boxes, gen, ref)]), abs=1e-12)
    assert report.face_frames == 8 and report.face_side == 32
    pboxes = [person_box(kp, (96, 128)) for kp in poses.keypoints]
    want_person = [ssim(np.ascontiguousarray(b.crop(g)), np.ascontiguousarray(b.crop(r))) for b, g, r in zip(pboxes, gen, ref)]
    assert report.person_ssim == pytest.approx(np.mean(want_person), abs=1e-12) and report.person_frames == 8
    assert report.worst[0].index == 4 and report.worst[0].ssim == min(want)  # the noisiest frame
    assert report.best[0].ssim == max(want)
    assert report.pose is None and report.pose_unavailable == "not requested"

    paths = write_report(report, tmp_path / "out" / "report.json")
    data = json.loads(paths["json"].read_text())
    assert data["whole_frame"]["ssim"] == pytest.approx(report.ssim)
    assert data["person"]["ssim"] == pytest.approx(report.person_ssim) and data["person"]["frames_with_person"] == 8
    assert len(data["per_frame"]["person_ssim"]) == 8
    assert data["whole_frame"]["lpips"] is None and data["lpips_unavailable"] == "not requested"
    assert len(data["per_frame"]["ssim"]) == 8
    md = paths["markdown"].read_text()
    assert "report_frames.png" in md and "worst frame 4" in md
    grid = read_image(paths["grid"])
    assert grid.shape[0] == 6 * (2 * 128 + 4)  # 3 worst + 3 best rows, enlarged 2x (128 < 192 px)
    assert grid.shape[1] == 2 * 2 * 96 + 4  # reference | generated


def test_evaluate_videos_rejects_bad_pairs(video_pair, tmp_path: Path, rng) -> None:
    d, poses = video_pair
    cfg = EvalConfig(lpips=False, pose=False)
    frames = read_all(d / "ref.mp4")
    write_video(tmp_path / "small.mp4", frames[:, :64], 25.0)
    write_video(tmp_path / "short.mp4", frames[:7], 25.0)
    (tmp_path / "junk.mp4").write_bytes(b"\x00not a video" * 100)
    with pytest.raises(DancenowError, match="96x128 but .*small.mp4 is 96x64"):
        evaluate_videos(d / "ref.mp4", tmp_path / "small.mp4", config=cfg, progress=False)
    with pytest.raises(DancenowError, match="has 7 frames but .*ref.mp4 has 8"):
        evaluate_videos(tmp_path / "short.mp4", d / "ref.mp4", config=cfg, progress=False)
    with pytest.raises(DancenowError, match="junk.mp4 is not a readable video"):
        evaluate_videos(tmp_path / "junk.mp4", d / "ref.mp4", config=cfg, progress=False)
    with pytest.raises(DancenowError, match="file not found"):
        evaluate_videos(tmp_path / "missing.mp4", d / "ref.mp4", config=cfg, progress=False)
    with pytest.raises(DancenowError, match="reference poses have 7 frames but there are more"):
        evaluate_videos(d / "gen.mp4", d / "ref.mp4", poses.slice(0, 7), cfg, progress=False)
    # the exact count check, for streams whose counts cannot be probed
    with pytest.raises(DancenowError, match="has 8 frames but .* has 7"):
        from dancenow.evaluate.pipeline import _video_pairs

        list(_video_pairs(d / "gen.mp4", tmp_path / "short.mp4"))


def test_cli_evaluate_pair(video_pair, tmp_path: Path) -> None:
    from dancenow.cli import main
    from dancenow.posefile import save_poses

    d, poses = video_pair
    save_poses(poses, tmp_path / "poses.npz")
    out = tmp_path / "r.json"
    res = CliRunner().invoke(main, ["evaluate", "--generated", str(d / "gen.mp4"), "--reference", str(d / "ref.mp4"),
                                    "--poses", str(tmp_path / "poses.npz"), "--no-pose", "--no-lpips", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "SSIM" in res.output and "face crop: 32 px" in res.output
    assert json.loads(out.read_text())["face"]["frames_with_face"] == 8
    assert (tmp_path / "r.md").exists() and (tmp_path / "r_frames.png").exists()
    bad = CliRunner().invoke(main, ["evaluate", "--generated", str(d / "gen.mp4"), "--reference", str(tmp_path / "nope.mp4"),
                                    "--no-pose", "-o", str(out)])
    assert bad.exit_code == 1 and "Error: file not found" in bad.output
    usage = CliRunner().invoke(main, ["evaluate", "--generated", str(d / "gen.mp4"), "-o", str(tmp_path / "u.json")])
    assert usage.exit_code == 2 and "both --generated and --reference" in usage.output


# ----------------------------------------------------------------------------- model evaluation

@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A prepared data directory (synthetic frames + poses, 64x64) and an untrained tiny model
    exported as training would (random weights: the numbers are meaningless, the plumbing not)."""
    pytest.importorskip("dancenow.synth.model")
    from dancenow.synth.config import ExemplarConfig, FaceConfig, GeneratorConfig, SynthConfig
    from dancenow.synth.geometry import Crop
    from dancenow.synth.prepare import prepare
    from dancenow.synth.model import export_model
    from dancenow.synth.networks import build_face_generator, build_generator

    rng = np.random.default_rng(5)
    d = tmp_path_factory.mktemp("model")
    frames = _frames(12, 96, 128, rng)
    poses = _person(12, 96, 128, rng)
    data = prepare(iter(frames), d / "data", size=(64, 64), poses=poses, holdout=0.25, progress=False)
    torch.manual_seed(0)
    # whole frames, no exemplars: the model of a moving camera (these frames have no steady room)
    cfg = SynthConfig(image_size=(64, 64), plate=False, exemplar=ExemplarConfig(enabled=False),
                      generator=GeneratorConfig(ngf=8, n_downsample=2, n_blocks=1),
                      face=FaceConfig(enabled=True, crop=16, ngf=8, n_downsample=2, n_blocks=1)).validate()
    face = build_face_generator(cfg)
    for p in face.parameters():  # a residual that is not zero, so the face path shows
        p.data.add_(0.01 * torch.randn_like(p))
    export_model(d / "run", cfg, build_generator(cfg), face, data / "body_stats.json", Crop.load(data / "crop.json"), step=0)
    return d / "run", data


def test_evaluate_model_generates_the_held_out_frames_in_sequence(tiny_model, monkeypatch) -> None:
    from dancenow.evaluate import evaluate_model
    from dancenow.synth.data import SynthData
    from dancenow.synth.model import SynthModel

    run, data_dir = tiny_model
    data, model = SynthData(data_dir), SynthModel.load(run)
    val = data.val
    assert len(val) == 3
    calls = []
    monkeypatch.setattr(posedist, "detect", lambda frames, fps, config=None, total=None, progress=True:
                        calls.append([f.copy() for f in frames]) or PoseSequence(data.keypoints[val.start:], fps, 64, 64))
    report = evaluate_model(run, data_dir, "val", EvalConfig(lpips=False), progress=False)
    # the same frames as generating the split in order from its labels, with temporal conditioning
    want = [g.image for g in model.generate_sequence([np.array(data.labels[t]) for t in val], [data.keypoints[t] for t in val])]
    assert len(calls) == 1 and all(np.array_equal(a, b) for a, b in zip(calls[0], want))
    assert np.allclose(report.per_frame.ssim, [ssim(g, data.frames[t]) for g, t in zip(want, val)], atol=1e-12)
    assert report.frames == 3 and (report.width, report.height) == (64, 64)
    assert report.face_side == 16 and report.face_frames == 3
    assert report.pose.parts["body"].mean_px == 0.0  # the fake detector returns the input poses
    assert report.generation_fps > 0 and report.source["split"] == "val"
    assert report.source["frames"] == [val.start, val.stop]


def test_evaluate_model_rejects_data_of_another_size(tiny_model, tmp_path: Path, rng) -> None:
    from dancenow.evaluate import evaluate_model
    from dancenow.synth.prepare import prepare

    run, _ = tiny_model
    other = prepare(iter(_frames(8, 96, 128, rng)), tmp_path / "d32", size=(32, 32), poses=_person(8, 96, 128, rng),
                    holdout=0.25, progress=False)
    with pytest.raises(DancenowError, match="generates 64x64 frames but .* is prepared at 32x32"):
        evaluate_model(run, other, config=EvalConfig(lpips=False, pose=False), progress=False)
    with pytest.raises(DancenowError, match="unknown split"):
        evaluate_model(run, other, split="test", progress=False)
    with pytest.raises(DancenowError, match="model directory not found"):
        evaluate_model(tmp_path / "none", other, progress=False)


def test_cli_evaluate_model(tiny_model, tmp_path: Path) -> None:
    from dancenow.cli import main

    run, data_dir = tiny_model
    out = tmp_path / "m.json"
    res = CliRunner().invoke(main, ["evaluate", "--model", str(run), "--data", str(data_dir), "--no-pose", "--no-lpips",
                                    "--examples", "1", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "frames/s generated" in res.output
    doc = json.loads(out.read_text())
    assert doc["source"]["split"] == "val" and doc["frames"] == 3 and doc["generation_fps"] > 0
    mixed = CliRunner().invoke(main, ["evaluate", "--model", str(run), "--reference", "x.mp4", "-o", str(out)])
    assert mixed.exit_code == 2 and "either" in mixed.output
