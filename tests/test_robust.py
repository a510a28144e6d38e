"""Bad input never gives a traceback, never destroys anything, never leaves anything behind.

Every subcommand runs in-process (click's CliRunner) against a table of bad inputs, and each
case must: exit non-zero; print exactly one `Error:` line (naming what is wrong) and no
traceback; leave no new file or folder; leave every file that was there byte-identical.

HOW TO ADD A COMMAND (every subcommand must be in COMMANDS or SKIPPED: a test checks):
  add a `Cmd` to COMMANDS: its good invocation with {slot} placeholders, the kind of input in
  each input slot (a key of BAD_INPUTS: video, poses, bvh, model, cmodel, data, config, db)
  with a good fixture name, and its output slots (`file` or `dir`, a fresh name). The cases
  then come by themselves: every bad fixture of each input kind, NaN/inf/negative/huge values
  of every numeric option (read from the click definition), and the output cases (output =
  each input, inside an input folder, under a file, replacing a file of another kind, a folder
  named like the output, a previous output without --force). A new kind of input: add its
  fixtures in `sandbox` and a list in BAD_INPUTS. A case that is not an error for a reason:
  add it to ALLOWED with the reason. Check the good invocation works: `-k good`.
The broad probe of the same classes in subprocesses, as a user meets them, is bench/probe_cli.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from dancenow.cli import main
from dancenow.keypoints import NUM_JOINTS

CASE_SECONDS = 30  # a case still running after this is a failure (an unbounded run), not a hang


# ----------------------------------------------------------------------------- the table

@dataclass
class Cmd:
    name: str
    argv: list[str]
    inputs: dict[str, tuple[str, str]] = field(default_factory=dict)  # slot: (kind, good fixture)
    outputs: dict[str, tuple[str, str]] = field(default_factory=dict)  # slot: ("file"|"dir", fresh name)
    sweep: bool = True  # numbers and outputs too (False for a variant of a command swept already)


_TINY_TRAIN = ["--preset", "quick", "--steps", "2", "--threads", "1", "-q"]
COMMANDS = [
    Cmd("pose", ["pose", "{video}", "-o", "{out}", "--no-face", "--no-hands", "-q"], {"video": ("video", "v.mp4")},
        {"out": ("file", "new.npz")}),
    Cmd("render", ["render", "{poses}", "-o", "{out}"], {"poses": ("poses", "v.npz")}, {"out": ("file", "new.mp4")}),
    Cmd("normalize", ["normalize", "{poses}", "--target", "{target}", "-o", "{out}"],
        {"poses": ("poses", "v.npz"), "target": ("poses", "v2.npz")}, {"out": ("file", "new.npz")}),
    Cmd("normalize-stats", ["normalize-stats", "{poses}", "-o", "{out}"], {"poses": ("poses", "v.npz")},
        {"out": ("file", "new.json")}),
    Cmd("world", ["world", "--seconds", "0.2", "--size", "32", "-o", "{out}", "--save-poses", "{poses_out}"], {},
        {"out": ("file", "new.mp4"), "poses_out": ("file", "new2.npz")}),
    Cmd("prepare", ["prepare", "{video}", "--poses", "{poses}", "--size", "32x32", "-o", "{out}", "-q"],
        {"video": ("video", "v.mp4"), "poses": ("poses", "v.npz")}, {"out": ("dir", "newdata")}),
    Cmd("train", ["train", "{data}", "-o", "{out}", "--config", "{config}", "--steps", "1", "-q", "--threads", "1"],
        {"data": ("data", "data"), "config": ("config", "tiny_config.json")}, {"out": ("dir", "newrun")}),
    Cmd("distill", ["distill", "--model", "{model}", "--data", "{data}", "--steps", "2", "-q"],
        {"model": ("model", "model"), "data": ("data", "data")}),
    Cmd("transfer", ["transfer", "{video}", "--poses", "{poses}", "--model", "{model}", "-o", "{out}"],
        {"video": ("video", "v2.mp4"), "poses": ("poses", "v2.npz"), "model": ("model", "model")}, {"out": ("file", "new.mp4")}),
    Cmd("live", ["live", "--model", "{model}", "--source", "{video}", "--no-window", "--max-frames", "3", "--record", "{out}"],
        {"model": ("model", "model"), "video": ("video", "v2.mp4")}, {"out": ("file", "new.mp4")}),
    Cmd("evaluate", ["evaluate", "--generated", "{gen}", "--reference", "{ref}", "--no-lpips", "--no-pose", "-o", "{out}"],
        {"gen": ("video", "v.mp4"), "ref": ("video", "v2.mp4")}, {"out": ("file", "new.json")}),
    Cmd("evaluate model", ["evaluate", "--model", "{model}", "--data", "{data}", "--no-lpips", "--no-pose", "-o", "{out}"],
        {"model": ("model", "model"), "data": ("data", "data")}, {"out": ("file", "new.json")}, sweep=False),
    Cmd("choreo train", ["choreo", "train", "{poses}", "--style", "a", "-o", "{out}", *_TINY_TRAIN],
        {"poses": ("poses", "v.npz")}, {"out": ("dir", "newcm")}),
    Cmd("choreo train bvh", ["choreo", "train", "{bvh}", "--style", "a", "-o", "{out}", *_TINY_TRAIN],
        {"bvh": ("bvh", "m.bvh")}, {"out": ("dir", "newcm")}, sweep=False),
    Cmd("choreo generate", ["choreo", "generate", "--model", "{cmodel}", "--prime", "{prime}", "--seconds", "0.5", "-o", "{out}"],
        {"cmodel": ("cmodel", "cmodel"), "prime": ("poses", "v.npz")}, {"out": ("file", "new.npz")}),
    Cmd("choreo generate bvh", ["choreo", "generate", "--model", "{cmodel}", "--prime", "{prime}", "--seconds", "0.5",
                                "-o", "{out}"], {"cmodel": ("cmodel", "cmodel"), "prime": ("bvh", "m.bvh")},
        {"out": ("file", "new.npz")}, sweep=False),
    Cmd("choreo live", ["choreo", "live", "--model", "{cmodel}", "--source", "{video}", "--poses", "{poses}", "--no-window",
                        "--max-frames", "5", "--record", "{out}"],
        {"cmodel": ("cmodel", "cmodel"), "video": ("video", "v.mp4"), "poses": ("poses", "v.npz")}, {"out": ("file", "new.mp4")}),
    Cmd("choreo evaluate", ["choreo", "evaluate", "{poses}", "--model", "{cmodel}", "--health-seconds", "0", "-o", "{out}"],
        {"poses": ("poses", "v2.npz"), "cmodel": ("cmodel", "cmodel")}, {"out": ("file", "new.json")}),
    Cmd("coach dance", ["coach", "dance", "{ref}", "{att}", "-o", "{out}"], {"ref": ("poses", "v.npz"), "att": ("poses", "v2.npz")},
        {"out": ("dir", "newreport")}),
    Cmd("coach exercise", ["coach", "exercise", "{video}", "--exercise", "squat", "-o", "{out}", "--history-db", "{db}"],
        {"video": ("poses", "v.npz")}, {"out": ("dir", "newreport"), "db": ("file", "new.sqlite")}),
    Cmd("coach photo", ["coach", "photo", "{photo}", "--poses", "{poses}", "--reference", "{ref}", "-o", "{out}"],
        {"photo": ("video", "still.png"), "poses": ("poses", "v.npz"), "ref": ("poses", "v2.npz")}, {"out": ("dir", "newreport")}),
    Cmd("coach live", ["coach", "live", "--exercise", "squat", "--source", "{video}", "--no-window", "--max-frames", "3",
                       "--record", "{out}"], {"video": ("video", "v.mp4")}, {"out": ("file", "new.mp4")}),
    Cmd("coach history", ["coach", "history", "--history-db", "{db}", "--plot", "{out}"], {"db": ("db", "h.sqlite")},
        {"out": ("file", "new.png")}),
]
SKIPPED = {"demo": "trains a model for minutes: bench/probe_cli.py covers it",
           "serve": "a server that runs until stopped: its numbers are bounded like every command's; tests/web cover it"}

# bad fixtures per kind of input (built in `sandbox`); the first slot of a kind gets them all,
# later slots of the same kind the CORE ones
BAD_INPUTS = {
    "video": ["nothere.mp4", "empty.mp4", "text.mp4", "trunc.mp4", "zero.mp4", "dir.mp4", "text.png", "op_null"],
    "poses": ["nothere.npz", "empty.npz", "text.npz", "trunc.npz", "zero_frames.npz", "dir.npz", "empty_dir", "str_kp.npz",
              "size3.npz", "nan_kp.npz", "wrong_joints.npz", "fps_nan.npz", "size_huge.npz", "obj_kp.npz", "op_null",
              "op_list", "op_str", "op_count", "op_badjson", "op_nan", "op_huge", "op_scalar", "notes.txt"],
    "bvh": ["nothere.bvh", "empty.bvh", "text.bvh", "trunc.bvh", "trunc_motion.bvh", "nan.bvh", "frames0.bvh", "ft0.bvh",
            "ft_huge.bvh", "badchan.bvh", "unbalanced.bvh", "offset_short.bvh", "binary.bvh", "adir"],
    "model": ["nothere", "empty_dir", "model_corrupt", "notes.txt", "cmodel"],
    "cmodel": ["nothere", "empty_dir", "cmodel_corrupt", "notes.txt", "model"],
    "data": ["nothere", "empty_dir", "data_corrupt", "notes.txt"],
    "config": ["nothere.json", "empty.json", "text.json", "bad_config.json", "adir"],
    "db": ["nothere.sqlite", "notes.txt", "adir", "v.npz", "empty.json"],
}
CORE = {"nothere.npz", "empty.npz", "text.npz", "str_kp.npz", "op_null", "op_count", "nothere.mp4", "text.mp4", "trunc.mp4"}
NUMBER_VALUES = {"float": ["nan", "inf", "-1", "1e12"], "int": ["-1", "1000000000000"],
                 "size": ["0x0", "-64x64", "30000x30000", "nanxnan"], "point": ["nan,nan", "inf,0"],
                 "seconds": ["nan", "-1,inf"]}
# (command, note) pairs that are not errors, with the reason
ALLOWED: dict[tuple[str, str], str] = {
    ("coach photo", "photo=dir.mp4"): "with --poses, a pose path (any folder) as PHOTO is not read: a pose-only comparison",
    ("coach photo", "photo=op_null"): "the same",
}


@dataclass(frozen=True)
class Case:
    cmd: str
    cls: str
    argv: tuple[str, ...]
    note: str
    expect: str  # the error line must contain this (a file name, a flag, a value)

    def __str__(self) -> str:
        return f"{self.cmd}|{self.cls}|{self.note}"


def _fill(cmd: Cmd, **over) -> list[str]:
    values = {slot: good for slot, (_, good) in {**cmd.inputs, **cmd.outputs}.items()}
    values.update(over)
    return [a.format(**values) if "{" in a else a for a in cmd.argv]


def _with(argv: list[str], flag: str, value: str) -> list[str]:
    argv = list(argv)
    if flag in argv:
        argv[argv.index(flag) + 1] = value
        return argv
    return argv + [flag, value]


def _numeric_options(words: list[str]) -> list[tuple[str, str]]:
    from dancenow.commands import POINT, SECONDS, SIZE, SQUARE_OR_SIZE

    cmd = main
    for w in words:
        if isinstance(cmd, click.Group) and w in cmd.commands:
            cmd = cmd.commands[w]
    out = []
    for p in cmd.params:
        if not isinstance(p, click.Option) or p.is_flag:
            continue
        flag = max(p.opts, key=len)
        t = p.type
        kind = ("size" if t in (SIZE, SQUARE_OR_SIZE) else "point" if t is POINT else "seconds" if t is SECONDS
                else "float" if isinstance(t, click.types.FloatParamType) else "int" if isinstance(t, click.types.IntParamType)
                else None)
        if kind:
            out.append((flag, kind))
    return out


def make_cases() -> list[Case]:
    cases = []
    for cmd in COMMANDS:
        seen = set()
        for slot, (kind, _) in cmd.inputs.items():
            for bad in BAD_INPUTS[kind] if kind not in seen else [b for b in BAD_INPUTS[kind] if b in CORE]:
                cases.append(Case(cmd.name, f"input-{kind}", tuple(_fill(cmd, **{slot: bad})), f"{slot}={bad}", bad))
            seen.add(kind)
        if not cmd.sweep:
            continue
        argv = _fill(cmd)
        words = [w for w in argv[:2] if not w.startswith("-")]
        for flag, kind in _numeric_options(words if words[0] == "choreo" else words[:1]):
            for v in NUMBER_VALUES[kind]:
                cases.append(Case(cmd.name, "numbers", tuple(_with(argv, flag, v)), f"{flag} {v}", flag))
        for slot, (okind, good) in cmd.outputs.items():
            suffix = Path(good).suffix
            for islot, (_, fixture) in cmd.inputs.items():
                cases.append(Case(cmd.name, "output=input", tuple(_fill(cmd, **{slot: fixture})), f"{slot}={fixture}", fixture))
            pose_slots = [s for s, (k, _) in cmd.inputs.items() if k == "poses"]
            if pose_slots:
                inside = f"op/x{suffix or '_keypoints.json'}" if okind == "file" else "op/x"
                cases.append(Case(cmd.name, "output-inside-input", tuple(_fill(cmd, **{pose_slots[0]: "op", slot: inside})),
                                  f"{slot}={inside}", "op"))
            cases.append(Case(cmd.name, "output-under-file", tuple(_fill(cmd, **{slot: f"notes.txt/x{suffix}"})),
                              f"{slot}=notes.txt/x", "notes.txt"))
            cases.append(Case(cmd.name, "output-other-kind", tuple(_fill(cmd, **{slot: "notes.txt"})), f"{slot}=notes.txt",
                              "notes.txt"))
            cases.append(Case(cmd.name, "output-other-kind", tuple(_fill(cmd, **{slot: "adir"})), f"{slot}=adir", "adir"))
            if okind == "file":
                named = {".mp4": "dir.mp4", ".npz": "dir.npz"}.get(suffix, "adir")
                cases.append(Case(cmd.name, "output-is-folder", tuple(_fill(cmd, **{slot: named})), f"{slot}={named}", named))
                prev = {".npz": "prev.npz", ".mp4": "prev.mp4", ".json": "prev.json", ".png": "prev.png"}.get(suffix)
                if prev:
                    cases.append(Case(cmd.name, "previous-output", tuple(_fill(cmd, **{slot: prev})), f"{slot}={prev}", "--force"))
    return [c for c in cases if (c.cmd, c.note) not in ALLOWED]


CASES = make_cases()


# ----------------------------------------------------------------------------- fixtures

def _bvh(frames: int = 40, ft: str = "0.0333333", value: str | None = None) -> str:
    """A small skeleton with the UCY joint names (choreo.readers.SKELETONS['ucy54']), in cm."""
    joints = [("Hips", None, (0, 90, 0)), ("Spine", "Hips", (0, 10, 0)), ("Neck", "Spine", (0, 40, 0)),
              ("Head", "Neck", (0, 10, 0))]
    for side, x in (("Left", 1), ("Right", -1)):
        joints += [(f"{side}Arm", "Spine", (18 * x, 35, 0)), (f"{side}ForeArm", f"{side}Arm", (28 * x, 0, 0)),
                   (f"{side}Hand", f"{side}ForeArm", (25 * x, 0, 0)), (f"{side}UpLeg", "Hips", (10 * x, -5, 0)),
                   (f"{side}Leg", f"{side}UpLeg", (0, -42, 0)), (f"{side}Foot", f"{side}Leg", (0, -42, 0)),
                   (f"{side}ToeBase", f"{side}Foot", (0, -5, 12))]
    lines = ["HIERARCHY"]

    def node(name, depth):
        pad = "  " * depth
        off = next(o for n, _, o in joints if n == name)
        lines.extend([f"{pad}{'ROOT' if depth == 0 else 'JOINT'} {name}", pad + "{", f"{pad}  OFFSET {off[0]} {off[1]} {off[2]}",
                      f"{pad}  CHANNELS " + ("6 Xposition Yposition Zposition " if depth == 0 else "3 ") + "Zrotation Xrotation Yrotation"])
        kids = [n for n, p, _ in joints if p == name]
        for k in kids:
            node(k, depth + 1)
        if not kids:
            lines.extend([f"{pad}  End Site", pad + "  {", f"{pad}    OFFSET 0 5 0", pad + "  }"])
        lines.append(pad + "}")

    node("Hips", 0)
    n = 3 + 3 * len(joints)
    lines += ["MOTION", f"Frames: {frames}", f"Frame Time: {ft}"]
    for t in range(frames):
        row = [value if value is not None else f"{20 * np.sin(0.2 * t + k):.3f}" for k in range(n)]
        if value is None:
            row[1] = "90"
        lines.append(" ".join(row))
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Path:
    """Good and malformed inputs, tiny (built with the library in a few seconds)."""
    import av
    import torch

    from dancenow.choreo.config import preset as choreo_preset
    from dancenow.choreo.train import train as choreo_train
    from dancenow.normalize import fit_stats
    from dancenow.posefile import save_poses
    from dancenow.synth.config import ExemplarConfig, FaceConfig, GeneratorConfig, SynthConfig
    from dancenow.synth.geometry import Crop
    from dancenow.synth.prepare import prepare
    from dancenow.synth.model import export_model
    from dancenow.synth.networks import build_face_generator, build_generator
    from dancenow.video import write_video
    from dancenow.world import generate_dance, perform, render_frames

    d = tmp_path_factory.mktemp("robust")
    perf = perform("ana", generate_dance(3, 2.5), (64, 64))
    write_video(d / "v.mp4", render_frames("ana", perf), perf.poses.fps)
    save_poses(perf.poses, d / "v.npz")
    save_poses(perf.poses, d / "op")
    perf2 = perform("ben", generate_dance(5, 2.5), (64, 64))
    write_video(d / "v2.mp4", render_frames("ben", perf2), perf2.poses.fps)
    save_poses(perf2.poses, d / "v2.npz")
    (d / "m.bvh").write_text(_bvh())
    (d / "notes.txt").write_text("my notes, not a dancenow file\n")
    (d / "adir").mkdir()
    (d / "adir" / "keep.txt").write_text("keep me\n")
    (d / "empty_dir").mkdir()
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
    ccfg = choreo_preset("quick")
    ccfg.steps, ccfg.checkpoint_every, ccfg.keep = 2, 2, 1
    choreo_train([(str(d / "v.npz"), "a"), (str(d / "v2.npz"), "b")], d / "cmodel", ccfg, threads=1, progress=False)
    # malformed videos
    (d / "empty.mp4").touch()
    (d / "text.mp4").write_text("this is text, renamed .mp4\n")
    raw = (d / "v.mp4").read_bytes()
    (d / "trunc.mp4").write_bytes(raw[: len(raw) // 3])
    (d / "dir.mp4").mkdir()
    c = av.open(str(d / "zero.mp4"), "w", format="mp4")  # a header and no frames
    s = c.add_stream("libx264", rate=30)
    s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
    c.start_encoding()
    c.close()
    (d / "text.png").write_text("not an image\n")
    from dancenow.images import write_image

    write_image(d / "still.png", next(iter(render_frames("ana", perf))))
    # malformed OpenPose folders

    def openpose(name, doc):
        (d / name).mkdir()
        for t in range(3):
            (d / name / f"x_{t:012d}_keypoints.json").write_text(doc if isinstance(doc, str) else json.dumps(doc))

    openpose("op_null", {"version": 1.3, "people": None})
    openpose("op_list", {"version": 1.3, "people": [[1, 2, 3]]})
    openpose("op_str", {"version": 1.3, "people": [{"pose_keypoints_2d": ["a"] * 75}]})
    openpose("op_count", {"version": 1.3, "people": [{"pose_keypoints_2d": [1.0] * 74}]})
    openpose("op_badjson", '{"version": 1.3, "people": [')
    openpose("op_nan", '{"people": [{"pose_keypoints_2d": [' + ",".join(["NaN"] * 75) + "]}]}")
    openpose("op_huge", {"people": [{"pose_keypoints_2d": [1e30, 1e30, 1.0] * 25}]})
    openpose("op_scalar", [1, 2, 3])
    # malformed .npz
    kp = np.zeros((30, NUM_JOINTS, 3), np.float32)
    kp[:, :25] = [30, 40, 1]

    def npz(name, **fields):
        base = dict(format=np.array("dancenow.poses"), version=np.array(1), layout=np.array("BODY_25+FACE_70+HAND_21x2"),
                    keypoints=kp, fps=np.array(30.0), size=np.array([64, 64]))
        base.update(fields)
        with open(d / name, "wb") as f:
            np.savez(f, **base)

    npz("str_kp.npz", keypoints=np.array([["a"] * 3] * 5))
    npz("size3.npz", size=np.array([64, 64, 3]))
    npz("nan_kp.npz", keypoints=np.full_like(kp, np.nan))
    npz("zero_frames.npz", keypoints=np.zeros((0, NUM_JOINTS, 3), np.float32))
    npz("wrong_joints.npz", keypoints=np.zeros((30, 25, 3), np.float32))
    npz("fps_nan.npz", fps=np.array(np.nan))
    npz("size_huge.npz", size=np.array([10 ** 9, 10 ** 9]))
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
    (d / "badchan.bvh").write_text(_bvh().replace("3 Zrotation", "3 Qrotation", 1))
    (d / "unbalanced.bvh").write_text(_bvh().replace("}\nMOTION", "MOTION"))
    (d / "offset_short.bvh").write_text(_bvh().replace("OFFSET 0 10 0", "OFFSET 0 10", 1))
    (d / "binary.bvh").write_bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes())
    # malformed models, data, configs
    (d / "model_corrupt").mkdir()
    for f in (d / "model").iterdir():
        if f.is_file():
            shutil.copy(f, d / "model_corrupt" / f.name)
            if f.suffix == ".safetensors":
                (d / "model_corrupt" / f.name).write_bytes(f.read_bytes()[:100])
    shutil.copytree(d / "cmodel", d / "cmodel_corrupt")
    for f in (d / "cmodel_corrupt").rglob("*.safetensors"):
        f.write_bytes(f.read_bytes()[:100])
    shutil.copytree(d / "data", d / "data_corrupt")
    for f in (d / "data_corrupt").glob("*.npy"):
        f.write_bytes(f.read_bytes()[:300])
    (d / "bad_config.json").write_text('{"train": {"lr": "fast"}, "image_size": [-1, 5]}')
    (d / "text.json").write_text("not json\n")
    (d / "empty.json").touch()
    # a coach history database with one session
    res = CliRunner().invoke(main, ["coach", "exercise", str(d / "v.npz"), "--exercise", "squat", "-o", str(d / "tmp_report"),
                                    "--history-db", str(d / "h.sqlite")])
    assert res.exit_code == 0, res.output
    shutil.rmtree(d / "tmp_report")
    # a previous output of each kind
    save_poses(perf.poses, d / "prev.npz")
    shutil.copy(d / "v.mp4", d / "prev.mp4")
    shutil.copy(d / "stats.json", d / "prev.json")
    shutil.copy(d / "still.png", d / "prev.png")
    return d


def _snapshot(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        out[rel + "/"] = "dir"
        for f in filenames:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                out[os.path.normpath(os.path.join(rel, f))] = hashlib.sha1(fh.read()).hexdigest()
    return out


@pytest.fixture(scope="module")
def pristine(sandbox, tmp_path_factory):
    """A copy to restore from, and the snapshot every case is compared with."""
    copy = tmp_path_factory.mktemp("pristine") / "copy"
    shutil.copytree(sandbox, copy)
    return copy, _snapshot(sandbox)


def _restore(sandbox: Path, pristine: Path, before: dict, after: dict) -> None:
    for rel in sorted(set(after) - set(before), key=len, reverse=True):
        p = sandbox / rel.rstrip("/")
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists() or p.is_symlink():
            p.unlink()
    for rel, digest in before.items():
        if not rel.endswith("/") and after.get(rel) != digest:
            dst = sandbox / rel
            if dst.is_dir():
                shutil.rmtree(dst)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(pristine / rel, dst)


@contextlib.contextmanager
def _time_limit(seconds: float):
    def fail(signum, frame):
        raise TimeoutError(f"still running after {seconds} s: an unbounded run")

    old = signal.signal(signal.SIGALRM, fail)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _invoke(sandbox: Path, argv, monkeypatch):
    monkeypatch.chdir(sandbox)
    with _time_limit(CASE_SECONDS):
        return CliRunner().invoke(main, list(argv), catch_exceptions=True)


# ----------------------------------------------------------------------------- tests

@pytest.mark.parametrize("case", CASES, ids=str)
def test_bad_input_is_one_clean_line_and_changes_nothing(case, sandbox, pristine, monkeypatch):
    copy, before = pristine
    res = _invoke(sandbox, case.argv, monkeypatch)
    after = _snapshot(sandbox)
    try:
        out = res.output
        assert not (res.exception and not isinstance(res.exception, SystemExit)), \
            f"traceback: {type(res.exception).__name__}: {res.exception}"
        assert res.exit_code != 0, f"accepted (exit 0): {out[-300:]}"
        errors = [ln for ln in out.splitlines() if ln.startswith("Error:")]
        assert len(errors) == 1, f"expected one Error: line, got {out[-500:]!r}"
        assert "Traceback" not in out and "internal error" not in errors[0], errors[0]
        assert case.expect in errors[0], f"the error does not name {case.expect!r}: {errors[0]}"
        changed = sorted(k for k in before if not k.endswith("/") and after.get(k) != before[k])
        assert not changed, f"inputs changed or removed: {changed}"
        new = sorted(set(after) - set(before))
        assert not new, f"left behind: {new}"
    finally:
        _restore(sandbox, copy, before, after)


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: c.name)
def test_good_invocation_of_each_table_entry_works(cmd, sandbox, pristine, monkeypatch, tmp_path):
    """The table's good invocations succeed, so a bad case fails for its own reason."""
    if cmd.name in ("train", "choreo train", "choreo train bvh", "prepare"):
        pytest.skip("trains or prepares for seconds: covered by their own tests")
    copy, before = pristine
    res = _invoke(sandbox, _fill(cmd), monkeypatch)
    after = _snapshot(sandbox)
    _restore(sandbox, copy, before, after)
    assert res.exit_code == 0, res.output[-1000:]


def _subcommands(group: click.Group, prefix: str = "") -> list[str]:
    out = []
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            out += _subcommands(cmd, f"{prefix}{name} ")
        else:
            out.append(f"{prefix}{name}")
    return out


def test_every_subcommand_is_in_the_table():
    covered = {" ".join(w for w in c.argv[:2] if not w.startswith(("-", "{"))) for c in COMMANDS}
    missing = [c for c in _subcommands(main) if c not in covered and c not in SKIPPED]
    assert not missing, f"add these commands to COMMANDS in {__file__} (see its docstring): {missing}"


def test_every_numeric_option_has_a_bound():
    """Numbers: every float option refuses NaN/inf; those that set how much work is done are
    bounded (see BOUNDS in dancenow.commands)."""
    r = CliRunner().invoke(main, ["world", "--seconds", "nan", "-o", "x.mp4"])
    assert r.exit_code == 2 and "finite" in r.output
    r = CliRunner().invoke(main, ["world", "--fps", "1e9", "-o", "x.mp4"])
    assert r.exit_code == 2 and "1000" in r.output


def test_openpose_folders_get_the_usual_mode(tmp_path):
    from dancenow.posefile import save_poses
    from dancenow.keypoints import PoseSequence

    kp = np.zeros((2, NUM_JOINTS, 3), np.float32)
    out = save_poses(PoseSequence(kp, 30.0, 64, 64), tmp_path / "op")
    mask = os.umask(0)
    os.umask(mask)
    assert (out.stat().st_mode & 0o777) == 0o777 & ~mask


def test_every_generated_actor_renders():
    """Actors from seeds mix every look (patterns, skirts, hair...): each renders (3 frames at 32 px)."""
    from dancenow.world import actor_from_seed, generate_dance, perform, render_frames

    dance = generate_dance(0, 0.1)
    for seed in range(120):
        actor = actor_from_seed(seed)
        frames = list(render_frames(actor, perform(actor, dance, (32, 32))))
        assert len(frames) == 3 and frames[0].shape == (32, 32, 3), seed


_HOLD_LOCK = """
import sys, time
from dancenow.guard import run_lock
with run_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(60)
"""


@pytest.mark.parametrize("argv", [["prepare", "v.mp4", "--poses", "v.npz", "--size", "32x32", "-o", "busy", "-q"],
                                  ["train", "data", "-o", "busy", "--config", "tiny_config.json", "--steps", "1", "-q"],
                                  ["choreo", "train", "v.npz", "--style", "a", "-o", "busy", *_TINY_TRAIN]],
                         ids=lambda a: " ".join(a[:2]))
def test_a_second_writer_of_a_run_folder_gets_one_line(argv, sandbox, pristine, monkeypatch):
    """Run folders are continued, not replaced, so two writers would interleave: the second one
    is refused while the first (another process) holds the folder."""
    import subprocess
    import sys

    copy, before = pristine
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(sandbox / "busy")], stdout=subprocess.PIPE, env=env)
    try:
        assert holder.stdout.readline().strip() == b"locked"
        res = _invoke(sandbox, argv, monkeypatch)
    finally:
        holder.kill()
        holder.wait()
    assert res.exit_code == 1 and f"is in use by process {holder.pid}" in res.output, res.output
    after = _snapshot(sandbox)
    _restore(sandbox, copy, before, after)
    assert sorted(set(after) - set(before)) == ["busy/", "busy/.dancenow.lock"]  # the dead holder's lock only
