"""Photo pose: compare the pose in a photo with a reference pose (another photo or a pose file)
and say which joints differ and how to move them, with both skeletons drawn over the photo.

    from dancenow.coach.photo import compare_pose
    result = compare_pose(me, reference)          # one-frame PoseSequences
    for d in result.differences: print(d.joint, d.instruction)

What is compared (the person's own left and right; `mirror` for a selfie that copies a
reference like a mirror):
  * the nine joint angles of the dance coach (`features.ANGLES`: shoulders, elbows, hips,
    knees, trunk lean), signed, so the advice has a direction ("raise your left arm about 30
    degrees higher", "bend your right knee about 20 degrees more");
  * the shoulders' turn: shoulder width over torso length (a person side-on shows narrow
    shoulders): "turn your shoulders toward the camera" or away from it;
  * the head: tilt (the eye line against the horizontal), chin up or down (the nose against
    the ears' height, in eye-to-ear lengths) and turn (the nose between the ears).
Each measure has a threshold (`PhotoConfig`) below which the two poses count as the same.
"""

from __future__ import annotations

import html
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from dancenow.coach.features import ANGLES, pose_features
from dancenow.coach.page import CSS, crop, crop_box, img_tag, label, png
from dancenow.coach.report import ATT_COLOR, BAD_COLOR, REF_COLOR, body_points, draw_tree, retarget
from dancenow.errors import DancenowError
from dancenow.keypoints import Joint, PoseSequence

log = logging.getLogger(__name__)
J = Joint


@dataclass(frozen=True)
class PhotoConfig:
    """Thresholds: joint angles (degrees), shoulder turn (change of shoulder width over torso
    length), head tilt and turn (degrees / nose offset in ear-to-ear widths), chin (nose height
    in eye-to-ear lengths). mirror: the person copies the reference as in a mirror (a selfie)."""

    angle_deg: float = 15.0
    shoulder_turn: float = 0.15
    head_tilt_deg: float = 10.0
    head_turn: float = 0.2
    chin: float = 0.35
    min_confidence: float = 0.2
    mirror: bool = False


@dataclass(frozen=True)
class Difference:
    """One way the pose differs. joint: what to move (a features angle name, "shoulders",
    "head_tilt", "chin", "head_turn"); vertex: the BODY_25 joint to circle; reference, you:
    the two values; delta: reference minus you; unit: "deg" or "" (ratios); instruction: what
    to do, in words."""

    joint: str
    vertex: int
    reference: float
    you: float
    delta: float
    unit: str
    instruction: str
    size: float  # how far past its threshold (for ordering): |delta| / threshold

    def to_dict(self) -> dict:
        return {"joint": self.joint, "reference": round(self.reference, 3), "you": round(self.you, 3),
                "delta": round(self.delta, 3), "unit": self.unit, "instruction": self.instruction}


@dataclass(frozen=True, eq=False)
class PhotoResult:
    """differences: largest first. score: 100 minus 10 per difference past its threshold,
    scaled by how far (at least 0). me, reference: the one-frame poses compared (the
    reference mirrored when `config.mirror`)."""

    differences: tuple[Difference, ...]
    score: float
    me: PoseSequence
    reference: PoseSequence
    config: PhotoConfig

    def to_dict(self) -> dict:
        return {"score": round(self.score, 2), "mirror": self.config.mirror,
                "differences": [d.to_dict() for d in self.differences]}


def _about(v: float, step: int = 5) -> int:
    return max(step, int(step * round(abs(v) / step)))


def head_measures(kp: np.ndarray, min_conf: float) -> dict[str, float]:
    """Head tilt (deg, + = toward the person's left shoulder), turn (nose offset from the ears'
    middle in ear-to-ear widths, + = toward the image's right) and chin (nose above the ears'
    height in eye-to-ear lengths, + = chin up), NaN where the points are missing."""
    ok = kp[:, 2] >= min_conf
    out = {"head_tilt": math.nan, "head_turn": math.nan, "chin": math.nan}
    if ok[J.R_EYE] and ok[J.L_EYE]:
        d = kp[J.L_EYE, :2] - kp[J.R_EYE, :2]
        # facing the camera the left eye is on the image's right; y down: a lower left eye
        # (head tilted toward the left shoulder) gives a positive angle
        out["head_tilt"] = math.degrees(math.atan2(d[1], d[0])) if d[0] > 0 else math.nan
    if ok[J.R_EAR] and ok[J.L_EAR] and ok[J.NOSE]:
        mid = 0.5 * (kp[J.R_EAR, :2] + kp[J.L_EAR, :2])
        width = np.linalg.norm(kp[J.L_EAR, :2] - kp[J.R_EAR, :2])
        if width > 1e-6:
            out["head_turn"] = float((kp[J.NOSE, 0] - mid[0]) / width)
        eyes = [e for e in (J.R_EYE, J.L_EYE) if ok[e]]
        if eyes:
            eye = kp[eyes, :2].mean(0)
            unit = np.linalg.norm(eye - mid)
            if unit > 1e-6:
                out["chin"] = float((mid[1] - kp[J.NOSE, 1]) / unit)
    return out


def shoulder_width(kp: np.ndarray, min_conf: float) -> float:
    """Shoulder width over torso length (neck to mid-hip), NaN where missing."""
    need = [J.R_SHOULDER, J.L_SHOULDER, J.NECK]
    if (kp[need, 2] < min_conf).any():
        return math.nan
    hips = [h for h in (J.MID_HIP, J.R_HIP, J.L_HIP) if kp[h, 2] >= min_conf]
    if not hips:
        return math.nan
    mid = kp[J.MID_HIP, :2] if J.MID_HIP in hips else kp[hips, :2].mean(0)
    torso = np.linalg.norm(kp[J.NECK, :2] - mid)
    return float(np.linalg.norm(kp[J.L_SHOULDER, :2] - kp[J.R_SHOULDER, :2]) / torso) if torso > 1e-6 else math.nan


def _angle_instruction(name: str, delta: float, ref: float, you: float) -> str:
    side, what = name.split("_", 1) if "_" in name else ("", name)
    x = _about(delta)
    if name == "trunk_lean":  # + = toward the image's right = the person's left (facing the camera)
        return f"lean your upper body about {x} degrees to your {'left' if delta > 0 else 'right'}"
    if what == "shoulder":
        return f"raise your {side} arm about {x} degrees higher" if delta > 0 else f"lower your {side} arm about {x} degrees"
    if what == "hip":
        return (f"move your {side} leg about {x} degrees further out" if delta > 0
                else f"bring your {side} leg about {x} degrees further in")
    if np.sign(ref) != np.sign(you) and min(abs(ref), abs(you)) >= 30:
        return f"bend your {side} {what} the other way (about {x} degrees off)"
    if abs(you) < abs(ref):
        return f"bend your {side} {what} about {x} degrees more"
    return f"straighten your {side} {what} about {x} degrees"


def compare_pose(me: PoseSequence, reference: PoseSequence, config: PhotoConfig = PhotoConfig()) -> PhotoResult:
    """The differences between the pose in `me` and in `reference` (each the first frame of a
    PoseSequence), largest first."""
    if len(me) == 0 or len(reference) == 0:
        raise DancenowError("a photo pose needs one frame on each side")
    me1, ref1 = me.slice(0, 1), reference.slice(0, 1)
    if config.mirror:
        ref1 = ref1.mirrored()
    feats = []
    for seq, what in ((me1, "the photo"), (ref1, "the reference pose")):
        try:
            f = pose_features(seq, config.min_confidence)
        except DancenowError:
            f = None
        if f is None or not np.isfinite(f.angles).any():
            raise DancenowError(f"no body found in {what} (are the arms and legs in the picture?)")
        feats.append(f)
    fm, fr = feats
    diffs = []
    for k, d in enumerate(ANGLES):
        a, r = float(fm.angles[0, k]), float(fr.angles[0, k])
        if not (math.isfinite(a) and math.isfinite(r)):
            continue
        delta = (r - a + 180.0) % 360.0 - 180.0
        if abs(delta) > config.angle_deg:
            diffs.append(Difference(d.name, int(d.vertex), r, a, delta, "deg", _angle_instruction(d.name, delta, r, a),
                                    abs(delta) / config.angle_deg))
    kpm, kpr = me1.keypoints[0].astype(np.float64), ref1.keypoints[0].astype(np.float64)
    wm, wr = shoulder_width(kpm, config.min_confidence), shoulder_width(kpr, config.min_confidence)
    if math.isfinite(wm) and math.isfinite(wr) and abs(wr - wm) > config.shoulder_turn:
        text = ("turn your shoulders toward the camera" if wr > wm
                else "turn your shoulders away from the camera (more side-on), as in the reference")
        diffs.append(Difference("shoulders", int(J.NECK), wr, wm, wr - wm, "", text, abs(wr - wm) / config.shoulder_turn))
    hm, hr = head_measures(kpm, config.min_confidence), head_measures(kpr, config.min_confidence)
    for key, limit, unit in (("head_tilt", config.head_tilt_deg, "deg"), ("head_turn", config.head_turn, ""),
                             ("chin", config.chin, "")):
        a, r = hm[key], hr[key]
        if not (math.isfinite(a) and math.isfinite(r)) or abs(r - a) <= limit:
            continue
        delta = r - a
        if key == "head_tilt":
            text = f"tilt your head about {_about(delta)} degrees toward your {'left' if delta > 0 else 'right'} shoulder"
        elif key == "head_turn":  # nose toward the image's right = turning to the person's left
            text = f"turn your head a little to your {'left' if delta > 0 else 'right'}"
        else:
            text = "raise your chin" if delta > 0 else "lower your chin"
        diffs.append(Difference(key, int(J.NOSE), r, a, delta, unit, text, abs(delta) / limit))
    diffs.sort(key=lambda d: -d.size)
    score = max(0.0, 100.0 - 10.0 * sum(min(3.0, d.size) for d in diffs))
    return PhotoResult(tuple(diffs), score, me1, ref1, config)


# ----------------------------------------------------------------------------- drawing

def _aspect(pts: np.ndarray) -> tuple[int, int]:
    """Portrait (3:4) for a person taller than wide, else landscape (4:3)."""
    return (3, 4) if len(pts) == 0 or np.ptp(pts[:, 1]) >= np.ptp(pts[:, 0]) else (4, 3)


def draw_comparison(photo: np.ndarray | None, result: PhotoResult, width: int = 720) -> np.ndarray:
    """The photo (or a dark canvas) cropped around the person: their skeleton solid (orange),
    the reference pose rebuilt on their body as a thin ghost (blue), each differing joint
    circled and numbered as in the list of differences. RGB uint8, `width` pixels wide."""
    me = result.me
    own = body_points(me.keypoints[0], result.config.min_confidence)
    other = body_points(result.reference.keypoints[0], result.config.min_confidence)
    if photo is None:
        img = np.zeros((me.height, me.width, 3), np.uint8)
        img[:] = (32, 32, 36)
        scale = np.array([1.0, 1.0, 1.0])
    else:
        img = np.ascontiguousarray(photo).copy()
        scale = np.array([img.shape[1] / me.width, img.shape[0] / me.height, 1.0])
    own = own * scale
    ghost = retarget(own, other * scale)
    pts = np.concatenate([own[own[:, 2] > 0, :2], ghost[ghost[:, 2] > 0, :2]])
    box = crop_box(pts, img.shape[1], img.shape[0], _aspect(pts), margin=1.25)
    unit = max(1.0, (box[3] - box[1]) / 600.0)
    draw_tree(img, ghost, REF_COLOR, max(2, int(round(3 * unit))), True)
    draw_tree(img, own, ATT_COLOR, max(2, int(round(5 * unit))), True)
    for k, d in enumerate(result.differences, 1):
        if own[d.vertex, 2] > 0:
            c = tuple(int(round(v)) for v in own[d.vertex, :2])
            cv2.circle(img, c, int(round(18 * unit)), BAD_COLOR, max(2, int(round(3 * unit))), cv2.LINE_AA)
    out = crop(img, box)
    f = width / out.shape[1]
    out = cv2.resize(out, (width, int(round(out.shape[0] * f))), interpolation=cv2.INTER_AREA)
    for k, d in enumerate(result.differences, 1):
        if own[d.vertex, 2] > 0:
            p = (int(round((own[d.vertex, 0] - box[0]) * f)) + 14, int(round((own[d.vertex, 1] - box[1]) * f)) - 10)
            label(out, str(k), p, BAD_COLOR, 0.8)
    return out


def _photo_html(result: PhotoResult, drawn: bytes, reference_drawn: bytes | None) -> str:
    e = html.escape
    items = "".join(f"<li><b>{k}.</b> {e(d.instruction[0].upper() + d.instruction[1:])} "
                    f'<span class="muted">({e(d.joint.replace("_", " "))}: you {d.you:.2f}, reference {d.reference:.2f}'
                    f'{" deg" if d.unit == "deg" else ""})</span></li>' for k, d in enumerate(result.differences, 1))
    items = items or "<li>Your pose matches the reference.</li>"
    ref = f"<div><h3>Reference</h3>{img_tag(reference_drawn, 'the reference pose')}</div>" if reference_drawn else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dancenow photo pose: {result.score:.0f}/100</title>
<style>{CSS}.pics{{display:flex;gap:16px;flex-wrap:wrap;align-items:flex-start}} .pics img{{max-width:560px;border-radius:4px}}</style></head><body>
<h1>Photo pose</h1>
<div class="top"><div class="big">{result.score:.0f}<small>/100</small></div>
<div><p>{len(result.differences)} difference{"s" if len(result.differences) != 1 else ""} from the reference{" (compared as a mirror image)" if result.config.mirror else ""}.</p></div></div>
<h2>How to move</h2><ul class="tips" style="list-style:none;padding-left:8px">{items}</ul>
<div class="pics"><div><h3>You</h3>{img_tag(drawn, "your pose with the reference drawn over it")}
<p class="muted">Orange: your skeleton. Blue: the reference pose rebuilt on your body. Red circles: what differs (numbers as in the list).</p></div>{ref}</div>
<p class="muted">Angles are measured in the picture (2D). The same findings are in report.json.</p>
</body></html>
"""


def write_photo_report(result: PhotoResult, out_dir: str | os.PathLike, photo: np.ndarray | None,
                       reference_photo: np.ndarray | None = None) -> Path:
    """Write `pose.png` (the annotated photo), `report.html` (self-contained) and `report.json`
    into `out_dir`. Returns the HTML path."""
    from dancenow.atomic import atomic_file, write_json
    from dancenow.images import write_image

    out_dir = Path(out_dir)
    drawn = draw_comparison(photo, result)
    write_image(out_dir / "pose.png", drawn)
    ref_drawn = None
    if reference_photo is not None:
        ref_img = np.ascontiguousarray(reference_photo).copy()
        if result.config.mirror:
            ref_img = ref_img[:, ::-1].copy()
        kp = body_points(result.reference.keypoints[0], result.config.min_confidence)
        kp = kp * [ref_img.shape[1] / result.reference.width, ref_img.shape[0] / result.reference.height, 1.0]
        draw_tree(ref_img, kp, REF_COLOR, max(2, int(round(ref_img.shape[0] / 150))), True)
        pts = kp[kp[:, 2] > 0, :2]
        box = crop_box(pts, ref_img.shape[1], ref_img.shape[0], _aspect(pts), margin=1.25)
        ref_img = crop(ref_img, box)
        ref_drawn = png(cv2.resize(ref_img, (540, int(round(ref_img.shape[0] * 540 / ref_img.shape[1]))),
                                   interpolation=cv2.INTER_AREA))
    write_json(out_dir / "report.json", result.to_dict(), allow_nan=False)
    with atomic_file(out_dir / "report.html") as tmp:
        tmp.write_text(_photo_html(result, png(drawn), ref_drawn), encoding="utf-8")
    return out_dir / "report.html"
