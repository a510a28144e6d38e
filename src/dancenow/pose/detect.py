"""Pose detection with MediaPipe Holistic, tracking one person through a video.

Holistic (legacy `mediapipe.solutions`, model complexity 1, shipped in the wheel) finds the
body (33 landmarks), the face mesh and both hands of *one* person per image, and in video mode
follows that person from frame to frame by itself. Left alone in a crowd it re-detects whoever
its detector scores highest whenever it loses track, and so can jump to a bystander. We
therefore wrap it in a small tracker:

1. Acquire: on the first frame (and until someone is found) MediaPipe's person detector (the
   BlazePose detector Holistic uses inside, run on its own so we see every candidate) lists
   the people; we take the most prominent one (largest body circle x score), or the one under
   `PoseConfig.person` (a point on the person, in first-frame pixels; the detector also runs
   on crops around that point, since it misses people much smaller than the image).
2. Track: Holistic runs on a crop (a "window", about 3.6 body radii across, slid inside the
   frame) around the tracked person, with everything farther than `margin` from the person's
   box painted grey: nobody else can be (re-)detected there. The window moves only when the
   person nears its edge, because Holistic's own frame-to-frame tracking works in the crop's
   coordinates. (A tighter crop would not do: the detector misses people who fill the image.)
3. Check: every new pose must be where the tracked person can be (its centre within a distance
   that grows with the time since the last accepted pose, its size similar). A pose that fails
   is dropped (the frame is missing) and Holistic is reset so that it re-detects, with only the
   person's surroundings visible. While the person is lost the window and the allowed distance
   grow; a pose away from the last one after more than half a second must also match the
   person's clothing colours (a hue/saturation histogram of the torso).
4. Afterwards (whole clips only, `detect_frames`), stretches where MediaPipe swapped left and
   right are repaired (`smooth.fix_left_right`), then gaps are filled and tracks smoothed.

Frames without the person are all-missing (confidence 0), never an error.

Output: a `PoseSequence` in our OpenPose layout (see `mediapipe_convert`): x, y in pixels of
the input frames; body confidence = MediaPipe's visibility; face and hand points 1.0 where
Holistic found the face or hand (it gives no per-point score).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from dancenow.errors import DancenowError
from dancenow.pose.mediapipe_convert import (
    body25_from_pose, face70_from_mesh, hand21_from_mediapipe, to_pixels,
)
from dancenow.pose.smooth import SmoothConfig, fix_left_right, smooth_poses
from dancenow.poses import BODY, FACE, LEFT_HAND, NUM_JOINTS, RIGHT_HAND, PoseSequence

log = logging.getLogger(__name__)

# The pose landmark model of each complexity; only "full" (1) ships in the mediapipe wheel.
POSE_MODEL_FILES = {0: "pose_landmark_lite.tflite", 1: "pose_landmark_full.tflite", 2: "pose_landmark_heavy.tflite"}


@dataclass(frozen=True)
class PoseConfig:
    """What to detect and how to follow the person.

    model_complexity: MediaPipe's pose landmark model: 1 (full, ships with mediapipe). 0 (lite)
        and 2 (heavy) work only once their .tflite file has been put beside the full one (see
        `check_pose_model`); nothing is downloaded.
    face, hands: detect the face (70 points) and hands (21 each); with both off, the faster
        pose-only MediaPipe model runs.
    person: (x, y) pixels of a point on the person to follow, in the first frame (None: the
        most prominent person at the start).
    smooth: temporal gap filling and smoothing applied to the result (None: raw detections).
    refine_face: MediaPipe's iris model, so pupils are the iris centres rather than the eye
        contour centres (about 12% slower).
    track: follow one person with a crop window and identity checks (module docstring);
        False runs plain Holistic on whole frames (it picks its own person, and may switch).
    min_visibility: body joints whose MediaPipe visibility is below this are missing.
    min_detection_confidence, min_tracking_confidence: MediaPipe's thresholds.
    margin: the region left visible around the person's box, in body heights on each side
        (the rest of the crop is painted grey so that nobody else can be detected there).
    fix_flips: undo stretches of frames where MediaPipe swapped the left and right arms, legs
        or eyes/ears (it sometimes flips which way a person faces, e.g. when the face is turned
        away); see `smooth.fix_left_right`.
    """

    model_complexity: int = 1
    face: bool = True
    hands: bool = True
    person: tuple[float, float] | None = None
    smooth: SmoothConfig | None = SmoothConfig()
    refine_face: bool = False
    track: bool = True
    min_visibility: float = 0.1
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    margin: float = 0.4
    fix_flips: bool = True

    def __post_init__(self) -> None:
        if self.model_complexity not in POSE_MODEL_FILES:
            raise DancenowError(f"model_complexity must be 0, 1 or 2, got {self.model_complexity}")
        if self.person is not None and len(self.person) != 2:
            raise DancenowError(f"person must be a point (x, y) in pixels, got {self.person!r}")
        if not 0.0 <= self.min_visibility <= 1.0:
            raise DancenowError(f"min_visibility must be in [0, 1], got {self.min_visibility}")


def mediapipe_module_dir() -> Path:
    """The folder of the installed mediapipe package's model files (`.../mediapipe/modules`)."""
    import importlib.util

    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.origin:
        raise DancenowError("mediapipe is not installed: pip install mediapipe==0.10.21")
    return Path(spec.origin).parent / "modules"


def check_pose_model(model_complexity: int) -> Path:
    """The path of the pose landmark model for `model_complexity`; a clear error when it is absent
    (mediapipe would otherwise try to download it, and we never download at run time)."""
    path = mediapipe_module_dir() / "pose_landmark" / POSE_MODEL_FILES[model_complexity]
    if not path.is_file():
        raise DancenowError(
            f"model_complexity={model_complexity} needs {path.name}, which mediapipe does not ship "
            f"(only {POSE_MODEL_FILES[1]}, model_complexity=1, does): copy {path.name} from the npm "
            f"package @mediapipe/pose to {path}, or use model_complexity=1")
    return path


# ----------------------------------------------------------------------------- MediaPipe wrappers

_DETECTOR_GRAPH = """
input_stream: "image"
output_stream: "detections"
node {
  calculator: "PoseDetectionCpu"
  input_stream: "IMAGE:image"
  output_stream: "DETECTIONS:detections"
}
"""


@dataclass(frozen=True)
class PersonCandidate:
    """A person found by the detector: `centre` (x, y) is the hip midpoint and `radius` the
    radius of a circle about it holding the whole body, both in frame pixels."""

    centre: tuple[float, float]
    radius: float
    score: float

    @property
    def box(self) -> tuple[float, float, float, float]:
        (x, y), r = self.centre, self.radius
        return x - r, y - r, x + r, y + r


class PersonDetector:
    """MediaPipe's BlazePose person detector (the one inside Holistic) returning every person it
    finds, not only the best. Needs no file beyond the mediapipe wheel."""

    def __init__(self) -> None:
        from google.protobuf import text_format
        from mediapipe.framework import calculator_pb2
        from mediapipe.python.solution_base import SolutionBase

        graph = text_format.Parse(_DETECTOR_GRAPH, calculator_pb2.CalculatorGraphConfig())
        self._solution = SolutionBase(graph_config=graph)

    def __call__(self, image: np.ndarray, offset: tuple[int, int] = (0, 0)) -> list[PersonCandidate]:
        """People in `image` (RGB uint8); coordinates shifted by `offset` (when `image` is a crop)."""
        h, w = image.shape[:2]
        res = self._solution.process(np.ascontiguousarray(image))
        out = []
        for det in res.detections or []:
            kps = det.location_data.relative_keypoints
            # keypoint 0: hip midpoint; keypoint 1: a point on the circle holding the full body
            c = np.array([kps[0].x * w, kps[0].y * h])
            r = float(np.hypot(kps[1].x * w - c[0], kps[1].y * h - c[1]))
            out.append(PersonCandidate((float(c[0] + offset[0]), float(c[1] + offset[1])), r, float(det.score[0])))
        return out

    def close(self) -> None:
        self._solution.close()


def _landmark_array(landmarks) -> np.ndarray:
    """A MediaPipe NormalizedLandmarkList -> (n, 3) float32 [x, y, visibility] (normalized)."""
    return np.array([(p.x, p.y, p.visibility) for p in landmarks.landmark], np.float32)


class _Holistic:
    """MediaPipe Holistic (or Pose when neither face nor hands is wanted) in video mode, returning
    our (137, 3) keypoints in the pixels of the image it was given."""

    def __init__(self, config: PoseConfig) -> None:
        import mediapipe as mp

        check_pose_model(config.model_complexity)
        self.config = config
        kwargs = dict(static_image_mode=False, model_complexity=config.model_complexity,
                      smooth_landmarks=False,  # we smooth in frame pixels afterwards (smooth.py)
                      min_detection_confidence=config.min_detection_confidence,
                      min_tracking_confidence=config.min_tracking_confidence)
        if config.face or config.hands:
            self._solution = mp.solutions.holistic.Holistic(refine_face_landmarks=config.refine_face, **kwargs)
        else:
            self._solution = mp.solutions.pose.Pose(**kwargs)
        self._used = False

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """(137, 3) keypoints of the person Holistic follows in `image`, pixels of `image`."""
        h, w = image.shape[:2]
        self._used = True
        res = self._solution.process(image)
        kp = np.zeros((NUM_JOINTS, 3), np.float32)
        if res.pose_landmarks is None:
            return kp
        pose = _landmark_array(res.pose_landmarks)
        kp[BODY] = body25_from_pose(to_pixels(pose[:, :2], w, h), pose[:, 2], self.config.min_visibility)
        if self.config.face and getattr(res, "face_landmarks", None) is not None:
            kp[FACE] = face70_from_mesh(to_pixels(_landmark_array(res.face_landmarks)[:, :2], w, h))
        if self.config.hands:
            for part, hand in ((LEFT_HAND, res.left_hand_landmarks), (RIGHT_HAND, res.right_hand_landmarks)):
                if hand is not None:
                    kp[part] = hand21_from_mediapipe(to_pixels(_landmark_array(hand)[:, :2], w, h))
        return kp

    def reset(self) -> None:
        """Forget the followed person: the next image starts with a fresh detection."""
        if self._used:  # restarting the graph reloads its models (~0.2 s): not when still fresh
            self._solution.reset()
            self._used = False

    def close(self) -> None:
        self._solution.close()


# ----------------------------------------------------------------------------- tracking helpers

def _body_extent(kp: np.ndarray) -> tuple[np.ndarray, np.ndarray, float] | None:
    """(box (x0, y0, x1, y1), centre (x, y), radius) of a pose's present body joints, in pixels.
    The centre is that of shoulders and hips (steadier than the box when limbs wave); the
    radius is the distance from it to the farthest joint, like the body circle of MediaPipe's
    detector."""
    body = kp[BODY]
    ok = body[:, 2] > 0
    if ok.sum() < 3:
        return None
    xy = body[ok, :2]
    box = np.concatenate([xy.min(0), xy.max(0)])
    core = [2, 5, 9, 12]  # R/L shoulder, R/L hip
    core_ok = body[core, 2] > 0
    centre = body[core][core_ok, :2].mean(0) if core_ok.sum() >= 2 else 0.5 * (box[:2] + box[2:])
    radius = float(np.linalg.norm(xy - centre, axis=1).max())
    return box, centre, max(radius, 1.0)


def _torso_histogram(frame: np.ndarray, kp: np.ndarray) -> np.ndarray | None:
    """A normalized hue x saturation histogram of the torso (shoulders to hips, shrunk toward its
    centre so that arms and background mostly stay out); None when the torso is not visible."""
    import cv2

    body = kp[BODY]
    idx = [2, 5, 12, 9]  # R shoulder, L shoulder, L hip, R hip: a quadrilateral
    if (body[idx, 2] <= 0.3).any():
        return None
    quad = body[idx, :2]
    quad = quad.mean(0) + 0.7 * (quad - quad.mean(0))
    h, w = frame.shape[:2]
    x0, y0 = np.floor(np.clip(quad.min(0), 0, [w - 1, h - 1])).astype(int)
    x1, y1 = np.ceil(np.clip(quad.max(0), 0, [w - 1, h - 1])).astype(int) + 1
    if (x1 - x0) * (y1 - y0) < 64:
        return None
    crop = np.ascontiguousarray(frame[y0:y1, x0:x1])
    mask = np.zeros(crop.shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, np.round(quad - [x0, y0]).astype(np.int32), 255)
    if (mask > 0).sum() < 64:
        return None
    hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)
    # 16 hue x 4 saturation bins; value (brightness) is left out: it changes with lighting
    hist = cv2.calcHist([hsv], [0, 1], mask, [16, 4], [0, 180, 0, 256]).astype(np.float32)
    return hist / max(float(hist.sum()), 1.0)


def _histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Bhattacharyya distance of two normalized histograms: 0 same, 1 disjoint."""
    bc = float(np.sqrt(a * b).sum())
    return float(np.sqrt(max(0.0, 1.0 - bc)))


@dataclass
class TrackStats:
    """What happened while tracking (for logs and tests)."""

    frames: int = 0
    missing: int = 0  # frames without the person
    rejected: int = 0  # poses dropped as not the tracked person
    acquisitions: int = 0  # times a person was picked by the detector
    seconds: float = 0.0


def _clip_box(box, shape) -> np.ndarray:
    """Integer (x0, y0, x1, y1) of `box` clipped to a frame of `shape`; never empty."""
    h, w = shape[:2]
    x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x1, y1 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
    return np.array([min(x0, w - 1), min(y0, h - 1), max(x1, x0 + 1), max(y1, y0 + 1)])


def _slide_box(centre: np.ndarray, half: float, shape) -> np.ndarray:
    """A box of side 2 * half (at most the frame's size) about `centre`, slid into the frame
    rather than cut by its edge: a person near the edge keeps room around them, so that they
    fill no more of the crop than elsewhere (MediaPipe's detector misses people who fill it)."""
    h, w = shape[:2]
    out = []
    for c, size in ((centre[0], w), (centre[1], h)):
        side = min(int(round(2 * half)), size)
        lo = int(np.clip(round(c - side / 2), 0, size - side))
        out.append((lo, lo + side))
    return np.array([out[0][0], out[1][0], out[0][1], out[1][1]])


def _area(b) -> float:
    return float((b[2] - b[0]) * (b[3] - b[1]))


class PersonTracker:
    """Follows one person through consecutive frames; `step(frame)` returns (137, 3) keypoints in
    frame pixels (all zero when the person is not found). See the module docstring.

    Distances are in units of the person's radius r (hip-shoulder centre to the farthest joint,
    about half the body height when standing)."""

    WINDOW = 1.8  # crop half-size, r: MediaPipe's detector misses people filling a tighter crop
    JUMP = 0.45  # allowed centre shift between consecutive frames, r
    SPEED = 3.0  # r per second: how fast the allowed region grows while the person is lost
    SIZE_RATIO = 1.7  # allowed change of radius between accepted poses (either way)
    REACQUIRE_S = 0.5  # lost longer than this: a pose away from the last one must match in colour
    # Bhattacharyya distance of torso colours accepted as the same person. Measured: the same
    # person over 1.5-4 s 0.05-0.35 (0.55 for a dancer turning her back), the Pose2Sim
    # participant vs the bystander 0.89-0.98.
    APPEARANCE_MAX = 0.6

    def __init__(self, config: PoseConfig, fps: float) -> None:
        self.config = config
        self.fps = float(fps)
        self.stats = TrackStats()
        self._holistic = _Holistic(config)
        self._detector: PersonDetector | None = None
        self._t = -1
        self._last: np.ndarray | None = None  # last accepted keypoints (frame pixels)
        self._last_t = -1
        self._centre = np.zeros(2)  # of the tracked person, px
        self._radius = 0.0  # of the tracked person, px (slowly updated)
        self._appearance: np.ndarray | None = None  # torso colour histogram
        self.window: np.ndarray | None = None  # the current crop (x0, y0, x1, y1), frame px
        self.mask: np.ndarray | None = None  # the region left visible inside the crop
        self._tight = False  # show only the person (after an acquisition or a rejection)

    # -- acquisition

    def _candidates(self, frame: np.ndarray) -> list[PersonCandidate]:
        if self._detector is None:
            self._detector = PersonDetector()
        found = self._detector(frame)
        if self.config.person is not None:
            # also look in crops around the point: the detector misses people much smaller than
            # the image, and people filling most of it, so try a few crop sizes
            h, w = frame.shape[:2]
            px, py = self.config.person
            for frac in (0.15, 0.25, 0.35):
                half = int(frac * min(w, h))
                x0 = int(np.clip(px - half, 0, max(0, w - 2 * half)))
                y0 = int(np.clip(py - half, 0, max(0, h - 2 * half)))
                found += self._detector(frame[y0:y0 + 2 * half, x0:x0 + 2 * half], offset=(x0, y0))
        return found

    def _pick(self, found: list[PersonCandidate]) -> PersonCandidate | None:
        if not found:
            return None
        if self.config.person is not None:
            p = np.asarray(self.config.person, np.float64)
            # the candidate whose body circle holds the point most centrally
            rel = [np.hypot(*(p - c.centre)) / c.radius for c in found]
            best = int(np.argmin(rel))
            return found[best] if rel[best] <= 1.0 else None
        return max(found, key=lambda c: c.radius * c.score)

    # -- windows

    def _set_window(self, centre: np.ndarray, radius: float, box: np.ndarray, lost_s: float,
                    shape) -> None:
        """Place the crop about the person (moving it only when the person nears its edge or it
        is much too large), and the visible region within it (the rest is painted grey)."""
        grow = self.SPEED * lost_s * radius  # how far the person may have gone since last seen
        half = self.WINDOW * radius + grow
        fresh = _slide_box(centre, half, shape)
        need = _clip_box(box + np.array([-1, -1, 1, 1]) * (0.3 * radius + grow), shape)
        w = self.window
        keep = (w is not None and (w[:2] <= need[:2]).all() and (w[2:] >= need[2:]).all()
                and _area(w) <= 1.6 * _area(fresh))
        if not keep:
            self.window = fresh
        # right after an acquisition or a rejected pose, show Holistic little beyond the person,
        # so that its own detector cannot pick someone nearby again
        margin = 0.1 if self._tight else self.config.margin * 2  # margin is in body heights (2r)
        self.mask = _clip_box(box + np.array([-1, -1, 1, 1]) * (margin * radius + grow), shape)

    def _crop(self, frame: np.ndarray) -> np.ndarray:
        """The window's pixels, grey outside the visible region (`mask`) and the frame."""
        x0, y0, x1, y1 = self.window
        mx0, my0, mx1, my1 = self.mask  # within the frame
        h, w = frame.shape[:2]
        if (x0, y0, x1, y1) == (0, 0, w, h) and (mx0, my0, mx1, my1) == (0, 0, w, h):
            return np.ascontiguousarray(frame)
        out = np.full((y1 - y0, x1 - x0, 3), 128, np.uint8)  # mid grey: nobody to detect there
        a0, b0, a1, b1 = max(mx0, x0), max(my0, y0), min(mx1, x1), min(my1, y1)
        if a1 > a0 and b1 > b0:
            out[b0 - y0:b1 - y0, a0 - x0:a1 - x0] = frame[b0:b1, a0:a1]
        return out

    # -- the step

    @staticmethod
    def _on_candidate(kp: np.ndarray, centre: np.ndarray, radius: float, cand: PersonCandidate) -> bool:
        """Is a pose (its centre and radius) the person the detector found as `cand`?"""
        hip = kp[8] if kp[8, 2] > 0 else None  # MidHip: the detector's centre is the hip midpoint
        d = np.hypot(*((hip[:2] if hip is not None else centre) - cand.centre))
        return d <= 0.6 * cand.radius and 0.3 * cand.radius <= radius <= 3.0 * cand.radius

    def _consistent(self, centre: np.ndarray, radius: float, kp: np.ndarray, frame: np.ndarray) -> bool:
        """Could a pose at `centre` with `radius` be the tracked person, given the last accepted
        pose and the time since?"""
        dt = (self._t - self._last_t) / self.fps  # seconds since the last accepted pose
        d = float(np.hypot(*(centre - self._centre))) / self._radius
        ratio = radius / self._radius
        if max(ratio, 1 / ratio) > self.SIZE_RATIO and d > 0.5 * self.JUMP:
            return False  # other size, elsewhere: someone else (same place: limbs came or went)
        if d > self.JUMP + self.SPEED * dt:
            return False
        if dt > self.REACQUIRE_S and d > self.JUMP and self._appearance is not None:
            hist = _torso_histogram(frame, kp)
            if hist is None or _histogram_distance(hist, self._appearance) > self.APPEARANCE_MAX:
                return False
        return True

    def _accept(self, kp: np.ndarray, centre: np.ndarray, radius: float, frame: np.ndarray) -> np.ndarray:
        # the radius follows slowly: a raised arm should not make the person "bigger" at once
        self._radius = radius if self._last is None else 0.8 * self._radius + 0.2 * radius
        self._centre = centre
        self._last, self._last_t = kp, self._t
        self._tight = False
        if self._appearance is None or self._t % 5 == 0:  # colours change slowly: sample them
            hist = _torso_histogram(frame, kp)
            if hist is not None:
                self._appearance = hist if self._appearance is None else 0.9 * self._appearance + 0.1 * hist
        return kp

    def step(self, frame: np.ndarray) -> np.ndarray:
        """Keypoints (137, 3) of the tracked person in `frame` (RGB uint8), frame pixels."""
        self._t += 1
        self.stats.frames += 1
        if self.config.track:
            kp = self._track(frame)
        else:
            kp = self._holistic(np.ascontiguousarray(frame))
        if not (kp[BODY, 2] > 0).any():
            self.stats.missing += 1
        return kp

    def _run(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, float] | None:
        """Holistic on the current window: (keypoints in frame pixels, centre, radius) or None."""
        x0, y0 = self.window[:2]
        kp = self._holistic(self._crop(frame))
        present = kp[:, 2] > 0
        kp[present, 0] += x0
        kp[present, 1] += y0
        extent = _body_extent(kp)
        return None if extent is None else (kp, extent[1], extent[2])

    def _acquire(self, frame: np.ndarray) -> np.ndarray | None:
        """Pick a person with the detector and confirm them with Holistic; keypoints or None."""
        found = self._candidates(frame)
        cand = self._pick(found)
        if cand is None:
            if self.config.person is not None and self._t >= self.fps:
                raise DancenowError(
                    f"no person found at {self.config.person} in the first second: give a point "
                    "on the person's body, in pixels of the first frame")
            return None
        self.stats.acquisitions += 1
        for tight in (True, False):  # first only the person shows, then the whole window
            self._holistic.reset()
            self._tight = tight
            self._set_window(np.asarray(cand.centre), cand.radius, np.asarray(cand.box), 0.0, frame.shape)
            got = self._run(frame)
            if got is None:
                continue
            kp, centre, radius = got
            if self._on_candidate(kp, centre, radius, cand):
                return self._accept(kp, centre, radius, frame)
            if self.config.person is None and any(self._on_candidate(kp, centre, radius, c) for c in found):
                # Holistic settled on another of the people found: with no person asked for,
                # any of them is a fair "most prominent" pick
                return self._accept(kp, centre, radius, frame)
        self.stats.rejected += 1
        self._tight = True
        self._holistic.reset()
        return None

    def _track(self, frame: np.ndarray) -> np.ndarray:
        empty = np.zeros((NUM_JOINTS, 3), np.float32)
        if self._last is None:
            kp = self._acquire(frame)
            return empty if kp is None else kp
        box, _, _ = _body_extent(self._last)
        self._set_window(self._centre, self._radius, box, (self._t - self._last_t - 1) / self.fps, frame.shape)
        got = self._run(frame)
        if got is None:
            return empty
        kp, centre, radius = got
        if not self._consistent(centre, radius, kp, frame):
            self.stats.rejected += 1
            self._tight = True
            self._holistic.reset()  # Holistic is following someone else: make it look again
            return empty
        return self._accept(kp, centre, radius, frame)

    def close(self) -> None:
        self._holistic.close()
        if self._detector is not None:
            self._detector.close()


# ----------------------------------------------------------------------------- public API

def detect_frames(frames: Iterable[np.ndarray], fps: float, config: PoseConfig = PoseConfig(),
                  total: int | None = None, progress: bool = True) -> PoseSequence:
    """Detect one person's pose in every frame of a clip.

    frames: RGB uint8 (H, W, 3) frames in order (any iterable, consumed once; all the same size).
    fps: their frame rate. total: the number of frames, for the progress bar only.
    Returns a PoseSequence (x, y in pixels of the frames) with one entry per frame; frames
    without the person are all-missing. Smoothed by `config.smooth` unless it is None.
    """
    from tqdm import tqdm

    if not fps > 0:
        raise DancenowError(f"invalid frame rate {fps}")
    tracker = PersonTracker(config, fps)
    out: list[np.ndarray] = []
    size = None
    start = time.perf_counter()
    try:
        bar = tqdm(frames, total=total, unit="frame", desc="pose", disable=not progress, leave=False)
        for frame in bar:
            frame = np.asarray(frame)
            if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                raise DancenowError(f"frames must be RGB uint8 (H, W, 3), got {frame.dtype} {frame.shape}")
            if size is None:
                size = frame.shape[:2]
            elif frame.shape[:2] != size:
                raise DancenowError(f"frame {len(out)} is {frame.shape[1]}x{frame.shape[0]}, the first was {size[1]}x{size[0]}")
            out.append(tracker.step(frame))
    finally:
        tracker.close()
    if not out:
        raise DancenowError("no frames to detect poses in")
    st = tracker.stats
    st.seconds = time.perf_counter() - start
    log.info("poses: %d frames in %.1f s (%.1f frames/s); no person in %d frame(s)%s",
             st.frames, st.seconds, st.frames / max(st.seconds, 1e-9), st.missing,
             f", {st.rejected} pose(s) dropped as another person" if st.rejected else "")
    seq = PoseSequence(np.stack(out), fps, size[1], size[0])
    if config.fix_flips:
        seq = fix_left_right(seq)
    if config.smooth is not None:
        seq = smooth_poses(seq, config.smooth)
    return seq


def detect_video(path: str | os.PathLike, config: PoseConfig = PoseConfig(), fps: float | None = None,
                 progress: bool = True) -> PoseSequence:
    """Detect poses in a video file (or a still image, a one-frame clip), frames decoded in a
    background thread. fps: resample the video to this rate first (None: its own rate)."""
    from dancenow.video import probe, read_frames

    info = probe(path)
    total = int(round(info.frame_count * (fps / info.fps))) if fps else info.frame_count
    return detect_frames(read_frames(path, fps=fps), fps or info.fps, config, total=total or None, progress=progress)


def detect_image(image: np.ndarray, config: PoseConfig = PoseConfig()) -> PoseSequence:
    """The pose in one RGB uint8 image, as a one-frame PoseSequence (all-missing if nobody)."""
    from dancenow.video import STILL_FPS

    return detect_frames([image], STILL_FPS, config, total=1, progress=False)


def iter_keypoints(frames: Iterable[np.ndarray], fps: float, config: PoseConfig = PoseConfig()) -> Iterator[np.ndarray]:
    """Raw per-frame (137, 3) keypoints as they are found (no smoothing): for live use."""
    tracker = PersonTracker(config, fps)
    try:
        for frame in frames:
            yield tracker.step(np.asarray(frame))
    finally:
        tracker.close()
