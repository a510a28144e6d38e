"""Global pose normalization (issue 3), on hand-computed examples and on two real clips."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from click.testing import CliRunner

from dancenow.errors import DancenowError
from dancenow.normalize import (
    BodyStats, fit_stats, frame_measures, frame_transforms, match_stats, median_filter, normalize,
)
from dancenow.normalize_plot import plot_normalization
from dancenow.posefile import load_poses, save_poses
from dancenow.keypoints import NUM_JOINTS, Joint, PoseSequence

PX = 1e-3  # pixels: keypoints are float32 (about 1e-4 px at y ~ 1000)


def figure(ankle_y: float, height: float, x: float = 320.0) -> np.ndarray:
    """(137, 3) a minimal standing figure: nose `height` px above the ankle midpoint (both
    ankles at `ankle_y`, 20 px apart), hips halfway, a neck and a wrist."""
    kp = np.zeros((NUM_JOINTS, 3), np.float32)
    kp[Joint.NOSE] = (x, ankle_y - height, 0.9)
    kp[Joint.NECK] = (x, ankle_y - 0.85 * height, 0.9)
    kp[Joint.R_WRIST] = (x - 30, ankle_y - 0.5 * height, 0.8)
    kp[Joint.MID_HIP] = (x, ankle_y - 0.5 * height, 0.9)
    kp[Joint.R_HIP] = (x - 8, ankle_y - 0.5 * height, 0.9)
    kp[Joint.L_HIP] = (x + 8, ankle_y - 0.5 * height, 0.9)
    kp[Joint.R_ANKLE] = (x - 10, ankle_y, 0.9)
    kp[Joint.L_ANKLE] = (x + 10, ankle_y, 0.9)
    return kp


def sequence(ankles, heights, size=(640, 480), x: float = 320.0) -> PoseSequence:
    kp = np.stack([figure(a, h, x) for a, h in zip(ankles, heights)])
    return PoseSequence(kp, 30.0, *size)


# A source walking from far to close: ankle y 200, 210, ..., 280 and heights 100, 110, ..., 180.
# Step 3 by hand: close = 280, med = 240, frac * (close - med) = 20, d = 40, 30, 20, 10, 0, ...
# only d = 10 qualifies (0 < d < 20), so far = 230; span 50, end windows +-2.5 px:
# h_close = 180 (ankle 280), h_far = 130 (ankle 230).
WALK_ANKLES = [200 + 10 * i for i in range(9)]
WALK_HEIGHTS = [100 + 10 * i for i in range(9)]
# A target with a smaller span: ankle y 300, 305, ..., 340 and heights 254, 256, ..., 270.
# close = 340, med = 320, frac * 20 = 10, d = 20, 15, 10, 5, 0, ...: far = 315; span 25 (no
# re-centring: the source's span is not smaller); windows +-1.25 px: h_close = 270, h_far = 260.
TGT_ANKLES = [300 + 5 * i for i in range(9)]
TGT_HEIGHTS = [254 + 2 * i for i in range(9)]


def test_fit_stats_by_hand():
    st = fit_stats(sequence(WALK_ANKLES, WALK_HEIGHTS))
    assert (st.close, st.med, st.far) == (280, 240, 230)
    assert st.h_close == pytest.approx(180, abs=PX) and st.h_far == pytest.approx(130, abs=PX)
    assert st.max_height == pytest.approx(180, abs=PX) and not st.close_reset
    assert (st.usable, st.frames, st.hip_x) == (9, 9, 320)
    tg = fit_stats(sequence(TGT_ANKLES, TGT_HEIGHTS))
    assert (tg.close, tg.med, tg.far) == (340, 320, 315)
    assert (tg.h_close, tg.h_far) == pytest.approx((270, 260), abs=PX)
    # frac is a strict bound: with frac = 0.25, 0 < d < 5 admits no frame of the target.
    assert fit_stats(sequence(TGT_ANKLES, TGT_HEIGHTS), frac=0.25).far is None


def test_far_to_close_walker_gets_the_scales_the_formulas_give():
    src, tgt = sequence(WALK_ANKLES, WALK_HEIGHTS), sequence(TGT_ANKLES, TGT_HEIGHTS)
    tr = frame_transforms(src, fit_stats(src), fit_stats(tgt))
    m = tr.match
    assert m.mode == "range" and not m.recentred
    # c_close = 270 / 180 = 1.5, c_far = 260 / 130 = 2.
    assert (m.c_close, m.c_far) == pytest.approx((1.5, 2.0), abs=1e-6)
    # p = (y - 230) / 50 = -0.6, -0.4, ..., 1.0 (frames 0-2 lie beyond far: extrapolated);
    # s = 2 + p * (1.5 - 2); ty = 315 + p * 25 - y = 100 - 5 i.
    assert tr.scale == pytest.approx([2.3, 2.2, 2.1, 2.0, 1.9, 1.8, 1.7, 1.6, 1.5], abs=1e-6)
    assert tr.ty == pytest.approx([100, 95, 90, 85, 80, 75, 70, 65, 60], abs=1e-4)
    assert tr.y_anchor == pytest.approx(WALK_ANKLES, abs=1e-4)
    out = normalize(src, fit_stats(src), fit_stats(tgt), median_window=1, keep_proportions=True)
    # The ankle lands on t_far + p * (t_close - t_far) = 300 + 5 i; the nose s * h above it.
    assert out.keypoints[:, Joint.R_ANKLE, 1] == pytest.approx(TGT_ANKLES, abs=PX)
    nose_to_ankle = out.keypoints[:, Joint.R_ANKLE, 1] - out.keypoints[:, Joint.NOSE, 1]
    assert nose_to_ankle == pytest.approx(tr.scale * np.array(WALK_HEIGHTS), abs=PX)
    # x scales about the image centre cx = 319.5: the nose at x = 320 goes to 319.5 + 0.5 s.
    assert out.keypoints[:, Joint.NOSE, 0] == pytest.approx(319.5 + 0.5 * tr.scale, abs=PX)


def test_scaled_and_shifted_target_is_matched_exactly_in_y(rng):
    # A dancer with some depth variation and a moving arm; the target is every frame scaled by
    # k about that frame's ankle and shifted down by v, and shown in a larger frame.
    T, k, v = 40, 1.7, 23.5
    ankles = 300 + 30 * np.sin(np.linspace(0, 3 * np.pi, T))
    heights = 0.6 * ankles
    src = sequence(ankles, heights)
    kp = src.keypoints.copy()
    kp[:, Joint.R_WRIST, 1] += rng.uniform(-20, 20, T).astype(np.float32)
    src = src.replace(keypoints=kp)
    a = np.asarray(frame_measures(src.keypoints).ankle_y)[:, None]   # (T, 1)
    tk = kp.copy()
    pres = tk[..., 2] > 0
    tk[..., 1] = np.where(pres, a + k * (kp[..., 1] - a) + v, 0)
    tgt = PoseSequence(tk, 25.0, 800, 700)
    ss, ts = fit_stats(src), fit_stats(tgt)
    assert ts.close == pytest.approx(ss.close + v, abs=PX) and ts.far == pytest.approx(ss.far + v, abs=PX)
    out = normalize(src, ss, ts, median_window=1)
    assert (out.width, out.height, out.fps, len(out)) == (800, 700, 30.0, T)
    assert np.abs(out.keypoints[..., 1] - tgt.keypoints[..., 1]).max() < PX
    assert frame_transforms(src, ss, ts).scale == pytest.approx(np.full(T, k), abs=1e-6)
    # With the temporal median on, the output is the target's median-filtered y.
    smooth = normalize(src, ss, ts)
    assert np.abs(smooth.keypoints[..., 1] - median_filter(tgt.keypoints)[..., 1]).max() < PX


def test_recentring_and_widened_height_windows(caplog):
    # Target span 100 > source span 50: ankle y 300, 320, ..., 460 and heights 200, 210, ..., 280.
    # close 460, med 380, frac * 80 = 40, d = 80, 60, 40, 20: far = 360. Re-centred on
    # mid = 410 with the source's span 50: t_far = 385, t_close = 435. Windows +-0.05 * 50 =
    # 2.5 px hold no target frame: widened to the nearest, ankle 440 (5 px) -> 270 at close and
    # ankle 380 (5 px) -> 240 at far.
    src = sequence(WALK_ANKLES, WALK_HEIGHTS)
    tgt = sequence([300 + 20 * i for i in range(9)], [200 + 10 * i for i in range(9)])
    ts = fit_stats(tgt)
    # Own ends: close 460 -> 280, far 360 -> 230 (windows +-5 px hold one frame each).
    assert (ts.close, ts.far, ts.h_close, ts.h_far) == pytest.approx((460, 360, 280, 230), abs=PX)
    with caplog.at_level(logging.WARNING, logger="dancenow.normalize"):
        m = match_stats(fit_stats(src), ts)
    assert m.recentred and (m.t_far, m.t_close) == pytest.approx((385, 435), abs=1e-9)
    assert (m.t_h_close, m.t_h_far) == pytest.approx((270, 240), abs=PX)
    assert (m.c_close, m.c_far) == pytest.approx((270 / 180, 240 / 130), abs=1e-6)
    widened = [r for r in caplog.records if "widening" in r.getMessage()]
    assert len(widened) == 2 and all("\n" not in r.getMessage() for r in widened)
    # The source's far and close ankles land on the re-centred ends.
    out = normalize(src, fit_stats(src), ts, median_window=1)
    assert out.keypoints[[3, 8], Joint.L_ANKLE, 1] == pytest.approx([385, 435], abs=PX)
    # Equal spans are not re-centred (strictly smaller only).
    assert not match_stats(fit_stats(src), fit_stats(src)).recentred


def test_close_height_reset():
    # Walker ends: close ankle 280, far 230 (as above). Close-end height 150 is more than 10%
    # below the tallest 200 (frame 5): reset to 200. With 185 (7.5% below) it stays.
    heights = [100, 110, 120, 130, 140, 200, 160, 170, 150]
    st = fit_stats(sequence(WALK_ANKLES, heights))
    assert st.close_reset and st.h_close == pytest.approx(200, abs=PX) and st.h_far == pytest.approx(130, abs=PX)
    heights[-1] = 185
    st = fit_stats(sequence(WALK_ANKLES, heights))
    assert not st.close_reset and st.h_close == pytest.approx(185, abs=PX)


def test_frame_with_a_missing_ankle_keeps_the_previous_transform():
    src = sequence(WALK_ANKLES, WALK_HEIGHTS)
    kp = src.keypoints.copy()
    kp[6, Joint.L_ANKLE] = 0       # frame 6 not usable
    kp[0, Joint.NOSE] = 0          # frame 0 not usable (no nose, no ears): takes frame 1's values
    src = src.replace(keypoints=kp)
    tgt = sequence(TGT_ANKLES, TGT_HEIGHTS)
    ss = fit_stats(src)
    # Usable ankles 210, 220, 230, 240, 250, 270, 280: close 280, med 240, far 230 as before.
    assert (ss.usable, ss.close, ss.med, ss.far) == (7, 280, 240, 230)
    tr = frame_transforms(src, ss, fit_stats(tgt))
    assert tr.match.mode == "range"
    assert not tr.own[0] and not tr.own[6] and tr.own[[1, 2, 3, 4, 5, 7, 8]].all()
    for t, frm in [(0, 1), (6, 5)]:
        assert (tr.scale[t], tr.ty[t], tr.y_anchor[t]) == (tr.scale[frm], tr.ty[frm], tr.y_anchor[frm])
    out = normalize(src, ss, fit_stats(tgt), median_window=1)
    assert not out.present[6, Joint.L_ANKLE] and out.present[6, Joint.R_ANKLE]
    assert not out.present[0, Joint.NOSE]
    # Frame 6's right ankle (y = 260) moves with frame 5's transform: anchor 250, p = 0.4,
    # s = 2 - 0.5 * 0.4 = 1.8, ty = 315 + 0.4 * 25 - 250 = 75 -> 250 + 1.8 * 10 + 75 = 343.
    assert (tr.scale[5], tr.ty[5], tr.y_anchor[5]) == pytest.approx((1.8, 75, 250), abs=1e-4)
    assert out.keypoints[6, Joint.R_ANKLE, 1] == pytest.approx(343, abs=PX)


def test_all_missing_sequences(caplog):
    empty = PoseSequence.empty(5, 30, 640, 480)
    st = fit_stats(empty)
    assert st.usable == 0 and st.close is None and st.box_height is None
    tgt = sequence(TGT_ANKLES, TGT_HEIGHTS)
    with caplog.at_level(logging.WARNING, logger="dancenow.normalize"):
        out = normalize(empty, st, fit_stats(tgt))
    assert len(out) == 5 and not out.present.any() and out.size == (640, 480)
    assert any("no frame with two or more keypoints" in r.getMessage() for r in caplog.records)
    with pytest.raises(DancenowError, match="target has no frame"):
        normalize(tgt, fit_stats(tgt), st)


def test_no_usable_frame_falls_back_to_bounding_boxes(caplog):
    # Source without ankles: box of the present keypoints from the nose (ankle - h) to the
    # hips (ankle - h/2): height h/2, bottom ankle - h/2. Ankle 300, h 100 in every frame:
    # box height 50, bottom 250. Target boxes (with ankles): height 200, bottom 400.
    src = sequence([300] * 5, [100] * 5)
    kp = src.keypoints.copy()
    kp[:, [Joint.R_ANKLE, Joint.L_ANKLE]] = 0
    src = src.replace(keypoints=kp)
    tgt = sequence([400] * 5, [200] * 5)
    with caplog.at_level(logging.WARNING, logger="dancenow.normalize"):
        tr = frame_transforms(src, fit_stats(src), fit_stats(tgt))
    assert tr.match.mode == "boxes" and tr.scale == pytest.approx(np.full(5, 4.0))
    assert any("no usable frame" in r.getMessage() and "source" in r.getMessage() for r in caplog.records)
    out = normalize(src, fit_stats(src), fit_stats(tgt))
    assert out.keypoints[:, Joint.MID_HIP, 1] == pytest.approx(np.full(5, 400.0), abs=PX)  # box bottom
    assert out.keypoints[:, Joint.NOSE, 1] == pytest.approx(np.full(5, 200.0), abs=PX)     # 4 * 50 above


def test_three_frame_sequence_is_one_depth_and_keeps_its_frames(caplog):
    # Ankle y 100, 110, 120: close 120, med 110, d = 10, 0, -10, frac * 10 = 5: no far.
    # One scale from mean heights (target 90 / source 60 = 1.5); the median ankle (110) maps to
    # the target's (210) and moves off it scale with the body (a 10 px lift becomes 15 px).
    src = sequence([100, 110, 120], [50, 60, 70])
    tgt = sequence([200, 210, 220], [80, 90, 100])
    assert fit_stats(src).far is None
    with caplog.at_level(logging.WARNING, logger="dancenow.normalize"):
        tr = frame_transforms(src, fit_stats(src), fit_stats(tgt))
    assert tr.match.mode == "one_depth" and tr.scale == pytest.approx([1.5] * 3)
    assert any("qualifies for 'far'" in r.getMessage() for r in caplog.records)
    out = normalize(src, fit_stats(src), fit_stats(tgt))
    assert len(out) == 3 and out.present[:, Joint.NOSE].all()
    raw = normalize(src, fit_stats(src), fit_stats(tgt), median_window=1, keep_proportions=True)
    assert raw.keypoints[:, Joint.R_ANKLE, 1] == pytest.approx([195, 210, 225], abs=PX)
    assert (raw.keypoints[:, Joint.R_ANKLE, 1] - raw.keypoints[:, Joint.NOSE, 1]) == pytest.approx([75, 90, 105], abs=PX)


def test_a_dancer_who_only_jumps_keeps_one_scale(caplog):
    # A source dancing on the spot: ankles at 300 (299 on tiptoe) except a jump every 10 frames
    # (ankle 295, 290, 295) and a crouch (ankle 304, height 90): close 304, far 299, a 5 px range
    # of a 100 px body. The method would read the jump as walking away and shrink the dancer mid-air.
    assert fit_stats(sequence([300] * 5 + [299] + [295, 290, 295] + [304], [100] * 10)).span == 5
    ankles = ([300] * 5 + [299] + [295, 290, 295] + [304]) * 4
    heights = ([100] * 6 + [100, 100, 100] + [90]) * 4
    src, tgt = sequence(ankles, heights), sequence(TGT_ANKLES, TGT_HEIGHTS)
    with caplog.at_level(logging.WARNING, logger="dancenow.normalize"):
        tr = frame_transforms(src, fit_stats(src), fit_stats(tgt))
    assert tr.match.mode == "one_depth"
    assert any("stays at one depth" in r.getMessage() for r in caplog.records)
    assert np.ptp(tr.scale) == 0  # the same size on the ground and mid-air
    out = normalize(src, fit_stats(src), fit_stats(tgt), median_window=1)
    ank = out.keypoints[:, Joint.R_ANKLE, 1]
    # the jump keeps its height, scaled with the body (10 px at 100 px -> 10 * scale)
    assert ank[6 + 1] - ank[0] == pytest.approx(-10 * tr.scale[0], abs=1e-3)


def test_a_near_end_that_is_not_taller_is_not_depth():
    from dancenow.normalize import depth_range_problem
    walker = fit_stats(sequence(WALK_ANKLES, WALK_HEIGHTS))
    assert depth_range_problem(walker) is None
    # the same ankle range, but the body is a little shorter where the feet are lowest (crouching)
    crouch = fit_stats(sequence(WALK_ANKLES, [150 - i for i in range(9)]))
    assert "does not look taller" in depth_range_problem(crouch)
    assert match_stats(crouch, fit_stats(sequence(TGT_ANKLES, TGT_HEIGHTS))).mode == "one_depth"
    assert match_stats(walker, fit_stats(sequence(TGT_ANKLES, TGT_HEIGHTS))).mode == "range"


def test_all_one_depth_sequence():
    src = sequence([300] * 12, [100 + (i % 3) for i in range(12)])     # mean height 101
    tgt = sequence([250 + 10 * i for i in range(9)], [150] * 9)      # med 290, mean 150
    tr = frame_transforms(src, fit_stats(src), fit_stats(tgt))
    assert tr.match.mode == "one_depth"
    assert tr.scale == pytest.approx(np.full(12, 150 / 101), abs=1e-6)
    out = normalize(src, fit_stats(src), fit_stats(tgt), median_window=1)
    assert out.keypoints[:, Joint.R_ANKLE, 1] == pytest.approx(np.full(12, 290.0), abs=PX)


def test_median_over_present_samples_only():
    kp = np.zeros((9, NUM_JOINTS, 3), np.float32)
    # Joint 0: x = 1, 100, 3, 4, ..., 9 (a spike at frame 1), all present.
    kp[:, 0, 0] = [1, 100, 3, 4, 5, 6, 7, 8, 9]
    kp[:, 0, 1] = 50
    kp[:, 0, 2] = 1
    # Joint 1: present at frames 0, 1, 2 only.
    kp[:3, 1] = [[10, 10, 1], [20, 20, 1], [30, 30, 1]]
    # Joint 2: present everywhere but frame 4, x = 10 t.
    kp[:, 2, 0] = 10 * np.arange(9)
    kp[:, 2, 1] = 5
    kp[:, 2, 2] = 1
    kp[4, 2] = 0
    out = median_filter(kp, 7)
    # Joint 0: t=0 window frames 0-3 (1, 100, 3, 4) -> 3.5; t=3 window 0-6 -> 5; t=8 window 5-8 -> 7.5.
    assert out[[0, 3, 8], 0, 0] == pytest.approx([3.5, 5, 7.5])
    # Joint 1: 3 of 4 at t=0, 3 of 5 at t=1 -> kept (medians 20, 20); 3 of 6 at t=2 and 3 of 7
    # at t=3 -> missing.
    assert out[[0, 1], 1, 0] == pytest.approx([20, 20]) and (out[2:, 1] == 0).all()
    # Joint 2: frame 4 is filled from 6 present samples (10, 20, 30, 50, 60, 70) -> 40.
    assert out[4, 2, 0] == pytest.approx(40) and out[4, 2, 2] == 1
    assert median_filter(kp, 1) == pytest.approx(kp)
    with pytest.raises(DancenowError):
        median_filter(kp, 4)


def test_body_stats_json_round_trip(tmp_path):
    st = fit_stats(sequence(WALK_ANKLES, WALK_HEIGHTS))
    path = st.save(tmp_path / "stats.json")
    assert BodyStats.load(path) == st
    one = fit_stats(sequence([300] * 4, [100] * 4))
    assert BodyStats.load(one.save(tmp_path / "one.json")).far is None
    with pytest.raises(DancenowError, match="not found"):
        BodyStats.load(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(DancenowError, match="bad.json is not a JSON"):
        BodyStats.load(tmp_path / "bad.json")
    d = st.to_dict()
    del d["close"]
    (tmp_path / "short.json").write_text(json.dumps(d))
    with pytest.raises(DancenowError, match="lack field 'close'"):
        BodyStats.load(tmp_path / "short.json")


def test_align_x_moves_the_median_hip():
    src = sequence(WALK_ANKLES, WALK_HEIGHTS, x=100)
    tgt = sequence(TGT_ANKLES, TGT_HEIGHTS, x=500)
    out = normalize(src, fit_stats(src), fit_stats(tgt), align_x=True)
    assert np.median(out.keypoints[:, Joint.MID_HIP, 0]) == pytest.approx(500, abs=PX)
    plain = normalize(src, fit_stats(src), fit_stats(tgt))
    assert np.median(plain.keypoints[:, Joint.MID_HIP, 0]) < 0  # scaled about the centre, no shift


def _range_excess(norm: np.ndarray, tgt: np.ndarray) -> float:
    """Pixels by which the finite values of `norm` reach beyond [min, max] of `tgt` (<= 0: inside)."""
    norm, tgt = norm[np.isfinite(norm)], tgt[np.isfinite(tgt)]
    return float(max(tgt.min() - norm.min(), norm.max() - tgt.max()))


@pytest.mark.parametrize("src_cam,tgt_cam", [(1, 2), (4, 3)])
def test_real_clips_land_in_the_target_ranges(shared_data, tmp_path, src_cam, tgt_cam):
    folder = shared_data / "openpose" / "pose2sim_balancing_body25b"
    src = load_poses(folder / f"cam0{src_cam}_json", fps=60, size=(1080, 1920))
    tgt = load_poses(folder / f"cam0{tgt_cam}_json", fps=60, size=(1080, 1920))
    ss, ts = fit_stats(src), fit_stats(tgt)
    out = normalize(src, ss, ts)
    mt, mn = frame_measures(tgt.keypoints), frame_measures(out.keypoints)
    tol = 0.05 * ts.max_height  # 5% of the target's body height (about 31-36 px here)
    assert _range_excess(mn.ankle_y, mt.ankle_y) <= tol
    assert _range_excess(mn.height, mt.height) <= tol
    if src_cam == 1:  # once is enough (matplotlib is slow to load)
        png = plot_normalization(src, tgt, out, ss, ts, tmp_path / "norm.png")
        assert png.stat().st_size > 10_000


def test_cli_normalize_and_stats(tmp_path):
    from dancenow.cli import main

    src, tgt = sequence(WALK_ANKLES, WALK_HEIGHTS), sequence(TGT_ANKLES, TGT_HEIGHTS)
    save_poses(src, tmp_path / "src.npz")
    save_poses(tgt, tmp_path / "tgt.npz")
    r = CliRunner().invoke(main, ["normalize-stats", str(tmp_path / "tgt.npz"), "-o", str(tmp_path / "t.json")])
    assert r.exit_code == 0, r.output
    a, b = tmp_path / "a.npz", tmp_path / "b"
    r = CliRunner().invoke(main, ["normalize", str(tmp_path / "src.npz"), "--target", str(tmp_path / "tgt.npz"),
                                  "-o", str(a), "--plot", str(tmp_path / "p.png")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "p.png").stat().st_size > 10_000
    r = CliRunner().invoke(main, ["normalize", str(tmp_path / "src.npz"), "--target", str(tmp_path / "t.json"), "-o", str(b)])
    assert r.exit_code == 0, r.output
    assert np.array_equal(load_poses(a).keypoints, load_poses(b, fps=30, size=(640, 480)).keypoints)
    r = CliRunner().invoke(main, ["normalize", str(tmp_path / "src.npz"), "--target", str(tmp_path / "t.json"),
                                  "--target-frac", "0.3", "-o", str(tmp_path / "c")])
    assert r.exit_code == 1 and "--target-frac applies to target poses only" in r.output


# ----------------------------------------------------------------------------- retargeting

def _bone_angles(kp: np.ndarray) -> np.ndarray:
    from dancenow.normalize import RETARGET_BONES

    v = np.stack([kp[:, b, :2] - kp[:, a, :2] for a, b in RETARGET_BONES], axis=1)  # (T, B, 2)
    return np.arctan2(v[..., 1], v[..., 0])


def test_retargeting_gives_the_source_dance_the_target_bodys_proportions(caplog):
    """The demo's two differently built actors dance the same dance (exact keypoints): mapped
    onto the target with the target's bone lengths, the source lands nearer the target's own
    performance of it than the paper's normalization alone puts it, bones pointing the same
    way and the lower foot where normalization put it."""
    from dancenow.demo import DemoConfig, target_performance
    from dancenow.normalize import BONE_RATIO_RANGE, bone_lengths, bone_ratios
    from dancenow.world import generate_dance, get_actor, perform

    cfg = DemoConfig(seed=11, target_actor="ana", source_actor="ben", video_size=192)
    _, train = target_performance(cfg, seconds=30.0)
    dance = generate_dance(12, 10.0, cfg.fps)
    src = perform(get_actor("ben"), dance, (192, 192)).poses
    _, truth = target_performance(cfg, dance=dance)
    ss, ts = fit_stats(src), fit_stats(train.poses)
    ratios = bone_ratios(ss, ts)
    assert ratios is not None and not np.allclose(ratios, 1.0, atol=0.05)  # the bodies do differ
    kept = normalize(src, ss, ts, align_x=True, keep_proportions=True).keypoints
    with caplog.at_level(logging.INFO, logger="dancenow.normalize"):
        moved = normalize(src, ss, ts, align_x=True).keypoints
    said = [r.getMessage() for r in caplog.records if "target's lengths" in r.getMessage()]
    assert len(said) == 1 and "x (--keep-proportions" in said[0]  # the console says what changed

    def err(kp):
        return float(np.linalg.norm(kp[:, :15, :2] - truth.poses.keypoints[:, :15, :2], axis=-1).mean())

    assert err(moved) < 0.65 * err(kept)  # measured 1.45 against 2.47 px (1.76 without the widths)
    # the output's proportions are the target's (where the ratio was not clipped)
    measured = np.array([b is not None for b in ts.bones])
    assert measured.sum() == 13 and np.all(ratios[~measured] == 1.0)  # spine, limbs, shoulder and hip widths
    free = measured & (ratios > BONE_RATIO_RANGE[0] + 1e-6) & (ratios < BONE_RATIO_RANGE[1] - 1e-6)
    got = np.array([np.nan if b is None else b for b in bone_lengths(moved)])
    want = np.array([np.nan if b is None else b for b in ts.bones])
    assert np.allclose(got[free], want[free], rtol=0.06)
    # directions are the source's; the lower ankle stays on the floor normalization chose
    diff = np.angle(np.exp(1j * (_bone_angles(moved) - _bone_angles(kept))))
    assert np.abs(diff).max() < 1e-3
    low = lambda kp: kp[:, [Joint.R_ANKLE, Joint.L_ANKLE], 1].max(axis=1)  # noqa: E731
    assert np.abs(low(moved) - low(kept)).mean() < 0.3


def test_retarget_by_hand():
    """One forearm twice as long: the wrist moves out along the forearm, the hand goes with it
    unchanged in shape, the face moves with the nose, missing points stay missing, and the body
    is shifted so the lower ankle keeps its place."""
    from dancenow.keypoints import LEFT_HAND, RIGHT_HAND
    from dancenow.normalize import RETARGET_BONES, retarget

    kp = figure(400.0, 200.0)[None].copy()
    kp[0, Joint.R_SHOULDER] = (300, 240, 0.9)
    kp[0, Joint.R_ELBOW] = (280, 270, 0.9)
    kp[0, Joint.R_WRIST] = (290, 300, 0.9)
    kp[0, Joint.R_KNEE] = (310, 350, 0.9)
    kp[0, Joint.L_KNEE] = (330, 350, 0.9)
    kp[0, Joint.L_ANKLE] = (330, 370, 0.9)  # the right ankle (y 400) is clearly the lower one
    kp[0, RIGHT_HAND] = np.array([(290 + i, 300 + 2 * i, 0.5) for i in range(21)])
    kp[0, 25:95] = np.array([(320 + i % 7, 200 + i // 7, 0.5) for i in range(70)])
    ratios = np.ones(len(RETARGET_BONES))
    ratios[RETARGET_BONES.index((3, 4))] = 2.0
    ratios[RETARGET_BONES.index((10, 11))] = 1.25  # a longer right shin: the body must rise
    out = retarget(kp, ratios)[0]
    # the shin grew by 0.25 * (0, 50): everything not below the knee rises 12.5 px
    assert out[Joint.R_ANKLE, :2] == pytest.approx(kp[0, Joint.R_ANKLE, :2], abs=PX)
    assert out[Joint.NECK, :2] == pytest.approx(kp[0, Joint.NECK, :2] + (0, -12.5), abs=PX)
    assert out[Joint.R_WRIST, :2] == pytest.approx((300, 330 - 12.5), abs=PX)  # elbow + 2 x (10, 30)
    hand_move = out[RIGHT_HAND, :2] - kp[0, RIGHT_HAND, :2]
    assert np.allclose(hand_move, (10, 30 - 12.5), atol=PX)
    assert np.allclose(out[25:95, :2] - kp[0, 25:95, :2], (0, -12.5), atol=PX)
    assert (out[LEFT_HAND] == 0).all() and (out[Joint.L_SHOULDER] == 0).all()
    assert np.array_equal(out[:, 2], kp[0, :, 2])


def test_ratios_are_clipped_and_old_stats_keep_the_proportions(caplog):
    from dancenow.normalize import BONE_RATIO_RANGE, bone_ratios

    src, tgt = sequence(WALK_ANKLES, WALK_HEIGHTS), sequence(TGT_ANKLES, TGT_HEIGHTS)
    ss, ts = fit_stats(src), fit_stats(tgt)
    long = tuple(None if b is None else 3 * b for b in ts.bones)
    r = bone_ratios(ss, BodyStats(**{**ts.__dict__, "bones": long}))
    assert r.max() == pytest.approx(BONE_RATIO_RANGE[1]) and r.min() >= BONE_RATIO_RANGE[0]
    # stats saved before v2 have no bone lengths: they load, and normalization keeps the source's
    d = ts.to_dict()
    del d["bones"]
    d["version"] = 1
    old = BodyStats.from_dict(json.loads(json.dumps(d)))
    assert old.bones == () and bone_ratios(ss, old) is None
    with caplog.at_level(logging.INFO, logger="dancenow.normalize"):
        a = normalize(src, ss, old, median_window=1).keypoints
    assert any("keeping the source's proportions" in rec.getMessage() for rec in caplog.records)
    assert np.array_equal(a, normalize(src, ss, ts, median_window=1, keep_proportions=True).keypoints)
    assert BodyStats.from_dict(json.loads(json.dumps(ts.to_dict()))) == ts


def test_two_real_people_moving_differently_read_as_ordinary_builds(shared_data):
    """Squats (a man, front and side takes) against jumping jacks (a woman, front then side-on),
    both detected by MediaPipe: every measured bone's ratio stays within 15% of 1 (measured:
    within 6%, hips 0.89x), although the clips turn and fold the body very differently (a median
    over all bones read shoulders 0.75x and upper arms 1.33x, the range's clips)."""
    from dancenow.normalize import bone_ratios
    from dancenow.pose import detect_video

    clips = shared_data / "footage"
    a = detect_video(clips / "t2_airsquat_white.mp4", fps=4.0, progress=False)
    b = detect_video(clips / "t3_jumpingjacks_white.mp4", fps=4.0, progress=False)
    r = bone_ratios(fit_stats(a), fit_stats(b))
    assert r is not None and np.abs(np.log(r)).max() < np.log(1.15)
