"""The pose stage: MediaPipe Holistic detection of one tracked person, converted to our
OpenPose layout, then gap filling and temporal smoothing. The only package that imports
mediapipe (lazily, inside the detector: importing this package is cheap).

    from dancenow.pose import PoseConfig, detect_video
    seq = detect_video("dance.mp4", PoseConfig(person=(640, 360)))
"""

from dancenow.pose.detect import (
    PersonCandidate, PersonDetector, PersonTracker, PoseConfig, TrackStats, check_pose_model,
    detect_frames, detect_image, detect_video, iter_keypoints,
)
from dancenow.pose.smooth import SmoothConfig, fill_gaps, fix_left_right, one_euro, smooth_poses

__all__ = [
    "PoseConfig", "SmoothConfig", "detect_frames", "detect_video", "detect_image", "iter_keypoints",
    "smooth_poses", "fill_gaps", "fix_left_right", "one_euro", "check_pose_model", "PersonTracker", "PersonDetector",
    "PersonCandidate", "TrackStats",
]
