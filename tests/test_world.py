"""The synthetic dance world: reproducible, exact ground truth, bodies that differ, frames that
show the actor where the skeleton is, and realistic enough for MediaPipe to find the dancer.
Runtime budget: under 40 s (most of it the MediaPipe test)."""

from __future__ import annotations

import numpy as np
import pytest

from dancenow.errors import DancenowError
from dancenow.keypoints import BODY_LIMBS, FACE, Joint, body_height
from dancenow.world import (ACTORS, BONES, Camera, Dance, actor_from_seed, generate_dance, perform,
                                render_clip, render_frames)
from dancenow.world.camera import project
from dancenow.world.draw import Renderer
from dancenow.world.moves import MOVES
from dancenow.world.skeleton import DOF

SIZE = (96, 96)


@pytest.fixture(scope="module")
def long_dance() -> Dance:
    # 100 s at 120 bpm holds more than 14 segments, so every move of the library appears
    return generate_dance(seed=3, seconds=100.0, fps=30.0, bpm=120)


def test_library_has_ten_moves_that_all_move(long_dance):
    assert len(MOVES) >= 10
    danced = {s.move for s in long_dance.segments}
    assert danced == set(MOVES)
    for seg in long_dance.segments:
        a, b = int(seg.start * 30) + 15, min(int(seg.end * 30) - 15, len(long_dance))
        if b - a > 10:
            assert long_dance.dofs[a:b].std(0).max() > 0.05, f"{seg.move} does not move"


def test_transitions_are_smooth(long_dance):
    # no joint angle (nor the facing) changes by more than 0.6 rad (34 deg) between frames at
    # 30 fps: fast swings, but no jumps (a move switched without a blend jumps by ~1-3 rad);
    # and the stage position (or a jump's height) changes by less than 4% of body height per frame
    for seed in (3, 4):
        d = generate_dance(seed, 100.0, 30.0, bpm=124)
        step = np.abs(np.diff(d.dofs, axis=0))
        angles = np.delete(step, [DOF["x"], DOF["z"], DOF["lift"]], axis=1)
        assert angles.max() < 0.6, f"largest change {angles.max():.2f} rad"
        assert step[:, [DOF["x"], DOF["z"], DOF["lift"]]].max() < 0.04


def test_same_seed_same_frames_and_poses():
    f1, p1 = render_clip("ben", 0.4, SIZE, seed=5)
    f2, p2 = render_clip("ben", 0.4, SIZE, seed=5)
    a, b = np.stack(list(f1)), np.stack(list(f2))
    assert a.dtype == np.uint8 and a.shape == (12, 96, 96, 3)
    assert np.array_equal(a, b)
    assert np.array_equal(p1.keypoints, p2.keypoints)
    _, p3 = render_clip("ben", 0.4, SIZE, seed=6)
    assert not np.allclose(p1.keypoints, p3.keypoints)
    assert actor_from_seed(9) == actor_from_seed(9) and actor_from_seed(9) != actor_from_seed(10)


def test_bone_lengths_constant_over_a_clip(long_dance):
    for name in ("ana", "ben"):
        perf = perform(name, long_dance, SIZE)
        j3 = perf.joints3d.astype(np.float64)
        for (a, b), length in perf.bone_lengths.items():
            d = np.linalg.norm(j3[:, a] - j3[:, b], axis=-1)
            assert np.abs(d - length).max() < 1e-5, f"{name} bone {a}-{b} varies by {np.ptp(d)} m"
        assert len(perf.bone_lengths) == len(BONES) > 100
        # the feet stay on (or above) the floor, and touch it whenever the dancer isn't jumping
        feet = j3[:, [Joint.L_HEEL, Joint.R_HEEL, Joint.L_BIG_TOE, Joint.R_BIG_TOE, Joint.L_SMALL_TOE, Joint.R_SMALL_TOE], 1]
        grounded = long_dance.dof("lift") == 0
        assert feet.min() > -1e-6
        assert np.abs(feet.min(1)[grounded]).max() < 1e-6


def test_keypoints_are_the_exact_projection(long_dance):
    dance = Dance(long_dance.dofs[:200], 30.0, long_dance.bpm, long_dance.segments, 3)
    cam = Camera(distance=3.0, height=1.2, fov_deg=50, distance_end=4.5)
    perf = perform("chloe", dance, (160, 120), cam)
    # independent pinhole projection: camera looks from (x, height, d) at (0, target, 0)
    j3 = perf.joints3d.astype(np.float64)
    d = cam.distances(len(dance))
    f = 60.0 / np.tan(np.radians(25.0))
    for t in (0, 57, 199):
        C = np.array([0.0, 1.2, d[t]])
        fwd = np.array([0.0, cam.target_height, 0.0]) - C
        fwd /= np.linalg.norm(fwd)
        right = np.cross(fwd, [0, 1, 0])
        right /= np.linalg.norm(right)
        down = np.cross(fwd, right)
        X = (j3[t] - C) @ np.stack([right, down, fwd]).T
        uv = np.stack([80 + f * X[:, 0] / X[:, 2], 60 + f * X[:, 1] / X[:, 2]], -1)
        kp = perf.poses.keypoints[t]
        ok = kp[:, 2] > 0
        assert ok[:25].all()
        assert np.abs(kp[ok, :2] - uv[ok]).max() < 2e-3  # pixels (float32 storage)
    uv, _ = project(perf.joints3d, perf.R, perf.C, perf.focal, 80, 60)
    ok = perf.poses.present
    assert np.abs(perf.poses.xy[ok] - uv[ok]).max() < 2e-3
    # the face is missing exactly while it is turned away
    assert np.array_equal(perf.poses.present[:, FACE].all(1), perf.facing >= 0.1)


def test_left_is_left_when_facing_the_camera():
    dance = generate_dance(0, 1.0, moves=("groove",))
    perf = perform("ana", dance, SIZE)
    kp = perf.poses.keypoints[0]
    # the person's right side is on the image's left
    for r, l in ((Joint.R_SHOULDER, Joint.L_SHOULDER), (Joint.R_HIP, Joint.L_HIP), (Joint.R_EYE, Joint.L_EYE)):
        assert kp[r, 0] < kp[l, 0]
    assert kp[Joint.NOSE, 1] < kp[Joint.NECK, 1] < kp[Joint.MID_HIP, 1] < kp[Joint.R_ANKLE, 1]
    assert kp[Joint.MID_HIP, :2] == pytest.approx((kp[Joint.R_HIP, :2] + kp[Joint.L_HIP, :2]) / 2, abs=0.5)


@pytest.mark.parametrize("name", ["ana", "ben", "chloe", "dev"])
def test_actor_pixels_where_the_limbs_are(name):
    dance = generate_dance(11, 2.0)
    perf = perform(name, dance, (128, 128))
    r = Renderer(ACTORS[name], perf)
    for t in (5, 40):
        frame, bg = r.frame(t), r.background(t)
        differs = np.abs(frame.astype(int) - bg.astype(int)).sum(-1) > 24
        kp = perf.poses.keypoints[t]
        hits = []
        for a, b in BODY_LIMBS[:13]:  # torso, arms, legs, neck-nose
            for u in (0.3, 0.5, 0.7):
                x, y = np.round(kp[a, :2] + u * (kp[b, :2] - kp[a, :2])).astype(int)
                hits.append(differs[y, x])
        assert np.mean(hits) >= 0.97, f"{name} frame {t}: only {np.mean(hits):.2f} of limb samples show the actor"
        # and the actor is compact: the frame is background away from the body
        xs, ys = kp[:25, 0], kp[:25, 1]
        far = np.ones_like(differs)
        y0, y1 = max(int(ys.min()) - 12, 0), int(ys.max()) + 12  # 12 px: hair, skirt, shoes, shadow
        far[y0:y1, max(int(xs.min()) - 12, 0):int(xs.max()) + 12] = False
        assert differs[far].mean() < 0.02


def test_named_actors_differ_in_proportions_and_look():
    dance = generate_dance(2, 1.0)
    a, b = perform("ana", dance, (128, 128)), perform("ben", dance, (128, 128))
    # proportions: stature, leg length over height, shoulder width over height
    def ratios(p):
        L = p.bone_lengths
        h = p.body.stature
        thigh = L[(Joint.R_HIP, Joint.R_KNEE)]
        return np.array([h, thigh / h, L[(1, 2)] / h, L[(8, 9)] / h])
    ra, rb = ratios(a), ratios(b)
    assert np.all(np.abs(ra - rb) / rb > 0.04), (ra, rb)
    # the same dance: every limb points the same way in 3D for both bodies
    for i, j in ((Joint.R_SHOULDER, Joint.R_ELBOW), (Joint.L_KNEE, Joint.L_ANKLE), (Joint.NECK, Joint.R_SHOULDER)):
        ua = a.joints3d[:, j] - a.joints3d[:, i]
        ub = b.joints3d[:, j] - b.joints3d[:, i]
        ua /= np.linalg.norm(ua, axis=-1, keepdims=True)
        ub /= np.linalg.norm(ub, axis=-1, keepdims=True)
        assert np.abs(ua - ub).max() < 1e-4
    # placement in frame and look differ
    assert np.abs(a.poses.xy[:, Joint.MID_HIP] - b.poses.xy[:, Joint.MID_HIP]).mean() > 5  # pixels
    fa, fb = next(render_frames("ana", a)), next(render_frames("ben", b))
    chest = lambda f, p: f[int(p.poses.keypoints[0, 1, 1]) + 6, int(p.poses.keypoints[0, 1, 0])].astype(int)  # noqa: E731
    assert np.abs(chest(fa, a) - chest(fb, b)).sum() > 100
    assert np.abs(fa.astype(int).mean((0, 1)) - fb.astype(int).mean((0, 1))).sum() > 20


def test_camera_dolly_changes_scale_and_ankle_height():
    perf = perform("ana", generate_dance(4, 8.0), (128, 128))  # ana's camera dollies
    h = body_height(perf.poses.keypoints)
    assert h.max() / h.min() > 1.2
    ankles = perf.poses.keypoints[:, [Joint.L_ANKLE, Joint.R_ANKLE], 1].max(1)
    assert np.ptp(ankles) > 8  # pixels
    still = perform("ben", generate_dance(4, 8.0), (128, 128))  # ben's camera stands still
    assert np.allclose(still.C, still.C[0])


def test_bad_input_is_one_clear_error():
    with pytest.raises(DancenowError, match="unknown actor"):
        perform("nobody", generate_dance(0, 0.2))
    with pytest.raises(DancenowError):
        generate_dance(0, -1.0)
    with pytest.raises(DancenowError, match="unknown move"):
        generate_dance(0, 1.0, moves=("moonwalk",))
    with pytest.raises(DancenowError):
        Camera(distance=0.1)


def test_cli_writes_video_and_poses(tmp_path):
    from click.testing import CliRunner

    from dancenow.cli import main
    from dancenow.posefile import load_poses
    from dancenow.video import read_all

    out, poses = tmp_path / "t.mp4", tmp_path / "t.npz"
    res = CliRunner().invoke(main, ["world", "--actor", "dev", "--seconds", "0.5", "--size", "64",
                                    "-o", str(out), "--save-poses", str(poses), "--seed", "2"])
    assert res.exit_code == 0, res.output
    seq = load_poses(poses)
    assert len(seq) == 15 and seq.size == (64, 64)
    assert read_all(out).shape == (15, 64, 64, 3)
    _, expected = render_clip("dev", 0.5, (64, 64), seed=2)
    assert np.array_equal(seq.keypoints, expected.keypoints)
    res = CliRunner().invoke(main, ["world", "--actor", "zed", "-o", str(tmp_path / "zed.mp4")])
    assert res.exit_code == 1 and "unknown actor" in res.output


def test_mediapipe_finds_the_actor():
    """The realism bar: MediaPipe Holistic finds the dancer in >= 90% of frames with a median
    body-keypoint error under 5% of body height (30 frames at 256x256)."""
    mp = pytest.importorskip("mediapipe")
    mp_of = {0: 0, 2: 12, 3: 14, 4: 16, 5: 11, 6: 13, 7: 15, 9: 24, 10: 26, 11: 28, 12: 23, 13: 25, 14: 27}
    perf = perform("ben", generate_dance(1, 1.0), (256, 256))
    gt = perf.poses.keypoints
    height = body_height(gt)
    found, errors = 0, []
    with mp.solutions.holistic.Holistic(static_image_mode=False, model_complexity=1) as holistic:
        for t, frame in enumerate(render_frames("ben", perf)):
            res = holistic.process(frame)
            if res.pose_landmarks is None:
                continue
            found += 1
            lm = res.pose_landmarks.landmark
            errors += [np.hypot(lm[m].x * 256 - gt[t, b, 0], lm[m].y * 256 - gt[t, b, 1]) / height[t] for b, m in mp_of.items()]
    assert found / len(gt) >= 0.9
    assert np.median(errors) < 0.05  # fraction of body height
