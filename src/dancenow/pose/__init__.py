"""The pose stage: MediaPipe Holistic detection of one tracked person, converted to our
OpenPose layout, then gap filling and temporal smoothing. Importing this package is cheap:
mediapipe loads only when a detector is built.

    from dancenow.pose import PoseConfig, detect_video
    seq = detect_video("dance.mp4", PoseConfig(person=(640, 360)))

Modules: `config` (PoseConfig, model files), `models` (the MediaPipe detector and Holistic),
`mediapipe_convert` (MediaPipe landmarks -> OpenPose layout), `track` (following one person),
`smooth` (left/right repair, gap filling, smoothing), `detect` (the public calls).
"""

from dancenow.pose.config import PoseConfig, check_pose_model
from dancenow.pose.detect import detect_frames, detect_image, detect_to_file, detect_video, iter_keypoints
from dancenow.pose.models import PersonCandidate, PersonDetector, PersonSegmenter
from dancenow.pose.smooth import SmoothConfig, fill_gaps, fix_left_right, one_euro, smooth_poses
from dancenow.pose.track import PersonTracker, TrackStats

__all__ = [
    "PoseConfig", "SmoothConfig", "detect_frames", "detect_video", "detect_image", "detect_to_file", "iter_keypoints",
    "smooth_poses", "fill_gaps", "fix_left_right", "one_euro", "check_pose_model", "PersonTracker", "PersonDetector",
    "PersonCandidate", "PersonSegmenter", "TrackStats",
]
