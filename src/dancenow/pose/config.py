"""What the pose stage detects and how it follows the person (`PoseConfig`), and the MediaPipe
model files it needs (only the "full" pose model ships in the mediapipe wheel; nothing is
downloaded)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dancenow.errors import DancenowError
from dancenow.pose.smooth import SmoothConfig

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
