"""The dance coach: features, DTW alignment, scores, tips, report and `coach dance`.

Most cases use a self-made parametric stick figure (`_figure`): a dance is nine joint-angle
curves (smooth random sinusoids per seed), posed by 2D forward kinematics on a body whose
bone lengths, size and place in the frame are parameters, plus detector-like pixel noise. So
every answer is known: the angles, a delay, an injected elbow error. The body-shape case is
also run on the synthetic dance world (`dancenow.world`, 3D skeletons seen by a camera)
when that package provides `generate_dance`, `perform` and `ACTORS`.
Runtime budget: under 30 s for the whole file.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from dancenow.coach import ANGLE_NAMES, CoachConfig, coach, dtw, pose_features, resample, write_report
from dancenow.errors import DancenowError
from dancenow.posefile import read_openpose, save_poses
from dancenow.keypoints import NUM_JOINTS, Joint, PoseSequence

FPS = 30.0
FRAME = 1.0 / FPS  # one frame, seconds
J = Joint
KEYS = ("r_sh", "r_el", "l_sh", "l_el", "r_hip", "r_kn", "l_hip", "l_kn", "lean")  # the order of ANGLE_NAMES


# ----------------------------------------------------------------------------- a parametric stick figure

def _dance(seed: int, t: np.ndarray) -> dict[str, np.ndarray]:
    """Nine joint-angle curves in degrees (same conventions as `coach.features`): a seeded
    base pose plus three sinusoids per joint (0.2-1 Hz)."""
    rng = np.random.default_rng(seed)
    base = dict(r_sh=(10, 110), r_el=(0, 80), l_sh=(10, 110), l_el=(0, 80), r_hip=(0, 20), r_kn=(0, 35),
                l_hip=(0, 20), l_kn=(0, 35), lean=(-8, 8))
    amp = dict(r_sh=70, r_el=60, l_sh=70, l_el=60, r_hip=18, r_kn=30, l_hip=18, l_kn=30, lean=10)
    out = {}
    for k in KEYS:
        v = np.full(t.shape, rng.uniform(*base[k]))
        for _ in range(3):
            v = v + rng.uniform(0.3, 1.0) * amp[k] / 2 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t + rng.uniform(0, 2 * np.pi))
        out[k] = v
    return out


def _turn(u: np.ndarray, deg: np.ndarray, side: int) -> np.ndarray:
    """Rotate directions u (T, 2), image coordinates, by deg "outward" for the given side."""
    c, s = np.cos(np.radians(deg))[:, None], np.sin(np.radians(deg))[:, None]
    r = np.stack([-u[:, 1], u[:, 0]], -1) if side > 0 else np.stack([u[:, 1], -u[:, 0]], -1)
    return u * c + r * s


DEFAULT_SHAPE = dict(torso=1.0, upper=0.6, fore=0.55, thigh=0.9, shank=0.85, shoulder=0.35, hip=0.18, head=0.35,
                     cx=320.0, ground=440.0, px=110.0)


def _figure(ang: dict[str, np.ndarray], shape: dict | None = None, noise_px: float = 1.0, seed: int = 0,
            fps: float = FPS) -> PoseSequence:
    """Pose a facing-camera stick figure with the given angles (BODY_25 in a 640x480 frame;
    face and hands missing). Optional `r_fore_len`/`l_fore_len` in `ang`: per-frame forearm
    length factors (a forearm turned toward the camera). shape: bone lengths (torso units),
    `px` pixels per unit, `cx` and `ground` its place. noise_px: Gaussian pixel noise."""
    sh = dict(DEFAULT_SHAPE, **(shape or {}))
    lean = np.radians(ang["lean"])
    up = np.stack([np.sin(lean), -np.cos(lean)], -1)  # image coordinates, y down
    down = -up
    perp = {+1: np.stack([-np.cos(lean), -np.sin(lean)], -1), -1: np.stack([np.cos(lean), np.sin(lean)], -1)}
    P = np.zeros((len(lean), 25, 2))
    P[:, J.NECK] = sh["torso"] * up
    P[:, J.NOSE] = P[:, J.NECK] + sh["head"] * up
    sides = {+1: (J.R_SHOULDER, J.R_ELBOW, J.R_WRIST, J.R_HIP, J.R_KNEE, J.R_ANKLE, "r"),
             -1: (J.L_SHOULDER, J.L_ELBOW, J.L_WRIST, J.L_HIP, J.L_KNEE, J.L_ANKLE, "l")}
    for side, (S, E, W, H, K, A, pre) in sides.items():
        P[:, S] = P[:, J.NECK] + sh["shoulder"] * perp[side]
        th = np.radians(ang[pre + "_sh"])[:, None]
        arm = down * np.cos(th) + perp[side] * np.sin(th)
        P[:, E] = P[:, S] + sh["upper"] * arm
        fore = sh["fore"] * np.broadcast_to(ang.get(pre + "_fore_len", 1.0), lean.shape)[:, None]
        P[:, W] = P[:, E] + fore * _turn(arm, ang[pre + "_el"], side)
        P[:, H] = sh["hip"] * perp[side]
        th = np.radians(ang[pre + "_hip"])[:, None]
        thigh = down * np.cos(th) + perp[side] * np.sin(th)
        P[:, K] = P[:, H] + sh["thigh"] * thigh
        P[:, A] = P[:, K] + sh["shank"] * _turn(thigh, ang[pre + "_kn"], side)
    for eye, ear, side in ((J.R_EYE, J.R_EAR, 1), (J.L_EYE, J.L_EAR, -1)):
        P[:, eye] = P[:, J.NOSE] + 0.06 * perp[side] + 0.05 * up
        P[:, ear] = P[:, J.NOSE] + 0.12 * perp[side]
    for toe, small, heel, ank in ((J.L_BIG_TOE, J.L_SMALL_TOE, J.L_HEEL, J.L_ANKLE), (J.R_BIG_TOE, J.R_SMALL_TOE, J.R_HEEL, J.R_ANKLE)):
        P[:, toe], P[:, small], P[:, heel] = P[:, ank] + [0, 0.1], P[:, ank] + [0.05, 0.1], P[:, ank] + [0, 0.05]
    foot = np.maximum(P[:, J.R_ANKLE, 1], P[:, J.L_ANKLE, 1])
    xy = P * sh["px"]
    xy[..., 0] += sh["cx"]
    xy[..., 1] += sh["ground"] - foot[:, None] * sh["px"]  # the lower foot on the ground
    if noise_px:
        xy = xy + np.random.default_rng(seed).normal(0, noise_px, xy.shape)
    kp = np.zeros((len(lean), NUM_JOINTS, 3), np.float32)
    kp[:, :25, :2] = xy
    kp[:, :25, 2] = 0.9
    return PoseSequence(kp, fps, 640, 480)


def _times(seconds: float, fps: float = FPS) -> np.ndarray:
    return np.arange(int(round(seconds * fps))) / fps


OTHER_BODY = dict(torso=1.2, upper=0.5, fore=0.48, thigh=1.1, shank=1.0, shoulder=0.45, hip=0.26, head=0.3,
                  cx=230.0, ground=410.0, px=80.0)  # stockier, smaller in frame, off-centre


@pytest.fixture(scope="module")
def ref() -> PoseSequence:
    return _figure(_dance(1, _times(12)), seed=1)


# ----------------------------------------------------------------------------- features and DTW

def test_features_measure_the_posed_angles_and_ignore_body_size():
    t = _times(3)
    ang = _dance(3, t)
    a = pose_features(_figure(ang, noise_px=0))
    b = pose_features(_figure(ang, OTHER_BODY, noise_px=0))
    truth = np.stack([ang[k] for k in KEYS], 1)
    assert list(ANGLE_NAMES) == ["right_shoulder", "right_elbow", "left_shoulder", "left_elbow", "right_hip",
                                 "right_knee", "left_hip", "left_knee", "trunk_lean"]
    err = (a.angles - truth + 180) % 360 - 180
    assert np.abs(err).max() < 0.01  # degrees
    assert np.abs(a.angles - b.angles).max() < 0.01  # degrees: body shape does not change an angle
    # body frame: mid-hip at the origin, the neck one torso length away (a rolling median, so ~1)
    assert np.abs(a.positions[:, J.MID_HIP]).max() < 1e-5
    assert np.abs(np.linalg.norm(b.positions[:, J.NECK], axis=-1) - 1).max() < 0.05  # torso units


def test_dtw_equals_brute_force_and_respects_the_band(rng):
    for trial in range(12):
        n, m = rng.integers(2, 25, 2)
        C = rng.random((n, m))
        for pattern, wd in (("symmetric1", 1.0), ("symmetric2", 2.0)):
            p = 0.05 * (trial % 2)
            path, dist = dtw(lambda i, lo, hi: C[i, lo:hi + 1], n, m, None, pattern, p)
            D = np.full((n + 1, m + 1), np.inf)
            for i in range(n):
                for j in range(m):
                    c = C[i, j]
                    cands = [wd * c] if i == j == 0 else []
                    cands += [D[i, j] + wd * c, D[i, j + 1] + c + p, D[i + 1, j] + c + p]  # diag, vertical, horizontal
                    D[i + 1, j + 1] = min(cands)
            norm = n + m if pattern == "symmetric2" else len(path)
            assert dist == pytest.approx(D[n, m] / norm, rel=1e-9)
            assert tuple(path[0]) == (0, 0) and tuple(path[-1]) == (n - 1, m - 1)
            steps = np.diff(path, axis=0)
            assert ((steps >= 0) & (steps <= 1)).all() and (steps.sum(1) >= 1).all()
    C = rng.random((60, 80))
    path, _ = dtw(lambda i, lo, hi: C[i, lo:hi + 1], 60, 80, band=3)
    assert np.abs(path[:, 1] - path[:, 0] * 79 / 59).max() <= 4  # frames: inside the band (+ rounding)


def test_resample_keeps_time():
    seq = _figure(_dance(4, _times(2, 25)), noise_px=0, fps=25)
    out = resample(seq, 30)
    assert len(out) == 60 and out.fps == 30
    # frame 6 at 30 fps is t = 0.2 s = frame 5 at 25 fps
    assert np.abs(out.keypoints[6, :25, :2] - seq.keypoints[5, :25, :2]).max() < 1e-3  # pixels


# ----------------------------------------------------------------------------- the done-when cases

def test_identical_attempt_scores_100(ref):
    r = coach(ref, ref)
    assert r.score == 100.0
    assert all(v == 100.0 for v in r.part_scores.values())
    assert r.median_offset_s == 0.0 and np.abs(r.offset_s).max() == 0.0
    assert r.worst_moments == () and [t for t in r.tips if t.kind == "pose"] == []


def test_half_second_delay_scores_above_95_and_reports_the_offset(ref):
    # the learner starts 0.5 s late: the same dance clock shifted, a fresh noise draw
    t = _times(12.5) - 0.5
    att = _figure(_dance(1, t), seed=2)
    r = coach(ref, att)
    assert r.score > 95
    assert abs(r.median_offset_s - 0.5) <= FRAME
    inner = (r.times_s > 1) & (r.times_s < 11)
    assert np.abs(r.offset_s[inner] - 0.5).max() <= FRAME
    assert all(abs(s.offset_s - 0.5) < 0.05 for s in r.sections)  # seconds
    assert any(t.kind == "timing" and "0.5 s behind" in t.text for t in r.tips)


def test_a_30_degree_elbow_error_is_found_at_the_right_joint_time_and_size(ref):
    t = _times(12)
    ang = _dance(1, t)
    window = (t >= 5.0) & (t < 6.0)
    ang["l_el"] = ang["l_el"] + 30.0 * window  # the learner bends the left elbow 30 degrees more
    r = coach(ref, _figure(ang, seed=3))
    pose_tips = [tip for tip in r.tips if tip.kind == "pose"]
    assert len(pose_tips) == 1, [tip.text for tip in r.tips]
    tip = pose_tips[0]
    assert tip.joint == "left_elbow" and tip.learner_joint == "left_elbow"
    assert abs(tip.start_s - 5.0) <= 0.2 and abs(tip.end_s - 6.0) <= 0.2  # seconds
    assert tip.delta_deg == pytest.approx(-30.0, abs=3.0)  # degrees, reference minus attempt
    assert "straighten your left elbow about 30 degrees" in tip.text.lower() and "0:05" in tip.text
    worst = r.worst_moments[0]
    assert 5.0 <= worst.reference_time_s < 6.0
    assert worst.errors[0].joint == "left_elbow" and worst.errors[0].error_deg == pytest.approx(-30, abs=5)
    assert [e.joint for e in worst.errors if e.differs] == ["left_elbow"]
    assert min(r.joint_scores, key=r.joint_scores.get) == "left_elbow"
    assert min(r.part_scores, key=r.part_scores.get) == "left_arm"
    # the error lowers the score only where it happens
    assert np.nanmin(r.frame_scores[(r.times_s >= 5.2) & (r.times_s < 5.8)]) < 95
    assert np.nanmin(r.frame_scores[(r.times_s < 4.5) | (r.times_s > 6.5)]) > 99


def test_a_forearm_pointing_at_the_camera_is_judged_by_depth_not_by_its_noisy_angle(ref):
    # 7-8 s: the learner's left forearm points at the camera (10% of its length in the picture,
    # its 2D direction off by 150 degrees: what a detector makes of an end-on forearm)
    t = _times(12)
    ang = _dance(1, t)
    window = (t >= 7.0) & (t < 8.0)
    ang["l_fore_len"] = np.where(window, 0.1, 1.0)
    ang["l_el"] = ang["l_el"] + 150.0 * window
    r = coach(ref, _figure(ang, seed=9))
    k = ANGLE_NAMES.index("left_elbow")
    inside = (r.times_s >= 7.2) & (r.times_s < 7.8)
    assert np.isnan(r.joint_errors[inside, k]).all()  # no angle compared for an end-on forearm
    assert (r.depth_errors[inside, k] < -45).all()  # degrees: the attempt turns it far out of the picture
    tips = [tip for tip in r.tips if tip.kind == "pose"]
    assert [(tip.joint, tip.measure) for tip in tips] == [("left_elbow", "depth")], [tip.text for tip in tips]
    assert abs(tips[0].start_s - 7.0) <= 0.2 and "keep your left arm more in line with the picture" in tips[0].text.lower()
    assert r.worst_moments[0].errors[0].measure == "depth"


def test_another_dance_scores_clearly_lower_than_another_body_shape(ref):
    """Self-made body-shape variant (the stick figure); see the synthetic-world test below."""
    t = _times(12)
    same_dance = coach(ref, _figure(_dance(1, t), OTHER_BODY, noise_px=1.5, seed=4))
    other_dance = coach(ref, _figure(_dance(2, t), seed=5))
    assert same_dance.score > 95
    assert other_dance.score < same_dance.score - 25, (other_dance.score, same_dance.score)


def _synthetic_api():
    synthetic = pytest.importorskip("dancenow.world")
    if not all(hasattr(synthetic, n) for n in ("generate_dance", "perform", "ACTORS")):
        pytest.skip("dancenow.world does not provide generate_dance, perform and ACTORS yet")
    return synthetic


@pytest.mark.parametrize("seed", [21, 31])
def test_synthetic_world_other_dance_scores_clearly_lower_than_other_body(seed):
    """The synthetic dance world: 3D skeletons of different proportions, placed and filmed
    differently, so 2D angles of the same dance differ a little (perspective); both dances
    are chained from the same move library."""
    syn = _synthetic_api()
    names = sorted(syn.ACTORS)
    dance = syn.generate_dance(seed=seed, seconds=12, fps=FPS)
    other = syn.generate_dance(seed=seed + 1, seconds=12, fps=FPS)
    ref = syn.perform(syn.ACTORS[names[0]], dance, size=(256, 256)).poses
    same = syn.perform(syn.ACTORS[names[1]], dance, size=(256, 256)).poses
    diff = syn.perform(syn.ACTORS[names[0]], other, size=(256, 256)).poses
    s_same, s_diff = coach(ref, same).score, coach(ref, diff).score
    assert s_same > 90, s_same
    assert s_diff < s_same - 20, (s_diff, s_same)


# ----------------------------------------------------------------------------- mirror, left/right, fps

def test_mirror_mode_and_left_right_invariance(ref):
    # a learner facing a screen: their video is the mirror image of the reference
    att = ref.mirrored()
    assert coach(ref, att, CoachConfig(mirror=True)).score == pytest.approx(100.0, abs=1e-6)
    plain = coach(ref, att)
    assert plain.score < 90
    lr = coach(ref, att, CoachConfig(lr_invariant=True))
    assert lr.score > 99 and lr.swapped.mean() > 0.9

    # in mirror mode, the learner's right elbow copies the reference's left: tips say "right"
    t = _times(12)
    ang = _dance(1, t)
    ang["l_el"] = ang["l_el"] + 30.0 * ((t >= 5.0) & (t < 6.0))
    r = coach(ref, _figure(ang, seed=3).mirrored(), CoachConfig(mirror=True))
    tip = [tip for tip in r.tips if tip.kind == "pose"][0]
    assert (tip.joint, tip.learner_joint) == ("left_elbow", "right_elbow")
    assert "your right elbow" in tip.text


def test_attempt_at_another_frame_rate(ref):
    att = _figure(_dance(1, _times(12, 25)), fps=25, seed=6)
    r = coach(ref, att)
    assert r.fps == FPS and r.attempt_source_fps == 25
    assert r.score > 95 and abs(r.median_offset_s) <= FRAME


def test_bad_inputs_raise_one_line_errors(ref):
    with pytest.raises(DancenowError, match="at least 2 frames"):
        coach(ref, ref.slice(0, 1))
    with pytest.raises(DancenowError, match="attempt: .*no body keypoint"):
        coach(ref, PoseSequence.empty(20, FPS, 640, 480))
    with pytest.raises(DancenowError, match="joint_weights"):
        CoachConfig(joint_weights={"left_toe": 2.0})


# ----------------------------------------------------------------------------- report and CLI

def _video_frames(seq: PoseSequence, color):
    """Stand-in video frames, lazily, at half the pose frame size (the report scales the
    keypoints to the frame): a flat colour with a bright square at the mid-hip."""
    for kp in seq.keypoints:
        f = np.zeros((seq.height // 2, seq.width // 2, 3), np.uint8)
        f[:] = color
        x, y = (int(v / 2) for v in kp[J.MID_HIP, :2])
        f[max(0, y - 3):y + 3, max(0, x - 3):x + 3] = 255
        yield f


def test_report_html_and_json(tmp_path):
    t = _times(6)
    ref = _figure(_dance(1, t), seed=1)
    ang = _dance(1, t)
    ang["r_sh"] = ang["r_sh"] - 35.0 * ((t >= 2.0) & (t < 3.0))
    att = _figure(ang, OTHER_BODY, seed=7)
    r = coach(ref, att)
    out = tmp_path / "report"
    (out).mkdir()
    (out / "keep.txt").write_text("mine")  # the report must not wipe the folder
    path = write_report(r, out, reference_video=_video_frames(ref, (40, 90, 40)), attempt_video=_video_frames(att, (90, 40, 40)))
    page = path.read_text()
    assert path.name == "report.html" and (out / "keep.txt").read_text() == "mine"
    n_images = page.count('src="data:image/png;base64,')
    assert n_images == 1 + 2 * len(r.worst_moments) and len(r.worst_moments) >= 1
    assert "raise your right arm about 35 degrees higher at 0:02" in page.lower()
    assert "http://" not in page and "https://" not in page  # opens offline
    data = json.loads((out / "report.json").read_text())
    assert data["score"] == pytest.approx(r.score, abs=0.05)
    assert len(data["timeline"]["score"]) == len(r.frame_scores)
    assert data["tips"][0]["joint"] == "right_shoulder"
    # stick figures when there is no video
    write_report(r, tmp_path / "plain")
    assert (tmp_path / "plain" / "report.html").read_text().count("data:image/png;base64,") == n_images


def test_cli_coach(tmp_path, ref):
    from dancenow.cli import main

    ang = _dance(1, _times(12.5) - 0.5)
    save_poses(ref, tmp_path / "ref.npz")
    save_poses(_figure(ang, seed=8), tmp_path / "att.npz")
    res = CliRunner().invoke(main, ["coach", "dance", str(tmp_path / "ref.npz"), str(tmp_path / "att.npz"), "-o", str(tmp_path / "rep"),
                                    "--sections", "0,4,8"])
    assert res.exit_code == 0, res.output
    assert "score" in res.output and (tmp_path / "rep" / "report.html").is_file()
    data = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert [s["start_s"] for s in data["sections"]] == [0, 4, 8]
    assert abs(data["median_offset_s"] - 0.5) <= FRAME
    res = CliRunner().invoke(main, ["coach", "dance", str(tmp_path / "ref.npz"), str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "r2")])
    assert res.exit_code == 1 and "Error:" in res.output and "nope.mp4" in res.output


# ----------------------------------------------------------------------------- real data

def test_real_openpose_gestures_delay_and_other_segment(shared_data, tmp_path):
    """Real OpenPose output of a gesturing person (frame rate unknown: taken as 30 fps). The
    same 10 s delayed by 15 frames is found as 0.5 s late and scores high; another 10 s of
    the same person gesturing differently scores lower."""
    src = shared_data / "openpose" / "gesture_body25_hands"
    files = sorted(src.glob("*.json"))
    if len(files) < 1400:
        pytest.skip("gesture_body25_hands is incomplete")

    def load(start: int, count: int) -> PoseSequence:
        d = tmp_path / f"op_{start}"
        d.mkdir()
        for f in files[start:start + count]:
            shutil.copy(f, d / f.name)
        return read_openpose(d, fps=FPS, size=(480, 480))

    ref = load(100, 300)
    late = load(85, 315)  # starts 15 frames earlier: every moment of ref comes 0.5 s later
    other = load(1000, 300)
    r = coach(ref, late)
    assert abs(r.median_offset_s - 0.5) <= FRAME
    assert r.score > 95
    r_other = coach(ref, other)
    assert r_other.score < r.score - 10, (r_other.score, r.score)
