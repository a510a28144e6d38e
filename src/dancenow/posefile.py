"""Pose files at the edges: our versioned `.npz`, and OpenPose JSON folders.

Any path ending in `.npz` is our format; any other path is an OpenPose JSON folder
(one `*.json` per frame, sorted by name). Nothing here unpickles.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from dancenow.atomic import atomic_dir, atomic_file
from dancenow.errors import DancenowError
from dancenow.keypoints import BODY, FACE, LEFT_HAND, NUM_BODY, NUM_FACE, NUM_HAND, NUM_JOINTS, RIGHT_HAND, PoseSequence

log = logging.getLogger(__name__)

NPZ_FORMAT = "dancenow.poses"  # the file format's name, kept when the module was renamed
NPZ_VERSION = 1
LAYOUT = "BODY_25+FACE_70+HAND_21x2"
DEFAULT_FPS = 30.0

# BODY_25B (OpenPose's experimental model; Pose2Sim uses it) -> BODY_25 index map.
# BODY_25B: 0 nose, 1/2 eyes L/R, 3/4 ears L/R, 5/6 shoulders L/R, 7/8 elbows, 9/10 wrists,
# 11/12 hips, 13/14 knees, 15/16 ankles, 17 neck, 18 head top, 19-21 L big toe, small toe,
# heel, 22-24 R big toe, small toe, heel. MidHip is derived from the two hips.
_B25_FROM_B25B = {0: 0, 1: 17, 2: 6, 3: 8, 4: 10, 5: 5, 6: 7, 7: 9, 9: 12, 10: 14, 11: 16,
                  12: 11, 13: 13, 14: 15, 15: 2, 16: 1, 17: 4, 18: 3, 19: 19, 20: 20, 21: 21,
                  22: 22, 23: 23, 24: 24}  # BODY_25 index: BODY_25B index


# ----------------------------------------------------------------------------- npz

def save_npz(seq: PoseSequence, path: str | os.PathLike) -> Path:
    """Write `seq` as our versioned .npz (atomically)."""
    import io

    path = Path(path)
    # compressed in memory first: numpy leaves its zip file open when a write fails (a full
    # disk), and its clean-up later prints a traceback; the file write below fails cleanly
    buf = io.BytesIO()
    np.savez_compressed(
        buf, format=np.array(NPZ_FORMAT), version=np.array(NPZ_VERSION),
        layout=np.array(LAYOUT), keypoints=seq.keypoints.astype(np.float32),
        fps=np.array(seq.fps, np.float64), size=np.array([seq.width, seq.height], np.int64),
    )
    with atomic_file(path) as tmp:
        tmp.write_bytes(buf.getbuffer())
    return path


MAX_COORD = 1e6  # pixels: beyond this a coordinate is garbage, not a pose (drawing it overflows)
MAX_POSE_SIDE = 65536  # pixels a side of the frame a pose file refers to


def _check_array(kp: np.ndarray, where: str) -> np.ndarray:
    """Keypoints read from a file: numbers, (T, 137, 3), at least one frame, finite, sane."""
    if kp.dtype.kind not in "fiub":
        raise DancenowError(f"{where}: keypoints must be numbers, got {kp.dtype} values")
    if kp.ndim != 3 or kp.shape[1:] != (NUM_JOINTS, 3):
        raise DancenowError(f"{where}: keypoints must have shape (T, {NUM_JOINTS}, 3) ({LAYOUT}), got {kp.shape}")
    if kp.shape[0] == 0:
        raise DancenowError(f"{where} holds no frames")
    kp = kp.astype(np.float32)
    if not np.isfinite(kp).all():
        raise DancenowError(f"{where}: keypoints contain NaN or infinite values")
    if np.abs(kp[..., :2]).max() > MAX_COORD:
        raise DancenowError(f"{where}: keypoint coordinates beyond {MAX_COORD:g} pixels: not a pose")
    return kp


def _check_frame(fps, size, where: str) -> tuple[float, tuple[int, int]]:
    from dancenow.guard import MAX_FPS

    if not (isinstance(fps, (int, float, np.number)) and np.isfinite(fps) and 0 < fps <= MAX_FPS):
        raise DancenowError(f"{where}: frame rate must be in (0, {MAX_FPS:g}] fps, got {fps}")
    w, h = size
    if not (0 < w <= MAX_POSE_SIDE and 0 < h <= MAX_POSE_SIDE):
        raise DancenowError(f"{where}: frame size must be 1 to {MAX_POSE_SIDE} pixels a side, got {w}x{h}")
    return float(fps), (int(w), int(h))


def load_npz(path: str | os.PathLike) -> PoseSequence:
    """Read and validate our .npz; a clear error for anything else."""
    path = Path(path)
    if path.is_dir():
        raise DancenowError(f"{path} is a folder, not a .npz pose file")
    if not path.is_file():
        raise DancenowError(f"pose file not found: {path}")
    if path.stat().st_size == 0:
        raise DancenowError(f"{path} is empty (0 bytes), not a .npz pose file")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except Exception as e:  # zipfile/ValueError/OSError/EOFError: all mean "not our file"
        raise DancenowError(f"{path} is not a readable .npz pose file ({type(e).__name__})") from None
    if str(data.get("format", "")) != NPZ_FORMAT:
        raise DancenowError(f"{path} is not a dancenow pose file (no format tag '{NPZ_FORMAT}')")
    try:
        version = int(data.get("version", -1))
    except (TypeError, ValueError):
        raise DancenowError(f"{path}: its version is not a number") from None
    if version > NPZ_VERSION:
        raise DancenowError(f"{path} is pose format v{version}; this dancenow reads up to v{NPZ_VERSION}: upgrade dancenow")
    if str(data.get("layout", "")) != LAYOUT:
        raise DancenowError(f"{path} has layout {data.get('layout')!s}, expected {LAYOUT}")
    for key in ("keypoints", "fps", "size"):
        if key not in data:
            raise DancenowError(f"{path} lacks field '{key}'")
    size, fps = data["size"], data["fps"]
    if size.shape != (2,) or size.dtype.kind not in "iuf":
        raise DancenowError(f"{path}: size must be two numbers (width, height), got {size.tolist()!r}")
    if fps.shape != () or fps.dtype.kind not in "iuf":
        raise DancenowError(f"{path}: fps must be one number, got {fps.tolist()!r}")
    fps_value, (w, h) = _check_frame(float(fps), (float(size[0]), float(size[1])), str(path))
    kp = _check_array(data["keypoints"], str(path))
    try:
        return PoseSequence(kp, fps_value, w, h)
    except DancenowError as e:
        raise DancenowError(f"{path}: {e}") from None


# ----------------------------------------------------------------------------- OpenPose JSON

def _flat(values, n: int, where: str) -> np.ndarray:
    if values is None or (isinstance(values, list) and not values):
        return np.zeros((n, 3), np.float32)
    if not isinstance(values, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise DancenowError(f"{where}: keypoints must be a list of numbers")
    arr = np.asarray(values, dtype=np.float32)
    if arr.size != 3 * n:
        raise DancenowError(f"{where}: expected {3 * n} numbers (x, y, confidence for {n} points), got {arr.size}")
    if not np.isfinite(arr).all():
        raise DancenowError(f"{where}: keypoints contain NaN or infinite values")
    if np.abs(arr).max() > MAX_COORD:
        raise DancenowError(f"{where}: keypoint coordinates beyond {MAX_COORD:g} pixels: not a pose")
    return arr.reshape(n, 3)


_PARTS = {"pose_keypoints_2d": NUM_BODY, "face_keypoints_2d": NUM_FACE, "hand_left_keypoints_2d": NUM_HAND,
          "hand_right_keypoints_2d": NUM_HAND}


def _people(doc, where: str) -> list[dict]:
    """The people of one OpenPose JSON document, each checked (so no later step meets garbage)."""
    if not isinstance(doc, dict):
        raise DancenowError(f"{where} is not OpenPose JSON (a {type(doc).__name__}, not an object)")
    people = doc.get("people", [])
    if not isinstance(people, list):
        raise DancenowError(f"{where}: \"people\" must be a list, got {json.dumps(people)[:40]}")
    for i, p in enumerate(people):
        if not isinstance(p, dict):
            raise DancenowError(f"{where}: person {i} is not an object (a {type(p).__name__})")
        for key, n in _PARTS.items():
            _flat(p.get(key), n, f"{where}: person {i} {key}")
    return people


def _person_array(person: dict, where: str, layout: str) -> np.ndarray:
    kp = np.zeros((NUM_JOINTS, 3), np.float32)
    body = _flat(person.get("pose_keypoints_2d"), NUM_BODY, where)
    if layout == "BODY_25B":
        body = _body25b_to_body25(body)
    kp[BODY] = body
    kp[FACE] = _flat(person.get("face_keypoints_2d"), NUM_FACE, where)
    kp[LEFT_HAND] = _flat(person.get("hand_left_keypoints_2d"), NUM_HAND, where)
    kp[RIGHT_HAND] = _flat(person.get("hand_right_keypoints_2d"), NUM_HAND, where)
    return kp


def _body25b_to_body25(b: np.ndarray) -> np.ndarray:
    out = np.zeros_like(b)
    for dst, src in _B25_FROM_B25B.items():
        out[dst] = b[src]
    lh, rh = b[11], b[12]
    if lh[2] > 0 and rh[2] > 0:
        out[8] = [(lh[0] + rh[0]) / 2, (lh[1] + rh[1]) / 2, min(lh[2], rh[2])]
    return out


def _guess_layout(frames: list[list[dict]]) -> str:
    """BODY_25 and BODY_25B both have 25 points; in BODY_25 points 15/16 are eyes (beside the
    nose), in BODY_25B they are ankles (far below it). Decide by that distance."""
    ratios = []
    for people in frames:
        for p in people:
            b = _flat(p.get("pose_keypoints_2d"), NUM_BODY, "")
            ok = b[:, 2] > 0
            if not (ok[0] and ok[15] and ok[16]) or ok.sum() < 6:
                continue
            extent = np.ptp(b[ok, 1]) + 1e-6
            ratios.append(abs(b[15, 1] - b[0, 1]) / extent)
        if len(ratios) >= 20:
            break
    return "BODY_25B" if ratios and float(np.median(ratios)) > 0.4 else "BODY_25"


def _pick_tracked(frames: list[np.ndarray]) -> np.ndarray:
    """One person per frame: the most prominent in the first frame with anyone (largest box x
    confidence), then the person nearest the previous pick (so a bystander is not swapped in)."""
    out = np.zeros((len(frames), NUM_JOINTS, 3), np.float32)
    prev = None
    for t, people in enumerate(frames):
        if len(people) == 0:
            continue
        def centre_scale(p):
            ok = p[:NUM_BODY, 2] > 0
            if not ok.any():
                return np.array([np.inf, np.inf]), 0.0
            xy = p[:NUM_BODY][ok, :2]
            return xy.mean(0), float(np.ptp(xy[:, 0]) + np.ptp(xy[:, 1]))
        if prev is None:
            scores = [centre_scale(p)[1] * p[:NUM_BODY, 2].sum() for p in people]
            pick = int(np.argmax(scores))
        else:
            pc, ps = centre_scale(prev)
            dists = [np.linalg.norm(centre_scale(p)[0] - pc) for p in people]
            pick = int(np.argmin(dists))
            if len(people) > 1 and (not np.isfinite(dists[pick]) or dists[pick] > max(ps, 1.0)):
                continue  # nobody near the tracked person among several: treat as missing
        out[t] = people[pick]
        prev = people[pick]
    return out


def read_openpose(folder: str | os.PathLike, fps: float | None = None,
                  size: tuple[int, int] | None = None, layout: str = "auto") -> PoseSequence:
    """Read a folder of per-frame OpenPose JSON files (sorted by name) into a PoseSequence.

    OpenPose JSON has no fps or frame size: pass them (or take them from the matching video);
    otherwise fps defaults to 30 and the size to the smallest frame holding every point, with a
    warning. `layout`: 'BODY_25', 'BODY_25B' or 'auto' (decided from the keypoints). With several
    people per frame, the most prominent person at the start is tracked.
    """
    folder = Path(folder)
    if folder.is_file():
        raise DancenowError(f"{folder} is a file, not poses: a pose path is a .npz file or a folder of OpenPose JSON files")
    if not folder.is_dir():
        raise DancenowError(f"OpenPose folder not found: {folder} (a pose path not ending in .npz is read as a folder of OpenPose JSON files)")
    files = sorted(folder.glob("*.json"))
    if not files:
        raise DancenowError(f"no .json files in {folder}")
    raw: list[list[dict]] = []
    tagged = None
    for f in files:
        try:
            doc = json.loads(f.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DancenowError(f"{f} is not OpenPose JSON ({type(e).__name__})") from None
        except OSError as e:
            raise DancenowError(f"cannot read {f}: {e.strerror or e}") from None
        raw.append(_people(doc, str(f)))
        mark = doc.get("dancenow")
        tagged = tagged or (mark.get("layout") if isinstance(mark, dict) else None)
    if layout == "auto" and tagged in ("BODY_25", "BODY_25B"):
        layout = tagged  # written by us: no need to guess
    elif layout == "auto":
        layout = _guess_layout(raw)
        if layout == "BODY_25B":
            log.warning("%s looks like OpenPose BODY_25B: mapping it onto BODY_25", folder)
    if layout not in ("BODY_25", "BODY_25B"):
        raise DancenowError(f"unknown OpenPose layout {layout!r}: use BODY_25 or BODY_25B")
    frames = [[_person_array(p, str(files[i]), layout) for p in people] for i, people in enumerate(raw)]
    kp = _pick_tracked(frames)
    # OpenPose writes "not found" as 0,0,0, but some outputs carry a confidence on a point at
    # exactly x = 0 or y = 0 (seen in Pose2Sim's cam01): no real detection lands exactly there.
    kp[(kp[..., 0] == 0) | (kp[..., 1] == 0)] = 0
    if fps is None:
        log.warning("%s: OpenPose JSON carries no frame rate; assuming %g fps (pass fps or a matching video)", folder, DEFAULT_FPS)
        fps = DEFAULT_FPS
    if size is None:
        ok = kp[..., 2] > 0
        w = int(np.ceil(kp[..., 0][ok].max())) + 1 if ok.any() else 640
        h = int(np.ceil(kp[..., 1][ok].max())) + 1 if ok.any() else 480
        log.warning("%s: OpenPose JSON carries no frame size; assuming %dx%d (pass size or a matching video)", folder, w, h)
        size = (max(w, 1), max(h, 1))
    fps, size = _check_frame(fps, size, str(folder))
    return PoseSequence(kp, fps, size[0], size[1])


def write_openpose(seq: PoseSequence, folder: str | os.PathLike, stem: str = "frame") -> Path:
    """Write one OpenPose JSON file per frame (`{stem}_{t:012d}_keypoints.json`), atomically
    as a folder. Missing keypoints are written as 0,0,0 as OpenPose does."""
    folder = Path(folder)
    with atomic_dir(folder) as tmp:
        for t, kp in enumerate(seq.keypoints):
            person = {
                "person_id": [-1],
                "pose_keypoints_2d": [float(v) for v in kp[BODY].ravel()],
                "face_keypoints_2d": [float(v) for v in kp[FACE].ravel()],
                "hand_left_keypoints_2d": [float(v) for v in kp[LEFT_HAND].ravel()],
                "hand_right_keypoints_2d": [float(v) for v in kp[RIGHT_HAND].ravel()],
                "pose_keypoints_3d": [], "face_keypoints_3d": [],
                "hand_left_keypoints_3d": [], "hand_right_keypoints_3d": [],
            }
            people = [person] if (kp[:, 2] > 0).any() else []
            (tmp / f"{stem}_{t:012d}_keypoints.json").write_text(json.dumps({"version": 1.3, "people": people, "dancenow": {"layout": "BODY_25"}}))
    return folder


# ----------------------------------------------------------------------------- dispatch

def is_pose_path(path: str | os.PathLike) -> bool:
    """Whether `path` names poses rather than a video: a `.npz` file or an existing folder."""
    path = Path(path)
    return path.suffix.lower() == ".npz" or path.is_dir()


def load_poses(path: str | os.PathLike, fps: float | None = None,
               size: tuple[int, int] | None = None, video: str | os.PathLike | None = None) -> PoseSequence:
    """Load a `.npz` pose file or an OpenPose JSON folder. An OpenPose folder stores no frame
    rate or size: they come from `fps`/`size`, else from the matching `video`, else defaults."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        return load_npz(path)
    if video is not None and (fps is None or size is None):
        from dancenow.video import probe

        info = probe(video)
        fps, size = fps or info.fps, size or info.size
    return read_openpose(path, fps=fps, size=size)


def save_poses(seq: PoseSequence, path: str | os.PathLike) -> Path:
    """Save to a `.npz` file, or to an OpenPose JSON folder for any other path."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        return save_npz(seq, path)
    return write_openpose(seq, path)
