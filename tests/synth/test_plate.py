"""The camera and the background plate, compositing, full-frame placement and exemplars
(runtime budget: 15 s). Synthetic clips come from the world renderer, which also draws the exact
empty room, so the plate is checked against the truth."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from dancenow.synth import plate as P
from dancenow.synth.exemplar import ExemplarChooser, body_scale, descriptors, nearest, retrieve, select_bank
from dancenow.synth.geometry import Crop

SIZE = (160, 160)  # rendered frame size, pixels


def _clip(size=SIZE, seconds: float = 6.0):
    """(frames (N, H, W, 3), keypoints (N, 137, 3), renderer) of actor ana, every 10th frame of
    a dance, filmed by her camera held still."""
    from dancenow.world import generate_dance, get_actor, perform
    from dancenow.world.draw import Renderer

    ana = get_actor("ana")
    cam = dataclasses.replace(ana.camera, distance=4.0, distance_end=None)
    perf = perform(ana, generate_dance(5, seconds, 30.0), size, cam)
    r = Renderer(ana, perf)
    idx = np.arange(0, len(perf), 10)
    return np.stack([r.frame(int(t)) for t in idx]), perf.poses.keypoints[idx], r


@pytest.fixture(scope="module")
def static_clip():
    frames, kp, renderer = _clip()
    return frames, kp, renderer, P.person_masks(frames, kp)  # MediaPipe segmentation + skeleton


def test_plate_of_a_static_clip_is_the_empty_room(static_clip):
    frames, kp, renderer, masks = static_clip
    assert P.check_camera(frames, masks).kind == "static"
    plate = P.estimate_plate(frames, masks)
    room = renderer.background(0)  # the exact empty room (sensor noise of +-3 levels aside)
    err = np.abs(plate.image.astype(int) - room).max(axis=2)
    # where the person is never seen (filled in) the plate is a guess: judge the rest
    seen = (~masks).sum(0) >= P.MIN_SEEN
    assert seen.mean() > 0.85
    assert np.median(err[seen]) <= 3 and np.mean(err[seen] > 20) < 0.01  # grey levels
    assert plate.change < 0.05 and plate.filled < 0.15  # 18 frames of a dancer near one spot
    # the median over frames keeps no trace of the dancer: a frame's person pixels differ from it
    person = masks[0] & P.skeleton_mask(kp[0], SIZE)
    assert np.abs(frames[0].astype(int) - plate.image).max(axis=2)[person].mean() > 20


def test_person_alphas_lay_the_person_over_the_plate_as_the_frame_shows_it(static_clip):
    """Segmentation is a probability: at hair and edges it says ~0.5 where the picture is all
    person. Hardened by the difference to the plate, the alpha lays the frame's own pixels over
    the plate and gives the frame back; the raw mask turns those pixels half into wall."""
    frames, kp, renderer, _ = static_clip
    room = renderer.background(0)
    alphas = P.person_alphas(frames, room).astype(np.float32) / 255
    from dancenow.pose import PersonSegmenter

    seg = PersonSegmenter()
    try:
        raw = np.stack([np.clip(seg(f), 0, 1) for f in frames])
    finally:
        seg.close()
    assert np.all(alphas >= raw - 1 / 255)  # only ever raised

    def rebuilt_error(a):  # grey levels, on the pixels that are the person (they differ from the room)
        img = a[..., None] * frames + (1 - a[..., None]) * room
        person = np.abs(frames.astype(int) - room).max(axis=3) > 40
        return np.abs(img - frames).max(axis=3)[person].mean()

    assert rebuilt_error(alphas) < 0.5 * rebuilt_error(raw)
    assert rebuilt_error(alphas) < 3
    # the alpha does not spread over the room: a change far from the person is not the person
    frame = frames[0].copy()
    frame[:12, :12] = 255 - room[:12, :12]  # a lamp switched on in a corner
    assert P.skeleton_mask(kp[0], SIZE)[:12, :12].sum() == 0
    hard = P.harden_alpha(frame, raw[0], room)
    assert hard[:12, :12].max() < 0.05


def test_a_moving_camera_is_detected(static_clip):
    """A pan: 160 px windows sliding 60 px across a wider shot (37% of the frame height)."""
    frames, kp, _, masks = static_clip
    wide, wide_kp, _ = _clip((220, 160))
    n = len(wide)
    x0 = np.linspace(0, 60, n).round().astype(int)
    pan = np.stack([wide[i, :, x: x + 160] for i, x in enumerate(x0)])
    pan_kp = wide_kp.copy()
    pan_kp[..., 0] -= x0[:, None]
    skeleton_only = np.stack([P.skeleton_mask(k, SIZE) for k in pan_kp])
    check = P.check_camera(pan, skeleton_only)
    assert check.kind == "moving" and check.motion > P.MAX_MOTION
    assert P.check_camera(frames, masks).motion < P.STILL_MOTION


def test_a_drifting_camera_is_steadied(static_clip):
    """Frames shifted by a known slow drift (up to 2.5% of the height) are aligned back."""
    import cv2

    frames, kp, _, masks = static_clip
    n = len(frames)
    shifts = np.stack([np.linspace(0, 3.0, n), np.linspace(0, -4.0, n)], axis=1)  # pixels (x, y)
    moved, moved_kp = [], kp.copy()
    for i, (dx, dy) in enumerate(shifts):
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        moved.append(cv2.warpAffine(frames[i], m, SIZE, borderMode=cv2.BORDER_REPLICATE))
        moved_kp[i, :, :2] += (dx, dy)
    moved = np.stack(moved)
    check = P.check_camera(moved, np.stack([P.skeleton_mask(k, SIZE) for k in moved_kp]))
    assert check.kind == "steadied"
    np.testing.assert_allclose(check.warps[:, :, 2], shifts, atol=0.5)  # pixels
    back = P.register_keypoints(moved_kp, check.warps)
    np.testing.assert_allclose(back[..., :2], kp[..., :2], atol=0.6)  # pixels


def test_compositing_puts_the_person_over_the_plate():
    from dancenow.synth.generate import composite
    from tests.synth.helpers import tiny_config

    from dancenow.synth.config import ExemplarConfig

    cfg = dataclasses.replace(tiny_config(), exemplar=ExemplarConfig(residual=False))
    colour = torch.full((1, 3, 4, 4), 0.5)
    plate = torch.full((1, 3, 4, 4), -1.0)
    alpha_raw = torch.full((1, 1, 4, 4), -1.0)  # tanh output -1: alpha 0
    alpha_raw[..., :2] = 1.0  # alpha 1 on the left half
    image, alpha = composite(cfg, torch.cat([colour, alpha_raw], 1), plate)
    assert torch.equal(alpha[..., :2], torch.ones(1, 1, 4, 2)) and torch.equal(alpha[..., 2:], torch.zeros(1, 1, 4, 2))
    assert torch.allclose(image[..., :2], colour[..., :2]) and torch.allclose(image[..., 2:], plate[..., 2:])
    half, _ = composite(cfg, torch.cat([colour, torch.zeros(1, 1, 4, 4)], 1), plate)  # alpha 0.5
    assert torch.allclose(half, torch.full_like(half, -0.25))
    plain = dataclasses.replace(cfg, plate=False)
    raw = torch.randn(1, 3, 4, 4)
    same, no_alpha = composite(plain, raw, None)
    assert torch.equal(same, raw) and no_alpha is None
    # residual models correct the posed exemplar, and start from it exactly
    from dancenow.synth.generate import Conditioning, generate
    from dancenow.synth.networks import build_generator

    res = tiny_config()
    assert res.residual
    ex = torch.rand(1, 3, 32, 32) * 2 - 1
    ex_alpha = torch.rand(1, 1, 32, 32)
    image, alpha = composite(res, torch.cat([torch.full((1, 3, 32, 32), 0.25), torch.full((1, 1, 32, 32), 0.1)], 1),
                             torch.zeros(1, 3, 32, 32), ex, ex_alpha)
    assert torch.allclose(alpha, (ex_alpha + 0.1).clamp(0, 1))
    assert torch.allclose(image, alpha * (ex + 0.25).clamp(-1, 1))
    torch.manual_seed(0)
    g = build_generator(res)
    cond = Conditioning(torch.rand(1, 3, 32, 32), ex, None, torch.zeros(1, 3, 32, 32), ex_alpha)
    with torch.no_grad():
        start, a0 = generate(g, res, cond, None)
    assert torch.equal(a0, ex_alpha) and torch.allclose(start, ex_alpha * ex, atol=1e-6)  # the posed exemplar, exactly


def test_a_mask_that_missed_the_person_is_made_from_the_plate_near_the_skeleton(static_clip):
    """Segmentation that comes back empty (as it did for a fifth of the 240p ballet's frames)
    covers none of the skeleton; with the keypoints, the mask is then the frame's difference
    to the plate near the skeleton, which lays the person over the room as the frame shows it."""
    frames, kp, renderer, _ = static_clip
    room = renderer.background(0)
    empty = P.person_alphas(frames[:4], room, segment=lambda f: np.zeros(f.shape[:2]))
    assert empty.max() == 0 and np.all(P.mask_cover(empty, kp[:4]) == 0)
    filled = P.person_alphas(frames[:4], room, kp[:4], segment=lambda f: np.zeros(f.shape[:2]))
    assert np.all(P.mask_cover(filled, kp[:4]) >= P.MASK_COVER)
    good = P.person_alphas(frames[:4], room, kp[:4])  # MediaPipe finds this dancer: left as it is
    assert np.array_equal(good, P.person_alphas(frames[:4], room))
    a = filled.astype(np.float32)[..., None] / 255
    rebuilt = a * frames[:4] + (1 - a) * room
    person = np.abs(frames[:4].astype(int) - room).max(axis=3) > 40
    assert np.abs(rebuilt - frames[:4]).max(axis=3)[person].mean() < 5  # grey levels
    assert np.mean(filled[~person & (np.abs(frames[:4].astype(int) - room).max(axis=3) < 8)] > 127) < 0.01


def test_nothing_is_drawn_where_the_crop_reaches_past_the_video():
    """A crop box taller than the frame: the model rows from beyond the video's edge (and
    `margin` rows inside it) are outside; the composite there is the plate, alpha 0, whatever
    the generator says; a box inside the frame is inside everywhere."""
    from dancenow.synth.generate import composite
    from tests.synth.helpers import tiny_config

    crop = Crop(x0=0, y0=-20, width=100, height=100, src_width=100, src_height=60, out_width=50, out_height=50)
    m = crop.inside(margin=0)
    # video rows 0..60 are model rows 10..40 (2 video px a model px)
    assert m.shape == (50, 50) and m[:10].max() == 0 and m[40:].max() == 0 and m[10:40].min() == 1
    m2 = crop.inside(margin=2)
    assert m2[:12].max() == 0 and m2[38:].max() == 0 and m2[12:38].min() == 1
    assert Crop(x0=10, y0=5, width=40, height=40, src_width=100, src_height=60, out_width=20, out_height=20).inside().min() == 1
    cfg = tiny_config()
    raw = torch.cat([torch.full((1, 3, 50, 50), 0.5), torch.ones(1, 1, 50, 50)], 1)  # alpha 1 everywhere
    plate = torch.full((1, 3, 50, 50), -1.0)
    inside = torch.from_numpy(m2)[None, None]
    image, alpha = composite(cfg, raw, plate, torch.zeros(1, 3, 50, 50), torch.zeros(1, 1, 50, 50), inside)
    assert torch.equal(alpha[0, 0], inside[0, 0])
    assert torch.equal(image[..., :12, :], plate[..., :12, :]) and torch.allclose(image[..., 20, :], torch.tensor(0.5))


def test_a_generated_crop_goes_back_into_the_full_frame():
    rng = np.random.default_rng(0)
    video = rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)
    # a box reaching past the top of the frame, enlarged 2x into the model
    crop = Crop(x0=30, y0=-10, width=50, height=50, src_width=120, src_height=90, out_width=100, out_height=100)
    person = np.full((100, 100, 3), 200, np.uint8)
    alpha = np.zeros((100, 100), np.float32)
    alpha[40:60, 40:60] = 1.0  # the person: a square in the middle of the crop
    full = crop.paste(person, alpha, video)
    assert full.shape == video.shape
    # inside the person (video pixels 30+20..30+30, -10+20..-10+30) the generated colour, around it the video
    assert (full[12:18, 52:58] == 200).all()
    outside = np.ones((90, 120), bool)
    outside[8:22, 48:62] = False  # the square and its blended edge
    assert np.array_equal(full[outside], video[outside])
    # opaque: the crop's view of the result is the model image again (a round trip)
    opaque = crop.paste(person, None, video)
    assert np.abs(crop.apply(opaque)[25:, :].astype(int) - 200).max() <= 1  # rows of the box inside the frame


def test_exemplars_exclude_near_frames_and_hold_with_hysteresis():
    from tests.synth.helpers import tiny_poses

    seq = tiny_poses(frames=40)
    kp = seq.keypoints
    d, scale = descriptors(kp), body_scale(kp)
    assert retrieve(kp[:5], kp).tolist() == [0, 1, 2, 3, 4]  # each pose is nearest to itself
    idx = np.arange(40)
    pick = nearest(d, d, scale, idx, idx, exclude=5)
    assert (np.abs(pick - idx) >= 5).all()  # never itself or a neighbour in time
    bank = select_bank(kp, 8)
    assert len(bank) == 8 and len(set(bank.tolist())) == 8
    # hysteresis: a pose between two bank poses keeps the current one until another is clearly nearer
    chooser = ExemplarChooser(d[[0, 10]], scale, switch=0.2)
    assert chooser(kp[0]).tolist() == [0]
    mid = 0.5 * (kp[0] + kp[10])
    assert chooser(mid).tolist() == [0]
    assert chooser(kp[10]).tolist() == [1]


def test_snapping_pulls_near_joints_toward_the_nearest_bank_pose_and_keeps_far_ones():
    """A mapped pose a little off one of the target's own poses: the joints within reach move
    `strength` of the way toward it, a joint far off (another move) stays, missing joints
    stay missing, a pose on a bank pose is unchanged, and strength 0 changes nothing."""
    from dancenow.keypoints import body_height
    from dancenow.synth.exemplar import snap_to_bank
    from tests.synth.helpers import tiny_poses

    kp = tiny_poses(frames=40).keypoints
    bank = kp[::10]  # four poses of the target
    bh = float(body_height(bank[1:2])[0])
    q = bank[1].copy()
    on = q[:, 2] > 0
    q[on, 0] += 0.02 * bh  # within reach (0.04 body heights): pulled half way back
    q[4, :2] += (0.5 * bh, 0.0)  # one wrist far off: a different move, kept
    q[7, :] = 0.0  # a joint the mapped pose lacks
    out = snap_to_bank(q[None], bank, strength=0.5, reach=0.04)[0]
    near = on.copy()
    near[[4, 7]] = False
    np.testing.assert_allclose(out[near, 0], q[near, 0] - 0.01 * bh, atol=1e-3)
    np.testing.assert_allclose(out[near, 1], q[near, 1], atol=1e-3)
    assert np.array_equal(out[4], q[4]) and np.array_equal(out[7], q[7])
    assert np.array_equal(out[:, 2], q[:, 2])  # confidences untouched
    # a gap between reach and twice it: pulled less
    q2 = bank[1].copy()
    q2[on, 0] += 0.06 * bh
    moved = (q2[on, 0] - snap_to_bank(q2[None], bank, 0.5, 0.04)[0][on, 0]) / bh
    np.testing.assert_allclose(moved, 0.5 * 0.5 * 0.06, atol=1e-4)
    np.testing.assert_allclose(snap_to_bank(bank, bank, 0.5), bank, atol=1e-4)
    assert np.array_equal(snap_to_bank(q[None], bank, 0.0)[0], q)


def test_blended_exemplars_are_the_near_ones_and_their_median_outvotes_one_wrong_exemplar():
    from dancenow.synth.exemplar import blend_set, nearest_sets, posed_blend
    from tests.synth.helpers import tiny_poses

    dist = np.array([5.0, 1.0, 1.4, 1.6, 9.0, 1.2])
    assert blend_set(dist, 1, 7, 1.5).tolist() == [1, 5, 2]  # within 1.5 x 1.0, nearest first
    assert blend_set(dist, 1, 2, 1.5).tolist() == [1, 5]  # at most `blend`
    assert blend_set(dist, 2, 7, 1.5).tolist() == [2, 1, 5, 3]  # the held one first, even if not nearest
    assert blend_set(dist, 1, 1, 1.5).tolist() == [1]
    assert blend_set(np.array([0.0, 0.0, 3.0]), 0, 7, 1.5).tolist() == [0, 1]  # exact poses: only exact ones

    seq = tiny_poses(frames=40)
    kp = seq.keypoints
    d, idx = descriptors(kp), np.arange(40)
    sets = nearest_sets(d, d, body_scale(kp), idx, idx, exclude=5, blend=4, within=3.0)
    assert len(sets) == 40 and all(1 <= len(s) <= 4 for s in sets)
    assert all((np.abs(s - i) >= 5).all() for i, s in enumerate(sets))  # none near in time
    assert max(len(s) for s in sets) > 1

    # three exemplars of the same pose, one of them with a wrong colour: the median keeps the right one
    h = w = 32
    pose = kp[0].copy()
    scale = 24.0 / max(np.ptp(pose[:25, 1][pose[:25, 2] > 0]), 1.0)
    pose[:, :2] = (pose[:, :2] - pose[:25, :2][pose[:25, 2] > 0].min(0)) * scale + 4
    good = np.full((h, w, 3), 120, np.uint8)
    bad = np.full((h, w, 3), 250, np.uint8)
    mask = np.full((h, w), 255, np.uint8)
    plate = np.zeros((h, w, 3), np.uint8)
    img, alpha = posed_blend([good, bad, good], [mask] * 3, [pose] * 3, pose, plate)
    single, a1 = posed_blend([good], [mask], [pose], pose, plate)
    assert np.array_equal(img, single) and np.allclose(alpha, a1)  # the wrong one outvoted
    assert alpha.max() > 0.9


def test_the_posed_head_is_the_nearest_exemplars_moved_whole(static_clip):
    """The head comes from the nearest exemplar, moved by whole pixels onto the target's head:
    its pixels exactly, not a resampled median of several faces; the rest of the body is the
    median as before."""
    from dancenow.keypoints import body_height
    from dancenow.synth.exemplar import HEAD_RADIUS, _median, posed_blend, posed_exemplar

    frames, kp, renderer, _ = static_clip
    room = renderer.background(0)
    alphas = P.person_alphas(frames[:3], room)
    target = kp[0].copy()
    target[:, :2] += (6, 2)  # the dancer one step to the side
    img, alpha = posed_blend(list(frames[:3]), list(alphas), list(kp[:3]), target, room)
    head = np.mean([target[j, :2] for j in (0, 15, 16, 17, 18) if target[j, 2] > 0], axis=0)
    r = HEAD_RADIUS * body_height(target[None])[0]
    yy, xx = np.mgrid[:SIZE[1], :SIZE[0]]
    dist = np.hypot(xx - head[0], yy - head[1])
    core = (dist < 0.6 * r) & (np.roll(alphas[0], (2, 6), axis=(0, 1)) == 255)
    assert core.sum() > 30
    moved = np.roll(frames[0], (2, 6), axis=(0, 1))  # frame 0 six pixels right, two down
    assert np.array_equal(img[core], moved[core])
    posed = [posed_exemplar(f, a, k, target, room) for f, a, k in zip(frames[:3], alphas, kp[:3])]
    median = (_median([p for p, _ in posed]) + 0.5).astype(np.uint8)
    far = dist > 1.1 * r
    assert np.array_equal(img[far], median[far]) and np.allclose(alpha[far], _median([a for _, a in posed])[far])
