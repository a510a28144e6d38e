"""Probe every `dancenow` subcommand as a hostile user would, and print one table.

    python bench/probe_cli.py                      # every class, every subcommand (~40-60 min on 2 busy cores)
    python bench/probe_cli.py --commands pose,world --classes numbers,output
    python bench/probe_cli.py --list               # the cases, without running them

Each case runs `python -m dancenow ...` in a subprocess, in a sandbox folder under a temporary
directory that holds small fixtures (a 2 s synthetic video, its poses as .npz and OpenPose JSON,
a BVH, a prepared data folder, a tiny synthesis model, a tiny choreography model, a text file)
and the malformed ones. Every case is bad input of one class (missing, empty, text renamed .mp4,
truncated, zero frames, a folder, malformed JSON/npz/BVH, NaN/inf/negative/huge/tiny numbers,
output = input, output under a file, output of another kind, read-only folder, full disk, a
second writer...), so the only good outcome is a clean error: a non-zero exit, exactly one
`Error:` line and no traceback, nothing left behind, every file that was there before unchanged.

Outcomes counted (a case may count under several):
  clean       non-zero exit, one `Error:` line, no traceback
  messy       non-zero exit without a traceback, but not one `Error:` line (none, or several)
  internal    a bug reported as one line by the CLI's last resort ("internal error ..."): still a bug
  traceback   a Python traceback was printed
  accepted    exit 0 on bad input (listed in the details: some may be harmless)
  destroyed   a file that existed before the case was changed or removed
  unbounded   still running at --timeout seconds (killed)
  disk-fill   tried to write past the file-size limit (EFBIG "File too large", or SIGXFSZ; every
              case runs under a 2 GB RLIMIT_FSIZE so that a probe can never fill the real disk)
  signal      killed by another signal (SIGBUS, SIGSEGV, ...)
  leftovers   failed, and new files or folders remain

The full-disk class mounts a small tmpfs (needs root; skipped otherwise), and so does the
read-only class (a read-only bind mount). Everything is written under one temporary folder,
which is removed at the end (--keep keeps it); no process outlives its case (process groups
are killed at the timeout). Details of every case that is not clean go to --details (JSON).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOOD = "(good)"
OUTCOMES = ("clean", "messy", "internal", "traceback", "accepted", "destroyed", "unbounded", "disk-fill", "signal", "leftovers")
FSIZE_LIMIT = 2 << 30  # bytes any one file of a case may reach


# ----------------------------------------------------------------------------- fixtures

# a small skeleton with the UCY joint names (dancenow.choreo.readers.SKELETONS["ucy54"]), in cm
_JOINTS = [("Hips", None, (0, 90, 0)), ("Spine", "Hips", (0, 10, 0)), ("Neck", "Spine", (0, 40, 0)),
           ("Head", "Neck", (0, 10, 0))]
for _side, _x in (("Left", 1), ("Right", -1)):
    _JOINTS += [(f"{_side}Arm", "Spine", (18 * _x, 35, 0)), (f"{_side}ForeArm", f"{_side}Arm", (28 * _x, 0, 0)),
                (f"{_side}Hand", f"{_side}ForeArm", (25 * _x, 0, 0)), (f"{_side}UpLeg", "Hips", (10 * _x, -5, 0)),
                (f"{_side}Leg", f"{_side}UpLeg", (0, -42, 0)), (f"{_side}Foot", f"{_side}Leg", (0, -42, 0)),
                (f"{_side}ToeBase", f"{_side}Foot", (0, -5, 12))]


def _bvh(frames=60, ft="0.0333333", value=None):
    """A BVH text: the skeleton above dancing a little (sines), `value` in every channel if given."""
    import math

    lines = ["HIERARCHY"]

    def node(name, depth):
        pad = "  " * depth
        parent_off = next(o for n, _, o in _JOINTS if n == name)
        lines.append(f"{pad}{'ROOT' if depth == 0 else 'JOINT'} {name}")
        lines.append(pad + "{")
        lines.append(f"{pad}  OFFSET {parent_off[0]} {parent_off[1]} {parent_off[2]}")
        lines.append(f"{pad}  CHANNELS " + ("6 Xposition Yposition Zposition " if depth == 0 else "3 ") + "Zrotation Xrotation Yrotation")
        kids = [n for n, p, _ in _JOINTS if p == name]
        for k in kids:
            node(k, depth + 1)
        if not kids:
            lines.extend([f"{pad}  End Site", pad + "  {", f"{pad}    OFFSET 0 5 0", pad + "  }"])
        lines.append(pad + "}")

    node("Hips", 0)
    n = 3 + 3 * len(_JOINTS)
    lines += ["MOTION", f"Frames: {frames}", f"Frame Time: {ft}"]
    for t in range(frames):
        row = [value if value is not None else f"{20 * math.sin(0.2 * t + k):.3f}" for k in range(n)]
        if value is None:
            row[1] = "90"
        lines.append(" ".join(str(v) for v in row))
    return "\n".join(lines) + "\n"


def build_fixtures(d: Path) -> None:
    """Good and malformed inputs, built with the library (fast: tiny sizes)."""
    import numpy as np

    from dancenow.keypoints import NUM_JOINTS
    from dancenow.posefile import save_poses
    from dancenow.video import write_video
    from dancenow.world import generate_dance, perform, render_frames

    d.mkdir(parents=True, exist_ok=True)
    size = (96, 96)
    perf = perform("ana", generate_dance(3, 2.0), size)
    write_video(d / "v.mp4", render_frames("ana", perf), perf.poses.fps)
    save_poses(perf.poses, d / "v.npz")
    save_poses(perf.poses, d / "op")
    perf2 = perform("ben", generate_dance(5, 2.0), size)
    write_video(d / "v2.mp4", render_frames("ben", perf2), perf2.poses.fps)
    save_poses(perf2.poses, d / "v2.npz")
    write_video(d / "still.png", render_frames("ana", perf), 30.0)
    (d / "m.bvh").write_text(_bvh())
    (d / "notes.txt").write_text("my notes, not a dancenow file\n")
    (d / "adir").mkdir()
    (d / "adir" / "keep.txt").write_text("keep me\n")
    (d / "empty_dir").mkdir()

    # the tiny models (as the tests make them)
    import torch

    from dancenow.normalize import fit_stats
    from dancenow.synth.config import ExemplarConfig, FaceConfig, GeneratorConfig, SynthConfig
    from dancenow.synth.geometry import Crop
    from dancenow.synth.prepare import prepare
    from dancenow.synth.model import export_model
    from dancenow.synth.networks import build_face_generator, build_generator

    fit_stats(perf.poses).save(d / "stats.json")
    data = prepare(d / "v.mp4", d / "data", size=(32, 32), poses=d / "v.npz", holdout=0.2, progress=False)
    torch.manual_seed(0)
    # whole frames, no exemplars: a model file without a plate or an exemplar bank to build
    cfg = SynthConfig(image_size=(32, 32), plate=False, exemplar=ExemplarConfig(enabled=False),
                      generator=GeneratorConfig(ngf=4, n_downsample=2, n_blocks=1),
                      face=FaceConfig(enabled=True, crop=8, ngf=4, n_downsample=1, n_blocks=1)).validate()
    cfg.save(d / "tiny_config.json")
    export_model(d / "model", cfg, build_generator(cfg), build_face_generator(cfg), data / "body_stats.json",
                 Crop.load(data / "crop.json"), step=0)
    from dancenow.choreo.config import preset as choreo_preset
    from dancenow.choreo.train import train as choreo_train

    ccfg = choreo_preset("quick")
    ccfg.steps, ccfg.checkpoint_every, ccfg.keep = 2, 2, 1
    choreo_train([(str(d / "v.npz"), "a"), (str(d / "v2.npz"), "b")], d / "cmodel", ccfg, threads=1, progress=False)

    # malformed videos
    (d / "empty.mp4").touch()
    (d / "text.mp4").write_text("this is text, renamed .mp4\n")
    raw = (d / "v.mp4").read_bytes()
    (d / "trunc.mp4").write_bytes(raw[: len(raw) // 3])
    (d / "dir.mp4").mkdir()
    import av

    c = av.open(str(d / "zero.mp4"), "w", format="mp4")  # a container with a header and no frames
    s = c.add_stream("libx264", rate=30)
    s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
    c.start_encoding()
    c.close()
    (d / "text.png").write_text("not an image\n")

    # malformed pose files
    def openpose(name, doc_of_frame, n=3):
        f = d / name
        f.mkdir()
        for t in range(n):
            doc = doc_of_frame(t)
            (f / f"x_{t:012d}_keypoints.json").write_text(doc if isinstance(doc, str) else json.dumps(doc))

    person = {"pose_keypoints_2d": [10.0, 20.0, 0.9] * 25}
    openpose("op_null", lambda t: {"version": 1.3, "people": None})
    openpose("op_list", lambda t: {"version": 1.3, "people": [[1, 2, 3]]})
    openpose("op_str", lambda t: {"version": 1.3, "people": [{"pose_keypoints_2d": ["a"] * 75}]})
    openpose("op_count", lambda t: {"version": 1.3, "people": [{"pose_keypoints_2d": [1.0] * 74}]})
    openpose("op_badjson", lambda t: '{"version": 1.3, "people": [')
    openpose("op_nan", lambda t: '{"version": 1.3, "people": [{"pose_keypoints_2d": [' + ",".join(["NaN"] * 75) + "]}]}")
    openpose("op_huge", lambda t: {"version": 1.3, "people": [{"pose_keypoints_2d": [1e30, 1e30, 1.0] * 25}]})
    openpose("op_scalar", lambda t: [1, 2, 3])
    openpose("op_people_str", lambda t: {"version": 1.3, "people": "abc"})
    openpose("op_kp_dict", lambda t: {"version": 1.3, "people": [{"pose_keypoints_2d": {"x": 1}}]})
    openpose("op_ok_one", lambda t: {"version": 1.3, "people": [person]}, n=1)

    kp = np.zeros((30, NUM_JOINTS, 3), np.float32)
    kp[:, :25] = [30, 40, 1]

    def npz(name, **fields):
        base = dict(format=np.array("dancenow.poses"), version=np.array(1), layout=np.array("BODY_25+FACE_70+HAND_21x2"),
                    keypoints=kp, fps=np.array(30.0), size=np.array([96, 96]))
        base.update(fields)
        base = {k: v for k, v in base.items() if v is not None}
        with open(d / name, "wb") as f:
            np.savez(f, **base)

    npz("str_kp.npz", keypoints=np.array([["a"] * 3] * 5))
    npz("size3.npz", size=np.array([96, 96, 3]))
    npz("nan_kp.npz", keypoints=np.full_like(kp, np.nan))
    npz("inf_kp.npz", keypoints=np.full_like(kp, np.inf))
    npz("zero_frames.npz", keypoints=np.zeros((0, NUM_JOINTS, 3), np.float32))
    npz("wrong_joints.npz", keypoints=np.zeros((30, 25, 3), np.float32))
    npz("fps_nan.npz", fps=np.array(np.nan))
    npz("fps_neg.npz", fps=np.array(-30.0))
    npz("fps_huge.npz", fps=np.array(1e12))
    npz("size_neg.npz", size=np.array([-96, 96]))
    npz("size_huge.npz", size=np.array([10 ** 9, 10 ** 9]))
    npz("size_str.npz", size=np.array(["a", "b"]))
    npz("no_kp.npz", keypoints=None)
    npz("obj_kp.npz", keypoints=np.array([1, "a", None], dtype=object))
    (d / "text.npz").write_text("not a zip\n")
    (d / "trunc.npz").write_bytes((d / "v.npz").read_bytes()[:200])
    (d / "empty.npz").touch()
    (d / "dir.npz").mkdir()

    # malformed BVH
    (d / "empty.bvh").touch()
    (d / "text.bvh").write_text("hello\n")
    (d / "trunc.bvh").write_text(_bvh()[:120])
    (d / "trunc_motion.bvh").write_text(_bvh()[:-400])
    (d / "nan.bvh").write_text(_bvh(value="nan"))
    (d / "frames0.bvh").write_text(_bvh(frames=0))
    (d / "ft0.bvh").write_text(_bvh(ft="0"))
    (d / "ft_huge.bvh").write_text(_bvh(ft="1e300"))
    (d / "ft_tiny.bvh").write_text(_bvh(ft="1e-300"))
    (d / "badchan.bvh").write_text(_bvh().replace("3 Zrotation", "3 Qrotation", 1))
    (d / "unbalanced.bvh").write_text(_bvh().replace("}\nMOTION", "MOTION"))
    (d / "offset_nan.bvh").write_text(_bvh().replace("OFFSET 0 10 0", "OFFSET nan 10 0", 1))
    (d / "offset_short.bvh").write_text(_bvh().replace("OFFSET 0 10 0", "OFFSET 0 10", 1))
    (d / "chan_count.bvh").write_text(_bvh().replace("CHANNELS 3", "CHANNELS 4", 1))
    (d / "no_joints.bvh").write_text("HIERARCHY\nMOTION\nFrames: 2\nFrame Time: 0.03\n1 2\n3 4\n")
    (d / "huge_frames.bvh").write_text(_bvh().replace("Frames: 60", "Frames: 100000000000"))
    (d / "binary.bvh").write_bytes(os.urandom(2000))

    # malformed models and data
    (d / "model_empty").mkdir()
    shutil.copytree(d / "model", d / "model_corrupt")
    for f in (d / "model_corrupt").rglob("*.safetensors"):
        f.write_bytes(f.read_bytes()[:100])
    shutil.copytree(d / "model", d / "model_badjson")
    for f in (d / "model_badjson").glob("*.json"):
        f.write_text("{not json")
    shutil.copytree(d / "cmodel", d / "cmodel_corrupt")
    for f in (d / "cmodel_corrupt").rglob("*.safetensors"):
        f.write_bytes(f.read_bytes()[:100])
    shutil.copytree(d / "data", d / "data_corrupt")
    for f in (d / "data_corrupt").glob("*.npy"):
        f.write_bytes(f.read_bytes()[:300])
    (d / "bad_config.json").write_text('{"train": {"lr": "fast"}, "image_size": [-1, 5]}')
    (d / "nan_stats.json").write_text('{"near_height": NaN, "far_height": Infinity}')
    (d / "text.json").write_text("not json\n")
    (d / "empty.json").touch()
    # a previous output of each kind, for the "exists" class
    save_poses(perf.poses, d / "prev.npz")
    save_poses(perf.poses, d / "prev_op")
    shutil.copy(d / "v.mp4", d / "prev.mp4")
    shutil.copy(d / "stats.json", d / "prev.json")
    shutil.copy(d / "still.png", d / "prev.png")
    from click.testing import CliRunner

    from dancenow.cli import main as cli

    res = CliRunner().invoke(cli, ["coach", "exercise", str(d / "v.npz"), "--exercise", "squat", "-o", str(d / "tmp_report"),
                                   "--history-db", str(d / "h.sqlite")])  # a history database with one session
    assert res.exit_code == 0, res.output
    shutil.rmtree(d / "tmp_report")


# ----------------------------------------------------------------------------- commands

@dataclass
class Cmd:
    """A subcommand's good invocation: `argv` with {slot} placeholders; `inputs`: slot -> the
    kind of input ('video', 'poses', 'bvh', 'model', 'cmodel', 'data', 'stats', 'config') and its
    good fixture; `outputs`: slot -> ('file'|'dir', good fresh path)."""

    name: str
    argv: list[str]
    inputs: dict[str, tuple[str, str]] = field(default_factory=dict)
    outputs: dict[str, tuple[str, str]] = field(default_factory=dict)
    slow: bool = False  # skip the costly classes (full argument sweeps stay)
    sweep: bool = True  # sweep numbers and outputs (False: a variant of a command swept already)


COMMANDS = [
    Cmd("pose", ["pose", "{video}", "-o", "{out}", "--no-face", "--no-hands"], {"video": ("video", "v.mp4")}, {"out": ("file", "new.npz")}),
    Cmd("render", ["render", "{poses}", "-o", "{out}"], {"poses": ("poses", "v.npz")}, {"out": ("file", "new.mp4")}),
    Cmd("normalize", ["normalize", "{poses}", "--target", "{target}", "-o", "{out}"],
        {"poses": ("poses", "v.npz"), "target": ("poses", "v2.npz")}, {"out": ("file", "new.npz")}),
    Cmd("normalize-stats", ["normalize-stats", "{poses}", "-o", "{out}"], {"poses": ("poses", "v.npz")}, {"out": ("file", "new.json")}),
    Cmd("world", ["world", "--seconds", "1", "--size", "64", "-o", "{out}", "--save-poses", "{poses_out}"], {},
        {"out": ("file", "new.mp4"), "poses_out": ("file", "new.npz")}),
    Cmd("prepare", ["prepare", "{video}", "--poses", "{poses}", "--size", "32x32", "-o", "{out}", "-q"],
        {"video": ("video", "v.mp4"), "poses": ("poses", "v.npz")}, {"out": ("dir", "newdata")}),
    Cmd("train", ["train", "{data}", "-o", "{out}", "--config", "{config}", "--steps", "2", "-q", "--threads", "1"],
        {"data": ("data", "data"), "config": ("config", "tiny_config.json")}, {"out": ("dir", "newrun")}),
    Cmd("transfer", ["transfer", "{video}", "--poses", "{poses}", "--model", "{model}", "-o", "{out}"],
        {"video": ("video", "v2.mp4"), "poses": ("poses", "v2.npz"), "model": ("model", "model")}, {"out": ("file", "new.mp4")}),
    Cmd("demo", ["demo", "--quick", "--steps", "1", "-o", "{out}"], {}, {"out": ("dir", "newdemo")}, slow=True),
    Cmd("evaluate", ["evaluate", "--generated", "{gen}", "--reference", "{ref}", "--no-lpips", "--no-pose", "-o", "{out}"],
        {"gen": ("video", "v.mp4"), "ref": ("video", "v2.mp4")}, {"out": ("file", "new.json")}),
    Cmd("evaluate-model", ["evaluate", "--model", "{model}", "--data", "{data}", "--no-lpips", "--no-pose", "-o", "{out}"],
        {"model": ("model", "model"), "data": ("data", "data")}, {"out": ("file", "new.json")}),
    Cmd("choreo train", ["choreo", "train", "{poses}", "--style", "a", "-o", "{out}", "--preset", "quick", "--steps", "2",
                         "--threads", "1"],
        {"poses": ("poses", "v.npz")}, {"out": ("dir", "newcm")}),
    Cmd("choreo train bvh", ["choreo", "train", "{bvh}", "--style", "a", "-o", "{out}", "--preset", "quick", "--steps", "2",
                             "--threads", "1"],
        {"bvh": ("bvh", "m.bvh")}, {"out": ("dir", "newcm")}, sweep=False),
    Cmd("choreo generate", ["choreo", "generate", "--model", "{cmodel}", "--prime", "{prime}", "--seconds", "1", "-o", "{out}"],
        {"cmodel": ("cmodel", "cmodel"), "prime": ("poses", "v.npz")}, {"out": ("file", "new.npz")}),
    Cmd("choreo generate bvh", ["choreo", "generate", "--model", "{cmodel}", "--prime", "{prime}", "--seconds", "1", "-o", "{out}"],
        {"cmodel": ("cmodel", "cmodel"), "prime": ("bvh", "m.bvh")}, {"out": ("file", "new.mp4")}, sweep=False),
    Cmd("choreo live", ["choreo", "live", "--model", "{cmodel}", "--source", "{video}", "--poses", "{poses}", "--no-window",
                        "--max-frames", "10", "--record", "{out}"],
        {"cmodel": ("cmodel", "cmodel"), "video": ("video", "v.mp4"), "poses": ("poses", "v.npz")}, {"out": ("file", "new.mp4")}),
    Cmd("choreo evaluate", ["choreo", "evaluate", "{poses}", "--model", "{cmodel}", "--health-seconds", "0", "-o", "{out}"],
        {"poses": ("poses", "v2.npz"), "cmodel": ("cmodel", "cmodel")}, {"out": ("file", "new.json")}),
    Cmd("coach dance", ["coach", "dance", "{ref}", "{att}", "-o", "{out}"], {"ref": ("poses", "v.npz"), "att": ("poses", "v2.npz")},
        {"out": ("dir", "newreport")}),
    Cmd("coach exercise", ["coach", "exercise", "{video}", "--exercise", "squat", "-o", "{out}", "--history-db", "{db}"],
        {"video": ("poses", "v.npz")}, {"out": ("dir", "newreport"), "db": ("file", "new.sqlite")}),
    Cmd("coach exercise video", ["coach", "exercise", "{video}", "--exercise", "squat", "-o", "{out}"],
        {"video": ("video", "v.mp4")}, {"out": ("dir", "newreport")}, sweep=False),
    Cmd("coach photo", ["coach", "photo", "{photo}", "--poses", "{poses}", "--reference", "{ref}", "-o", "{out}"],
        {"photo": ("video", "still.png"), "poses": ("poses", "v.npz"), "ref": ("poses", "v2.npz")}, {"out": ("dir", "newreport")}),
    Cmd("coach live", ["coach", "live", "--exercise", "squat", "--source", "{video}", "--no-window", "--max-frames", "10",
                       "--record", "{out}"], {"video": ("video", "v.mp4")}, {"out": ("file", "new.mp4")}),
    Cmd("coach history", ["coach", "history", "--history-db", "{db}", "--plot", "{out}"], {"db": ("db", "h.sqlite")},
        {"out": ("file", "new.png")}),
]

# bad inputs per kind of input: (class, fixture)
BAD_INPUTS = {
    "video": [("missing", "nothere.mp4"), ("empty", "empty.mp4"), ("text-renamed", "text.mp4"), ("truncated", "trunc.mp4"),
              ("zero-frame", "zero.mp4"), ("directory", "dir.mp4"), ("text-renamed", "text.png"), ("malformed-json", "op_null")],
    "poses": [("missing", "nothere.npz"), ("empty", "empty.npz"), ("text-renamed", "text.npz"), ("truncated", "trunc.npz"),
              ("zero-frame", "zero_frames.npz"), ("directory", "dir.npz"), ("directory", "empty_dir"),
              ("malformed-npz", "str_kp.npz"), ("malformed-npz", "size3.npz"), ("malformed-npz", "nan_kp.npz"),
              ("malformed-npz", "inf_kp.npz"), ("malformed-npz", "wrong_joints.npz"), ("malformed-npz", "fps_nan.npz"),
              ("malformed-npz", "fps_neg.npz"), ("malformed-npz", "fps_huge.npz"), ("malformed-npz", "size_neg.npz"),
              ("malformed-npz", "size_huge.npz"), ("malformed-npz", "size_str.npz"), ("malformed-npz", "no_kp.npz"),
              ("malformed-npz", "obj_kp.npz"),
              ("malformed-json", "op_null"), ("malformed-json", "op_list"), ("malformed-json", "op_str"),
              ("malformed-json", "op_count"), ("malformed-json", "op_badjson"), ("malformed-json", "op_nan"),
              ("malformed-json", "op_huge"), ("malformed-json", "op_scalar"), ("malformed-json", "op_people_str"),
              ("malformed-json", "op_kp_dict"), ("text-renamed", "notes.txt")],
    "bvh": [("missing", "nothere.bvh"), ("empty", "empty.bvh"), ("text-renamed", "text.bvh"), ("truncated", "trunc.bvh"),
            ("truncated", "trunc_motion.bvh"), ("malformed-bvh", "nan.bvh"), ("zero-frame", "frames0.bvh"),
            ("malformed-bvh", "ft0.bvh"), ("malformed-bvh", "ft_huge.bvh"), ("malformed-bvh", "ft_tiny.bvh"),
            ("malformed-bvh", "badchan.bvh"), ("malformed-bvh", "unbalanced.bvh"), ("malformed-bvh", "offset_nan.bvh"),
            ("malformed-bvh", "offset_short.bvh"), ("malformed-bvh", "binary.bvh"), ("malformed-bvh", "chan_count.bvh"),
            ("malformed-bvh", "no_joints.bvh"), ("malformed-bvh", "huge_frames.bvh"), ("directory", "adir")],
    "model": [("missing", "nothere"), ("directory", "empty_dir"), ("malformed-model", "model_corrupt"),
              ("malformed-model", "model_badjson"), ("text-renamed", "notes.txt"), ("malformed-model", "cmodel")],
    "cmodel": [("missing", "nothere"), ("directory", "empty_dir"), ("malformed-model", "cmodel_corrupt"),
               ("text-renamed", "notes.txt"), ("malformed-model", "model")],
    "data": [("missing", "nothere"), ("directory", "empty_dir"), ("malformed-data", "data_corrupt"), ("text-renamed", "notes.txt"),
             ("malformed-data", "model")],
    "config": [("missing", "nothere.json"), ("empty", "empty.json"), ("malformed-json", "text.json"),
               ("malformed-json", "bad_config.json"), ("directory", "adir")],
    "stats": [("malformed-json", "nan_stats.json"), ("malformed-json", "text.json")],
    "db": [("missing", "nothere.sqlite"), ("text-renamed", "notes.txt"), ("directory", "adir"), ("text-renamed", "v.npz"),
           ("empty", "empty.json")],
}

CORE = {"nothere.npz", "empty.npz", "text.npz", "trunc.npz", "zero_frames.npz", "dir.npz", "str_kp.npz", "size3.npz",
        "op_null", "op_list", "op_count", "nothere.mp4", "empty.mp4", "text.mp4", "trunc.mp4", "dir.mp4", "zero.mp4"}

# options whose bad values are tried on every command that has them (names from click)
NUMBER_VALUES = {"float": ["nan", "inf", "-1", "1e12"], "int": ["-1", "1000000000000"],
                 "size": ["0x0", "-64x64", "30000x30000", "nanxnan", "64x"], "point": ["nan,nan", "inf,0"],
                 "seconds": ["nan", "-1,inf", "1e12"]}


def _number_options(argv0: list[str]) -> list[tuple[str, str]]:
    """(flag, kind) for the numeric options of a subcommand, from its click definition."""
    import click

    from dancenow.cli import main
    from dancenow.commands import POINT, SECONDS, SIZE, SQUARE_OR_SIZE

    cmd = main
    for word in argv0:
        if isinstance(cmd, click.Group) and word in cmd.commands:
            cmd = cmd.commands[word]
    out = []
    for p in cmd.params:
        if not isinstance(p, click.Option) or p.is_flag or not p.opts[-1].startswith("--"):
            continue
        t, flag = p.type, max(p.opts, key=len)
        if t in (SIZE, SQUARE_OR_SIZE) or type(t).__name__ == "_Size":
            out.append((flag, "size"))
        elif t is POINT or type(t).__name__ == "_Point":
            out.append((flag, "point"))
        elif t is SECONDS or type(t).__name__ == "_Seconds":
            out.append((flag, "seconds"))
        elif isinstance(t, (click.types.FloatParamType,)) or getattr(t, "name", "") in ("float", "float range", "number"):
            out.append((flag, "float"))
        elif isinstance(t, click.types.IntParamType) or getattr(t, "name", "") in ("integer", "integer range"):
            out.append((flag, "int"))
    return out


def _with_option(argv: list[str], flag: str, value: str) -> list[str]:
    argv = list(argv)
    if flag in argv:
        argv[argv.index(flag) + 1] = value
        return argv
    return argv + [flag, value]


@dataclass
class Case:
    cmd: str
    cls: str
    argv: list[str]
    note: str = ""
    mount: str = ""  # "full" or "ro": the case needs that mount
    pre: list[str] = field(default_factory=list)  # a parallel command started before (second writer)


def _fill(cmd: Cmd, **over) -> list[str]:
    values = {slot: good for slot, (_, good) in cmd.inputs.items()}
    values.update({slot: good for slot, (_, good) in cmd.outputs.items()})
    values.update(over)
    return [a.format(**values) if "{" in a else a for a in cmd.argv]


def make_cases(commands: list[Cmd]) -> list[Case]:
    cases: list[Case] = []
    for cmd in commands:
        # 0. the good invocation, which must succeed (else every case below fails for nothing)
        if not cmd.slow:
            cases.append(Case(cmd.name, GOOD, _fill(cmd), "the good invocation"))
        # 1. bad inputs: every malformed file in the first slot of each kind, the core ones in others
        kinds_seen = set()
        for slot, (kind, _) in cmd.inputs.items():
            bads = BAD_INPUTS[kind] if kind not in kinds_seen else [b for b in BAD_INPUTS[kind] if b[1] in CORE]
            kinds_seen.add(kind)
            for cls, bad in bads:
                cases.append(Case(cmd.name, cls, _fill(cmd, **{slot: bad}), f"{slot}={bad}"))
        if not cmd.sweep:
            continue
        # 2. numbers
        argv = _fill(cmd)
        head = [a for a in argv[:2] if not a.startswith("{") and not a.startswith("-")]
        for flag, kind in _number_options(head[:2] if head[0] == "choreo" else head[:1]):
            for v in NUMBER_VALUES[kind]:
                cls = "huge-numbers" if v in ("1e12", "1000000000000", "30000x30000") else "numbers"
                cases.append(Case(cmd.name, cls, _with_option(argv, flag, v), f"{flag} {v}"))
        # 3. outputs
        for slot, (okind, good) in cmd.outputs.items():
            suffix = Path(good).suffix
            for islot, (ikind, ifix) in cmd.inputs.items():
                cases.append(Case(cmd.name, "output=input", _fill(cmd, **{slot: ifix}), f"{slot}={ifix}"))
            if any(k == "poses" for k, _ in cmd.inputs.values()):
                islot = next(s for s, (k, _) in cmd.inputs.items() if k == "poses")
                cases.append(Case(cmd.name, "output-inside-input", _fill(cmd, **{islot: "op", slot: f"op/x{suffix or '_keypoints.json'}"}),
                                  f"{islot}=op {slot}=op/x"))
                cases.append(Case(cmd.name, "input-inside-output", _fill(cmd, **{islot: "adir/../op", slot: "."}), f"{slot}=."))
            cases.append(Case(cmd.name, "output-under-file", _fill(cmd, **{slot: f"notes.txt/x{suffix}"}), f"{slot}=notes.txt/x"))
            cases.append(Case(cmd.name, "output-other-kind", _fill(cmd, **{slot: "notes.txt"}), f"{slot}=notes.txt"))
            cases.append(Case(cmd.name, "output-other-kind", _fill(cmd, **{slot: "adir"}), f"{slot}=adir (a folder of other files)"))
            if okind == "file":
                cases.append(Case(cmd.name, "output-is-folder", _fill(cmd, **{slot: f"dir{suffix or '.out'}" if suffix in ('.mp4', '.npz') else "adir"}),
                                  f"{slot}=a folder named like the output"))
                prev = {".npz": "prev.npz", ".mp4": "prev.mp4", ".json": "prev.json", ".png": "prev.png"}.get(suffix)
                if prev:
                    cases.append(Case(cmd.name, "previous-output", _fill(cmd, **{slot: prev}), f"{slot}={prev} without --force"))
            cases.append(Case(cmd.name, "read-only", _fill(cmd, **{slot: f"ro/x{suffix}"}), f"{slot}=ro/x", mount="ro"))
            if not cmd.slow:
                cases.append(Case(cmd.name, "full-disk", _fill(cmd, **{slot: f"full/x{suffix}"}), f"{slot}=full/x", mount="full"))
        if cmd.name in ("train", "choreo train"):
            out = _fill(cmd, out="second")
            cases.append(Case(cmd.name, "second-writer", out, "two writers of one folder", pre=out))
    # the absurd values the issue found running forever or filling the disk
    cases += [
        Case("pose", "absurd-numbers", ["pose", "v.mp4", "-o", "new.npz", "--fps", "1e9"], "--fps 1e9"),
        Case("train", "absurd-numbers", ["train", "data", "-o", "newrun", "--config", "tiny_config.json", "--steps", "1000000000000", "-q"], "--steps 1e12"),
        Case("choreo generate", "absurd-numbers", ["choreo", "generate", "--model", "cmodel", "--seconds", "1e7", "-o", "new.npz"], "--seconds 1e7"),
        Case("prepare", "absurd-numbers", ["prepare", "v.mp4", "--poses", "v.npz", "--size", "30000x30000", "-o", "newdata"], "--size 30000x30000"),
        Case("world", "absurd-numbers", ["world", "--seconds", "1e7", "-o", "new.mp4"], "--seconds 1e7"),
        Case("world", "absurd-numbers", ["world", "--fps", "1e9", "-o", "new.mp4"], "--fps 1e9"),
        Case("world", "absurd-numbers", ["world", "--size", "30000x30000", "--seconds", "0.1", "-o", "new.mp4"], "--size 30000x30000"),
        Case("render", "absurd-numbers", ["render", "v.npz", "--size", "30000x30000", "-o", "new.mp4"], "--size 30000x30000"),
        Case("choreo generate", "absurd-numbers", ["choreo", "generate", "--model", "cmodel", "--size", "30000x30000", "--seconds", "1", "-o", "new.mp4"], "--size 30000x30000 (video)"),
        Case("choreo evaluate", "absurd-numbers", ["choreo", "evaluate", "v2.npz", "--model", "cmodel", "--stride", "1e-9", "--health-seconds", "0"], "--stride 1e-9"),
        Case("choreo live", "absurd-numbers", ["choreo", "live", "--model", "cmodel", "--source", "v.mp4", "--poses", "v.npz", "--no-window", "--horizon", "1e7", "--max-frames", "5"], "--horizon 1e7"),
        Case("world", "numbers", ["world", "--actor-seed", "-1", "-o", "new.mp4", "--seconds", "0.2"], "--actor-seed -1"),
        Case("world", "numbers", ["world", "--actor", "nobody", "-o", "new.mp4", "--seconds", "0.2"], "--actor nobody"),
        Case("transfer", "numbers", ["transfer", "v2.mp4", "--poses", "v2.npz", "--model", "model", "--device", "bogus", "-o", "new.mp4"], "--device bogus"),
        Case("choreo train", "numbers", ["choreo", "train", "v.npz", "--style", "a", "-o", "newcm", "--steps", "2", "--device", "bogus"], "--device bogus"),
        Case("choreo generate", "numbers", ["choreo", "generate", "--model", "cmodel", "--style", "a=nan", "--seconds", "1", "-o", "new.npz"], "--style a=nan"),
        Case("choreo generate", "numbers", ["choreo", "generate", "--model", "cmodel", "--style", "a=-1,b=2", "--seconds", "1", "-o", "new.npz"], "--style a=-1,b=2"),
        Case("coach dance", "numbers", ["coach", "dance", "v.npz", "v2.npz", "-o", "newreport", "--sections", "0,nan"], "--sections 0,nan"),
        Case("serve", "numbers", ["serve", "--port", "-1"], "--port -1"),
        Case("serve", "numbers", ["serve", "--max-upload-mb", "nan"], "--max-upload-mb nan"),
        Case("serve", "output-under-file", ["serve", "--work-dir", "notes.txt/x", "--port", "0"], "--work-dir notes.txt/x"),
        Case("serve", "output-other-kind", ["serve", "--work-dir", "notes.txt", "--port", "0"], "--work-dir notes.txt"),
    ]
    return cases


# ----------------------------------------------------------------------------- running

def _snapshot(root: Path) -> dict[str, tuple]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        if rel.split(os.sep)[0] in ("full", "ro"):
            continue
        out[rel + "/"] = ("dir", oct(os.stat(dirpath).st_mode & 0o777))
        for f in filenames:
            p = os.path.join(dirpath, f)
            with contextlib.suppress(OSError):
                st = os.lstat(p)
                with open(p, "rb") as fh:
                    digest = hashlib.sha1(fh.read()).hexdigest()
                out[os.path.join(rel, f)] = (st.st_size, digest)
    return out


def _restore(sandbox: Path, pristine: Path, before: dict, after: dict) -> None:
    for rel in sorted(set(after) - set(before), key=len, reverse=True):
        p = sandbox / rel.rstrip("/")
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                p.unlink()
    for rel in set(before):
        if rel.endswith("/"):
            continue
        if after.get(rel) != before[rel] and (pristine / rel).is_file():
            src, dst = pristine / rel, sandbox / rel
            if dst.is_dir() and not dst.is_symlink():
                shutil.rmtree(dst)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)


def _limits() -> None:
    os.setsid()
    resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE_LIMIT, FSIZE_LIMIT))


def _run(argv: list[str], cwd: Path, timeout: float, env: dict) -> tuple[int | None, str, float]:
    t0 = time.time()
    p = subprocess.Popen([sys.executable, "-m", "dancenow", *argv], cwd=cwd, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, preexec_fn=_limits)
    try:
        out, _ = p.communicate(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        rc = None
    return rc, out.decode(errors="replace"), time.time() - t0


def classify(rc: int | None, text: str, destroyed: list[str], new: list[str]) -> set[str]:
    got = set()
    if rc is None:
        got.add("unbounded")
    elif rc == -signal.SIGXFSZ or "File too large" in text:  # Python ignores SIGXFSZ: EFBIG instead
        got.add("disk-fill")
    elif rc < 0:
        got.add("signal")
    if "Traceback (most recent call last)" in text:
        got.add("traceback")
    if rc == 0:
        got.add("accepted")
    errors = [ln for ln in text.splitlines() if ln.startswith("Error:")]
    if rc not in (0, None) and rc > 0 and "traceback" not in got:
        if any("internal error" in ln for ln in errors):
            got.add("internal")  # a bug that the CLI's last resort turned into one line
        else:
            got.add("clean" if len(errors) == 1 else "messy")
    if destroyed:
        got.add("destroyed")
    if rc != 0 and new:
        got.add("leftovers")
    return got


@contextlib.contextmanager
def mounts(sandbox: Path, need: set[str]):
    """ro/: a read-only bind mount; full/: a 24 MB tmpfs holding copies of the inputs, filled up."""
    made = []
    try:
        if os.geteuid() == 0:
            if "ro" in need:
                (sandbox / "ro").mkdir(exist_ok=True)
                if subprocess.run(["mount", "--bind", str(sandbox / "ro"), str(sandbox / "ro")]).returncode == 0:
                    made.append(sandbox / "ro")
                    subprocess.run(["mount", "-o", "remount,bind,ro", str(sandbox / "ro")], check=True)
            if "full" in need:
                (sandbox / "full").mkdir(exist_ok=True)
                if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(sandbox / "full")]).returncode == 0:
                    made.append(sandbox / "full")
        yield {p.name for p in made}
    finally:
        for p in reversed(made):
            subprocess.run(["umount", "-l", str(p)])


def _fill_disk(full: Path) -> None:
    """Fill the tmpfs to the last byte."""
    filler = full / "filler"
    with contextlib.suppress(OSError):
        filler.unlink()
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for block in (1 << 16, 1 << 12, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * block)
    finally:
        os.close(fd)


def run_cases(cases: list[Case], sandbox: Path, pristine: Path, timeout: float, verbose: bool,
              details: Path | None = None, first: int = 1) -> list[dict]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1", MPLBACKEND="Agg", QT_QPA_PLATFORM="offscreen")
    env.pop("DISPLAY", None)
    results = []
    with mounts(sandbox, {c.mount for c in cases if c.mount}) as mounted:
        for i, case in enumerate(cases):
            if i + 1 < first:
                continue
            if case.mount and case.mount not in mounted:
                results.append(dict(cmd=case.cmd, cls=case.cls, note=case.note, argv=case.argv, skipped="needs root (mount)"))
                continue
            argv = case.argv
            if case.mount == "full":
                full = sandbox / "full"
                for a in case.argv:  # the inputs travel onto the full disk beside the output
                    src = sandbox / a
                    if not a.startswith("-") and src.exists() and not (full / a).exists():
                        (shutil.copytree if src.is_dir() else shutil.copy2)(src, full / a)
                _fill_disk(full)
                cwd = full
                argv = [a.replace("full/", "") for a in argv]
            else:
                cwd = sandbox
            before = _snapshot(sandbox)
            pre = None
            if case.pre:
                pre = subprocess.Popen([sys.executable, "-m", "dancenow", *_with_option(case.pre, "--steps", "100000")],
                                       cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_limits)
                time.sleep(min(timeout / 2, 25))  # let the first writer get going
            rc, text, secs = _run(argv, cwd, timeout, env)
            if pre is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pre.pid, signal.SIGKILL)
                pre.wait()
            after = _snapshot(sandbox)
            own = "second" if case.pre else None  # the first writer's folder: not the second's doing
            destroyed = sorted(k for k in before if not k.endswith("/") and after.get(k) != before[k])
            new = sorted(k for k in after if k not in before and not (own and k.startswith(own)))
            if case.mount == "full":
                leftover = [p.name for p in (sandbox / "full").iterdir() if not (sandbox / p.name).exists() and p.name != "filler"]
                new += [f"full/{n}" for n in leftover]
                for p in (sandbox / "full").iterdir():
                    (shutil.rmtree if p.is_dir() else os.unlink)(p)
            got = classify(rc, text, destroyed, new)
            _restore(sandbox, pristine, before, after)
            if own:
                shutil.rmtree(sandbox / own, ignore_errors=True)
            tail = [ln for ln in text.splitlines() if ln.strip()][-3:]
            results.append(dict(cmd=case.cmd, cls=case.cls, note=case.note, argv=argv, rc=rc, outcomes=sorted(got),
                                seconds=round(secs, 1), tail=tail, destroyed=destroyed[:5], new=new[:5]))
            if case.cls == GOOD:
                got = {"ok"} if rc == 0 else {"FAILED"}
                results[-1]["outcomes"] = sorted(got)
            results[-1]["index"] = i + 1
            if details:
                with open(details, "a") as f:
                    f.write(json.dumps(results[-1]) + "\n")
            if verbose or got - {"clean", "ok"}:
                print(f"[{i + 1}/{len(cases)}] {case.cmd:16s} {case.cls:18s} {case.note[:40]:40s} -> {','.join(sorted(got))} "
                      f"({secs:.0f} s) {tail[-1][:100] if tail else ''}", flush=True)
    return results


def table(results: list[dict]) -> str:
    by = collections.defaultdict(collections.Counter)
    skipped = collections.Counter()
    good = [r for r in results if r["cls"] == GOOD]
    results = [r for r in results if r["cls"] != GOOD]
    for r in results:
        if "skipped" in r:
            skipped[r["cls"]] += 1
            continue
        by[r["cls"]]["cases"] += 1
        for o in r["outcomes"]:
            by[r["cls"]][o] += 1
    cols = ("cases",) + OUTCOMES
    lines = ["| class | " + " | ".join(cols) + " |", "| --- |" + " ---: |" * len(cols)]
    total = collections.Counter()
    for cls in sorted(by):
        total.update(by[cls])
        lines.append(f"| {cls} | " + " | ".join(str(by[cls][c]) for c in cols) + " |")
    lines.append("| **all** | " + " | ".join(f"**{total[c]}**" for c in cols) + " |")
    failed = [r["cmd"] for r in good if r["rc"] != 0]
    lines.append(f"good invocations: {len(good) - len(failed)}/{len(good)} succeeded" + (f" (failed: {', '.join(failed)})" if failed else ""))
    if skipped:
        lines.append(f"skipped (need root for a mount): {dict(skipped)}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commands", default="", help="comma-separated command names (default: all)")
    ap.add_argument("--classes", default="", help="comma-separated classes (default: all)")
    ap.add_argument("--timeout", type=float, default=90.0, help="seconds before a case counts as unbounded")
    ap.add_argument("--details", default="", help="append every case's outcome here as it completes (JSON lines)")
    ap.add_argument("--from", dest="first", type=int, default=1, help="start at this case number (after an interruption)")
    ap.add_argument("--table", nargs="+", default=None, metavar="DETAILS", help="print the table of details files and exit")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every case, not only the ones that are not clean")
    args = ap.parse_args()
    if args.table:
        rows = [json.loads(ln) for f in args.table for ln in Path(f).read_text().splitlines() if ln.strip()]
        print(f"{len(rows)} cases\n")
        print(table(rows))
        return 0
    sys.path.insert(0, str(ROOT / "src"))
    want = {c.strip() for c in args.commands.split(",") if c.strip()}
    commands = [c for c in COMMANDS if not want or c.name in want]
    cases = [c for c in make_cases(commands) if not want or c.cmd in want]
    if args.classes:
        classes = set(args.classes.split(","))
        cases = [c for c in cases if c.cls in classes or any(c.cls.startswith(k) for k in classes)]
    if args.list:
        for c in cases:
            print(f"{c.cmd:16s} {c.cls:20s} dancenow {' '.join(c.argv)}")
        print(f"{len(cases)} cases")
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="dancenow-probe-"))
    try:
        t0 = time.time()
        pristine = tmp / "pristine"
        build_fixtures(pristine)
        sandbox = tmp / "sandbox"
        shutil.copytree(pristine, sandbox, symlinks=True)
        print(f"fixtures built in {time.time() - t0:.0f} s; {len(cases)} cases", flush=True)
        results = run_cases(cases, sandbox, pristine, args.timeout, args.verbose,
                            Path(args.details) if args.details else None, args.first)
        print(f"\n{len(results)} cases in {(time.time() - t0) / 60:.1f} min\n")
        print(table(results))
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            for m in ("ro", "full"):
                subprocess.run(["umount", "-l", str(tmp / "sandbox" / m)], stderr=subprocess.DEVNULL)
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
