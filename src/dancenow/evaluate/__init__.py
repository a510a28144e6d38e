"""Evaluation: the "Everybody Dance Now" metrics, so quality is measured and comparable.

SSIM, PSNR and LPIPS over the whole frame, the person's box and a face crop; the pose distance (detector run on
the generated frames vs the input poses) and missed detections per body part; frames/s.

  metrics     ssim, psnr (equal to scikit-image's)
  perceptual  LPIPS v0.1 without torchvision, weights from local files only
  regions     the person's box and the face crop
  posedist    pose distance and missed detections
  report      EvalReport, the table, JSON, markdown and the worst/best grid
  pipeline    evaluate_pairs, evaluate_videos (streaming)
  model_eval  evaluate_model (a trained model on held-out frames)
"""

from dancenow.evaluate.metrics import psnr, ssim
from dancenow.evaluate.perceptual import LPIPS, LpipsUnavailable, load_lpips
from dancenow.evaluate.pipeline import EvalConfig, evaluate_pairs, evaluate_videos
from dancenow.evaluate.posedist import PartDistance, PoseDistance, detect_pose_distance, pose_distance
from dancenow.evaluate.regions import FACE_FRACTION, PERSON_MARGIN, Box, face_box, face_center, person_box
from dancenow.evaluate.report import EvalReport, FrameScores, write_report
from dancenow.evaluate.model_eval import evaluate_model, evaluate_to_file


__all__ = [
    "ssim", "psnr", "LPIPS", "LpipsUnavailable", "load_lpips", "EvalConfig", "evaluate_pairs",
    "evaluate_videos", "evaluate_model", "PartDistance", "PoseDistance", "pose_distance",
    "detect_pose_distance", "FACE_FRACTION", "PERSON_MARGIN", "Box", "face_box", "face_center", "person_box", "EvalReport",
    "FrameScores", "write_report", "evaluate_to_file",
]
