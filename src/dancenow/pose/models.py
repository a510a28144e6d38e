"""The MediaPipe models the pose stage runs: the BlazePose person detector (every candidate, not
only the best) and Holistic (body, face and hands of the person it follows), returning our
OpenPose layout. The only module that imports mediapipe (lazily, when a model is built)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dancenow.keypoints import BODY, FACE, LEFT_HAND, NUM_JOINTS, RIGHT_HAND
from dancenow.native_logs import Silence, quiet_environment, silenced
from dancenow.pose.config import PoseConfig, check_pose_model
from dancenow.pose.mediapipe_convert import body25_from_pose, face70_from_mesh, hand21_from_mediapipe, to_pixels

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
        quiet_environment()  # before mediapipe loads
        self._silence = Silence()
        self._silence.start()  # its C++ warnings come from threads, during the first frames
        with silenced(during_construction_only=True):
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
        self._silence.stop()
        self._silence.stop()


def _landmark_array(landmarks) -> np.ndarray:
    """A MediaPipe NormalizedLandmarkList -> (n, 3) float32 [x, y, visibility] (normalized)."""
    return np.array([(p.x, p.y, p.visibility) for p in landmarks.landmark], np.float32)


class HolisticModel:
    """MediaPipe Holistic (or Pose when neither face nor hands is wanted) in video mode, returning
    our (137, 3) keypoints in the pixels of the image it was given."""

    def __init__(self, config: PoseConfig) -> None:
        check_pose_model(config.model_complexity)
        quiet_environment()  # before mediapipe loads
        self._silence = Silence()
        self._silence.start()  # its C++ warnings come from threads, during the first frames
        with silenced(during_construction_only=True):
            import mediapipe as mp

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
        self._silence.stop()


class PersonSegmenter:
    """MediaPipe Pose's person segmentation (BlazePose GHUM, in the wheel) on single images:
    `__call__(image)` returns an (H, W) float32 mask in [0, 1] of the most prominent person (all
    zeros when nobody is found). Sharper on whole bodies than SelfieSegmentation, which is made
    for people near the camera."""

    def __init__(self, model_complexity: int = 1) -> None:
        check_pose_model(model_complexity)
        quiet_environment()  # before mediapipe loads
        self._silence = Silence()
        self._silence.start()  # its C++ warnings come from threads, during the first frames
        with silenced(during_construction_only=True):
            import mediapipe as mp

            self._solution = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=model_complexity,
                                                    enable_segmentation=True)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        res = self._solution.process(np.ascontiguousarray(image))
        if res.segmentation_mask is None:
            return np.zeros(image.shape[:2], np.float32)
        return np.asarray(res.segmentation_mask, np.float32)

    def close(self) -> None:
        self._solution.close()
        self._silence.stop()
