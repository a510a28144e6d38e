"""Tracking one person through a video with MediaPipe Holistic.

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
from dataclasses import dataclass

import numpy as np

from dancenow.errors import DancenowError
from dancenow.keypoints import BODY, NUM_JOINTS
from dancenow.pose.config import PoseConfig
from dancenow.pose.models import HolisticModel, PersonCandidate, PersonDetector

log = logging.getLogger(__name__)


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
        self._holistic = HolisticModel(config)
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
