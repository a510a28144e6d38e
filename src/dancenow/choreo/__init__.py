"""Choreography: learn dance styles from poses and motion capture, generate new moves, forecast a
dancer live, and measure it all (an LSTM + mixture density network in the manner of Graves 2013).

    data.py      pose files / BVH / marker arrays -> Motion -> Clip (body-centred, body heights)
    bvh.py       a small BVH reader with forward kinematics
    mdn.py       mixture NLL, mode and sampling
    model.py     ChoreoConfig, MDNHead, ChoreoModel
    config.py    TrainConfig (torch-free)
    train.py     train(cfg) -> Path, checkpoints, load_model
    generate.py  rollout, Choreographer, GeneratedDance
    live.py      LiveForecaster, run_live
    evaluate.py  forecasting vs baselines, held-out NLL, long-run health

Importing this package is cheap: torch loads with the modules that need it.
"""
