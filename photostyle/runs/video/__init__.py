"""Video: one look carried through a clip, without flicker.

Frames styled one by one flicker: each optimisation lands somewhere a little different.
The method's own output is a field of local affine colour transforms of the content
(:class:`~photostyle.engine.transforms.Look`), which varies smoothly and moves with the scene. So
only **keyframes** are optimised (the first frame, and again where the scene cuts or the
content has drifted too far from the last keyframe); between them the keyframe's
transforms are carried from frame to frame along the content's optical flow (OpenCV's DIS
flow at the transforms' own resolution) and applied to each full-resolution frame. After a
drift keyframe the old and the new transforms are blended over a few frames, so that the
look does not jump; after a cut it changes at once, as the picture does.

Measures (:class:`FlickerMeter`): **flicker**, the mean colour difference between each
output frame and the previous output frame warped to it by the content's flow, on pixels
where the forward and backward flows agree, divided by the same quantity on the input clip
(1.0: no flicker added); **look fidelity**, each frame's colour distance to the style
(sliced Wasserstein in CIELAB), beside the keyframes'.

Files (:class:`VideoSource`, :class:`VideoSink`): any video FFmpeg reads (PyAV: ``pip
install -e ".[video]"``), or a folder of frames; out to H.264 (or ``codec``) with the frame
rate, frame count, size, audio stream and colour tags of the input, written under a
temporary name and renamed when whole; a folder of PNG frames likewise.
"""

from photostyle.runs.video.clip import MAX_FRAME_PIXELS, ClipInfo, VideoSink, VideoSource
from photostyle.runs.video.flicker import FlickerMeter, look_distance, look_quantiles
from photostyle.runs.video.flow import Flow, consistent
from photostyle.runs.video.method import (
    ClipOutcome,
    KeyframePolicy,
    Propagator,
    VideoOptions,
    apply_to_frame,
    fill_by_colour,
    keyframe_mask_files,
    look_coefficients,
    stylise_clip,
)

__all__ = ["MAX_FRAME_PIXELS", "ClipInfo", "ClipOutcome", "FlickerMeter", "Flow",
           "KeyframePolicy", "Propagator", "VideoOptions", "VideoSink", "VideoSource",
           "apply_to_frame", "consistent", "fill_by_colour", "keyframe_mask_files",
           "look_coefficients", "look_distance", "look_quantiles", "stylise_clip"]
