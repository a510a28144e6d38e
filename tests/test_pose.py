"""The pose stage: MediaPipe -> OpenPose conversion, detection and tracking on real photos and
videos, left/right flip repair, gap filling and smoothing.

Detection is slow on a shared CPU, so the real clips are read and detected once per session
(fixtures) and only their first frames are used: 60 of the dance clip, 50 of each Pose2Sim
video (that stretch holds the frames where MediaPipe flips the participant's left and right).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dancenow.errors import DancenowError
from dancenow.images import read_image
from dancenow.pose import PoseConfig, SmoothConfig, detect_frames, detect_image, fill_gaps, smooth_poses
from dancenow.pose.mediapipe_convert import (
    FACE68_FROM_MESH, MPPose, body25_from_pose, face70_from_mesh, hand21_from_mediapipe, to_pixels,
)
from dancenow.pose.smooth import fix_left_right
from dancenow.posefile import _person_array, read_openpose
from dancenow.keypoints import FACE, LEFT_HAND, NUM_JOINTS, RIGHT_HAND, Joint, PoseSequence, body_height
from dancenow.video import read_frames

RAW = PoseConfig(smooth=None)  # detections as found, so the checks see the detector itself
DANCE_FRAMES = 60
P2S_FRAMES = 50
CORE = [Joint.R_SHOULDER, Joint.L_SHOULDER, Joint.R_HIP, Joint.L_HIP]


def _first(path: Path, n: int) -> list[np.ndarray]:
    out = []
    for f in read_frames(path):
        out.append(f)
        if len(out) == n:
            break
    return out


def _core_centre(kp: np.ndarray) -> np.ndarray | None:
    ok = kp[CORE, 2] > 0
    return kp[CORE][ok, :2].mean(0) if ok.sum() >= 2 else None


# ----------------------------------------------------------------------------- conversion (no model)

def test_body25_from_mediapipe_mapping():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 500, (33, 2)).astype(np.float32)
    vis = rng.uniform(0.5, 1.0, 33).astype(np.float32)
    vis[MPPose.LEFT_KNEE] = 0.05  # occluded: below min_visibility
    body = body25_from_pose(xy, vis, min_visibility=0.1)
    assert np.allclose(body[Joint.R_WRIST, :2], xy[MPPose.RIGHT_WRIST])  # the person's right
    assert np.allclose(body[Joint.L_ANKLE, :2], xy[MPPose.LEFT_ANKLE])
    assert np.allclose(body[Joint.R_BIG_TOE, :2], xy[MPPose.RIGHT_FOOT_INDEX])
    neck = 0.5 * (xy[MPPose.LEFT_SHOULDER] + xy[MPPose.RIGHT_SHOULDER])
    assert np.allclose(body[Joint.NECK, :2], neck, atol=1e-4)
    assert body[Joint.NECK, 2] == pytest.approx(min(vis[MPPose.LEFT_SHOULDER], vis[MPPose.RIGHT_SHOULDER]))
    assert np.allclose(body[Joint.MID_HIP, :2], 0.5 * (xy[MPPose.LEFT_HIP] + xy[MPPose.RIGHT_HIP]), atol=1e-4)
    assert (body[Joint.L_KNEE] == 0).all()  # missing is all zero
    assert (body[[Joint.L_SMALL_TOE, Joint.R_SMALL_TOE]] == 0).all()  # MediaPipe has none


def test_pixel_convention_is_pixel_centres():
    # MediaPipe's 0 and 1 are the image edges; pixel centres run from 0 to w - 1
    px = to_pixels(np.array([[0.0, 0.0], [1.0, 1.0]], np.float32), 640, 480)
    assert np.allclose(px, [[-0.5, -0.5], [639.5, 479.5]])


def test_face_map_and_pupils():
    mesh = np.stack([np.arange(478), 1000 + np.arange(478)], 1).astype(np.float32)  # x = vertex index
    face = face70_from_mesh(mesh[:468])
    for i, src in enumerate(FACE68_FROM_MESH):
        assert face[i, 0] == pytest.approx(np.mean(src))
    assert face[8, 0] == 152  # chin
    assert (face[:, 2] == 1.0).all()
    # without iris points the pupils are the eye contour centres; with them, the iris centres
    assert face[68, 0] == pytest.approx(np.mean([33, 160, 158, 133, 153, 144]))
    with_iris = face70_from_mesh(mesh)
    assert (with_iris[68, 0], with_iris[69, 0]) == (468, 473)
    assert len({s for src in FACE68_FROM_MESH for s in src}) >= 68  # no point used for two spots
    hand = hand21_from_mediapipe(np.ones((21, 2), np.float32) * 7, confidence=1.0)
    assert hand.shape == (21, 3) and (hand[:, 2] == 1).all()


# ----------------------------------------------------------------------------- photos

@pytest.fixture(scope="session")
def real(shared_data) -> Path:
    return shared_data / "real"


def test_basketball_anatomy(real):
    seq = detect_image(read_image(real / "basketball1.png"))
    assert len(seq) == 1 and seq.size == (640, 480)
    b = seq.keypoints[0]
    for j in (Joint.NOSE, Joint.R_SHOULDER, Joint.L_SHOULDER, Joint.R_HIP, Joint.L_HIP, Joint.R_ANKLE, Joint.L_ANKLE):
        assert b[j, 2] > 0.3, Joint(j).name
    # pixels, y down: ankles below hips, nose above shoulders
    assert min(b[Joint.R_ANKLE, 1], b[Joint.L_ANKLE, 1]) > max(b[Joint.R_HIP, 1], b[Joint.L_HIP, 1])
    assert b[Joint.NOSE, 1] < min(b[Joint.R_SHOULDER, 1], b[Joint.L_SHOULDER, 1])
    assert (b[FACE, 2] > 0).all()  # the face was found and converted whole


@pytest.mark.parametrize("name", ["COCO_val2014_000000000428.jpg", "COCO_val2014_000000000459.jpg"])
def test_face_points_in_anatomical_order(real, name):
    """The 468 -> 70 map on real frontal faces: the jaw runs left to right in the image (the
    person's right first), the chin is its lowest point, the eyes sit right/left, the pupils
    inside their eyes, the nose tip between the eyes and the mouth."""
    face = detect_image(read_image(real / "coco" / name)).keypoints[0, FACE]
    assert (face[:, 2] > 0).all()
    x, y = face[:, 0], face[:, 1]
    assert (np.diff(x[:17]) > 0).all()
    assert int(np.argmax(y[:17])) == 8
    assert x[36:42].mean() < x[42:48].mean()  # the person's right eye is on the image left
    for pupil, eye in ((68, slice(36, 42)), (69, slice(42, 48))):
        assert x[eye].min() < x[pupil] < x[eye].max()
    assert y[36:48].mean() < y[30] < y[51] < y[57]  # eyes, nose tip, upper lip, lower lip


def test_hands_belong_to_their_wrists(real):
    kp = detect_image(read_image(real / "messi5.jpg")).keypoints[0]
    for hand, wrist in ((LEFT_HAND, Joint.L_WRIST), (RIGHT_HAND, Joint.R_WRIST)):
        assert (kp[hand, 2] > 0).all()
        # the hand's own wrist point sits on the body's wrist of the same side (pixels)
        assert np.hypot(*(kp[hand][0, :2] - kp[wrist, :2])) < 15


def test_photo_without_a_person_is_all_missing(real):
    import cv2

    street = next(iter(read_frames(real / "openpose_dance_street.avi")))
    empty_road = cv2.GaussianBlur(np.ascontiguousarray(street[480:720, 0:640]), (0, 0), 3)  # asphalt only
    plain = np.full((360, 480, 3), (90, 120, 150), np.uint8)
    for img in (empty_road, plain):
        seq = detect_image(img)
        assert len(seq) == 1 and (seq.keypoints == 0).all()


def test_frames_without_a_person_are_missing_not_errors(real):
    photo = read_image(real / "basketball1.png")
    blank = np.zeros_like(photo)
    seq = detect_frames([blank, photo, photo, blank], fps=25, config=RAW, progress=False)
    has = seq.present[:, :25].any(1)
    assert has.tolist() == [False, True, True, False]
    assert (seq.keypoints[[0, 3]] == 0).all()


def test_bad_config_and_input():
    with pytest.raises(DancenowError, match=r"pose_landmark_lite\.tflite.*@mediapipe/pose"):
        detect_image(np.zeros((64, 64, 3), np.uint8), PoseConfig(model_complexity=0))
    with pytest.raises(DancenowError, match=r"pose_landmark_heavy\.tflite"):
        detect_image(np.zeros((64, 64, 3), np.uint8), PoseConfig(model_complexity=2))
    with pytest.raises(DancenowError, match="no frames"):
        detect_frames([], fps=30, progress=False)
    with pytest.raises(DancenowError, match="the first was"):
        detect_frames([np.zeros((64, 64, 3), np.uint8), np.zeros((32, 64, 3), np.uint8)], fps=30, progress=False)


# ----------------------------------------------------------------------------- the dance clip

# The couple (both dancers together, head to feet) in openpose_dance_street.avi, annotated by eye
# every 20 frames as (x0, y0, x1, y1) pixels of the 1280x720 frame; the camera pans slowly, so
# linear interpolation between key frames is good to about 20 px.
COUPLE = {0: (555, 25, 710, 395), 20: (625, 135, 780, 495), 40: (635, 115, 785, 480),
          60: (635, 165, 780, 530), 80: (620, 135, 770, 510), 100: (635, 115, 800, 505),
          120: (645, 175, 845, 600), 140: (600, 125, 870, 585), 160: (585, 120, 815, 605),
          180: (610, 130, 895, 630), 200: (630, 80, 1080, 615)}


def _couple_box(t: int) -> np.ndarray:
    keys = np.array(sorted(COUPLE))
    vals = np.array([COUPLE[k] for k in keys], float)
    return np.array([np.interp(t, keys, vals[:, i]) for i in range(4)])


@pytest.fixture(scope="session")
def dance(real):
    frames = _first(real / "openpose_dance_street.avi", DANCE_FRAMES)
    return detect_frames(frames, 50.0, RAW, progress=False)


def test_dance_tracks_one_of_the_couple(dance):
    """Among bystanders, the tracked person's torso stays on the couple (>= 90% of frames, and
    never off it by more than 60 px: no jump to a bystander)."""
    on, far = 0, []
    for t, kp in enumerate(dance.keypoints):
        c = _core_centre(kp)
        if c is None:
            continue
        x0, y0, x1, y1 = _couple_box(t)
        dx = max(x0 - c[0], 0, c[0] - x1)
        dy = max(y0 - c[1], 0, c[1] - y1)
        on += dx <= 20 and dy <= 20
        if max(dx, dy) > 60:
            far.append(t)
    assert on / len(dance) >= 0.9
    assert far == []


# ----------------------------------------------------------------------------- Pose2Sim: peer check

@pytest.fixture(scope="session")
def pose2sim(shared_data):
    return shared_data / "openpose" / "pose2sim_balancing_body25b"


@pytest.fixture(scope="session")
def p2s_frames(pose2sim):
    return {cam: _first(pose2sim / f"{cam}.mp4", P2S_FRAMES) for cam in ("cam01", "cam02")}


def _openpose_people(folder: Path, n: int) -> list[list[np.ndarray]]:
    """Every person OpenPose found in each of the first n frames, mapped to BODY_25."""
    files = sorted(folder.glob("*.json"))[:n]
    return [[_person_array(p, str(f), "BODY_25B")[:25] for p in json.loads(f.read_text())["people"]] for f in files]


# Where the bystander behind the participant stands (x range of her keypoints' centre, pixels);
# the participant stays at x = 400..650 (cam01) and 490..580 (cam02) in these frames.
BYSTANDER_X = {"cam01": (0, 200), "cam02": (750, 1080)}


@pytest.mark.parametrize("cam", ["cam01", "cam02"])
def test_agrees_with_openpose_and_never_on_the_bystander(pose2sim, p2s_frames, cam):
    ours = detect_frames(p2s_frames[cam], 60.0, RAW, progress=False)
    ref = read_openpose(pose2sim / f"{cam}_json", fps=60, size=(1080, 1920)).slice(0, P2S_FRAMES)
    body, refb = ours.keypoints[:, :25], ref.keypoints[:, :25]
    both = (body[..., 2] > 0) & (refb[..., 2] > 0)
    assert both.any(1).all()  # the participant in every frame
    dist = np.linalg.norm(body[..., :2] - refb[..., :2], axis=-1)  # (T, 25) pixels
    height = float(np.nanmedian(body_height(ref.keypoints)))
    assert np.median(dist[both]) < 0.04 * height  # measured: about 2.5% (cam01), 3% (cam02)
    # never on the bystander: in every frame where OpenPose sees her, our torso centre is far
    # outside her box (pixels)
    seen = 0
    for t, people in enumerate(_openpose_people(pose2sim / f"{cam}_json", P2S_FRAMES)):
        ours_c = _core_centre(ours.keypoints[t])
        for p in people:
            okp = p[:, 2] > 0
            if okp.sum() < 5 or not BYSTANDER_X[cam][0] <= p[okp, 0].mean() <= BYSTANDER_X[cam][1]:
                continue
            seen += 1
            x0, y0 = p[okp, :2].min(0)
            x1, y1 = p[okp, :2].max(0)
            assert not (x0 - 50 <= ours_c[0] <= x1 + 50 and y0 - 50 <= ours_c[1] <= y1 + 50), t
    assert seen >= 0.9 * P2S_FRAMES  # she is there throughout


def test_person_point_follows_the_bystander(p2s_frames):
    """--person on the bystander behind (cam01, at about x=61, y=525): we follow her, never the
    larger participant in front."""
    frames = p2s_frames["cam01"][:20]
    seq = detect_frames(frames, 60.0, PoseConfig(smooth=None, person=(61, 525)), progress=False)
    centres = [_core_centre(kp) for kp in seq.keypoints]
    found = [c for c in centres if c is not None]
    assert len(found) >= 0.9 * len(frames)
    assert all(abs(c[0] - 61) < 60 for c in found)  # the participant is at x = 400..650


def test_person_point_on_nobody_fails_clearly():
    frames = [np.full((120, 160, 3), 100, np.uint8)] * 20  # it looks for one second (10 frames)
    with pytest.raises(DancenowError, match="no person found at"):
        detect_frames(frames, 10.0, PoseConfig(person=(80, 60)), progress=False)


# ----------------------------------------------------------------------------- left/right flips

def test_fix_left_right_undoes_a_flipped_stretch():
    rng = np.random.default_rng(3)
    t = np.arange(60)
    kp = np.zeros((60, NUM_JOINTS, 3), np.float32)
    base = {Joint.NOSE: (300, 100), Joint.R_SHOULDER: (260, 160), Joint.L_SHOULDER: (340, 160),
            Joint.R_WRIST: (200, 260), Joint.L_WRIST: (400, 260), Joint.R_HIP: (275, 300),
            Joint.L_HIP: (325, 300), Joint.R_ANKLE: (260, 500), Joint.L_ANKLE: (340, 500)}
    for j, (x, y) in base.items():
        kp[:, j] = np.stack([x + 2 * np.sin(t / 5) + rng.normal(0, 1, 60), y + rng.normal(0, 1, 60), np.ones(60)], 1)
    kp[:, LEFT_HAND] = kp[:, [Joint.L_WRIST]] + [5, 5, 0]
    clean = PoseSequence(kp, 30, 640, 640)
    flipped = kp.copy()
    pairs = [(Joint.R_SHOULDER, Joint.L_SHOULDER), (Joint.R_WRIST, Joint.L_WRIST),
             (Joint.R_HIP, Joint.L_HIP), (Joint.R_ANKLE, Joint.L_ANKLE)]
    for a, b in pairs:
        flipped[20:32, [a, b]] = flipped[20:32, [b, a]]
    flipped[20:32, LEFT_HAND], flipped[20:32, RIGHT_HAND] = kp[20:32, RIGHT_HAND], kp[20:32, LEFT_HAND]
    fixed = fix_left_right(PoseSequence(flipped, 30, 640, 640))
    assert np.allclose(fixed.keypoints, clean.keypoints)
    # an unflipped sequence is left exactly as it is
    assert np.array_equal(fix_left_right(clean).keypoints, clean.keypoints)


# ----------------------------------------------------------------------------- gaps and smoothing

def _one_joint(x: np.ndarray, fps: float = 50.0, h: float = 400.0) -> PoseSequence:
    """A sequence whose nose moves along x (pixels); still ankles give a body height of h."""
    kp = np.zeros((len(x), NUM_JOINTS, 3), np.float32)
    kp[:, Joint.NOSE] = np.stack([x, np.full_like(x, 100), np.ones_like(x)], 1)
    kp[:, [Joint.R_ANKLE, Joint.L_ANKLE]] = [[600, 100 + h, 1], [620, 100 + h, 1]]
    return PoseSequence(kp, fps, 1280, 720)


def test_fill_gaps_short_only():
    x = np.arange(20, dtype=np.float32) * 10 + 100
    kp = _one_joint(x).keypoints.copy()
    kp[5:8, Joint.NOSE] = 0  # 3 missing frames: filled
    kp[10:17, Joint.NOSE] = 0  # 7 missing frames: left
    kp[0:2, Joint.NOSE] = 0  # at the start: nothing to interpolate from
    kp[4, Joint.NOSE, 2], kp[8, Joint.NOSE, 2] = 0.9, 0.6
    out = fill_gaps(PoseSequence(kp, 50, 1280, 720), max_gap=5).keypoints[:, Joint.NOSE]
    assert np.allclose(out[5:8, 0], x[5:8], atol=1e-3)  # linear motion is restored exactly (px)
    assert np.allclose(out[5:8, 2], 0.6)  # the weaker end's confidence
    assert (out[10:17] == 0).all() and (out[0:2] == 0).all()


@pytest.mark.parametrize("method", ["savgol", "one_euro"])
def test_smoothing_lowers_jitter_and_keeps_fast_moves(method):
    """Dance-like motion (sums of 0.3-3 Hz sines, 0.3 body heights) plus 1%-of-height noise:
    smoothing must cut frame-to-frame jitter and get closer to the clean motion; a fast move
    (half a body height in 0.1 s) must not lag."""
    rng = np.random.default_rng(0)
    fps, h, n = 50.0, 400.0, 300
    t = np.arange(n) / fps
    clean = 640 + sum(a * h * np.sin(2 * np.pi * f * t + p)
                      for a, f, p in ((0.15, 0.3, 0.0), (0.1, 1.1, 1.0), (0.05, 3.0, 2.0)))
    noisy = clean + rng.normal(0, 0.01 * h, n)
    cfg = SmoothConfig(method=method)
    out = smooth_poses(_one_joint(noisy.astype(np.float32), fps, h), cfg).keypoints[:, Joint.NOSE, 0]
    jitter = lambda v: np.abs(np.diff(v, 2)).mean()  # noqa: E731  (px per frame^2)
    rmse = lambda v: np.sqrt(((v - clean) ** 2).mean())  # noqa: E731  (px)
    assert jitter(out) < 0.5 * jitter(noisy)
    # measured: Savitzky-Golay 0.24x jitter, 0.51x error; One Euro 0.40x, 0.83x
    assert rmse(out) < (0.65 if method == "savgol" else 0.9) * rmse(noisy)
    assert rmse(out) < 0.01 * h  # under 1% of body height (4 px)
    step = 640 + 0.5 * h / (1 + np.exp(-(np.arange(100) - 50) / 2.0))  # 0.5 h in ~0.1 s
    moved = smooth_poses(_one_joint(step.astype(np.float32), fps, h), cfg).keypoints[:, Joint.NOSE, 0]
    assert np.abs(moved - step).max() < 0.01 * h  # no lag: within 4 px of the move throughout


def test_smoothing_respects_gaps_and_missing():
    x = np.linspace(100, 300, 40).astype(np.float32)
    kp = _one_joint(x).keypoints.copy()
    kp[15:30, Joint.NOSE] = 0  # a long gap stays a gap
    out = smooth_poses(PoseSequence(kp, 50, 1280, 720), SmoothConfig(max_gap=5)).keypoints
    assert (out[15:30, Joint.NOSE] == 0).all()
    assert (out[:, Joint.R_ELBOW] == 0).all()  # never detected: still missing
    assert np.allclose(out[:15, Joint.NOSE, 0], x[:15], atol=0.5)  # a straight line stays put (px)
