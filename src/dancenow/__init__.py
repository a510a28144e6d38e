"""dancenow: "Do as I do" motion transfer, choreography and dance coaching from pose.

Data flows one way: video -> poses -> normalized poses -> label images -> frames -> video.
"""

from dancenow.errors import DancenowError
from dancenow.keypoints import PoseSequence

__all__ = ["DancenowError", "PoseSequence"]
__version__ = "0.1.0"
