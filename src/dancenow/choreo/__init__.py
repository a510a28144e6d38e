"""Choreography: learn dance styles from motion capture, pose files and videos, generate new
dance, forecast a dancer live, and measure it all (an LSTM + mixture density network in the
manner of Graves 2013, moving a skeleton whose bones keep their lengths).

    config.py      ChoreoConfig (the network), ChoreoTrainConfig (its training), presets (torch-free)
    bvh.py         a small BVH reader with forward kinematics
    readers.py     BVH / marker arrays / pose files / videos -> Motion (BODY_25 tracks, a style)
    clips.py       Motion -> Clip (body-centred, body heights) -> ClipArrays (what the model reads)
    skeleton.py    the 14 bones: directions, lengths, forward kinematics, mirroring, turning
    benchmark.py   the shared dance data and the benchmark's splits
    mdn.py         mixture NLL, mode and sampling
    model.py       MDNHead, ChoreoModel
    checkpoint.py  safetensors + JSON checkpoints, load_model, one writer per folder
    train.py       train(sources, out_dir, cfg) -> the last checkpoint
    generate.py    rollout, forecast, Choreographer, GeneratedDance
    evaluate.py    forecasting vs baselines, held-out NLL, long-run health
    style.py       a style classifier of motion windows, and novelty against the training data
    live.py        LiveForecaster, run_live, live_session

Importing this package is cheap: torch loads with the modules that need it.
"""
