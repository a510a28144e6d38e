"""The local web app: `dancenow serve` (FastAPI on 127.0.0.1:7860 by default, a static front end
with no build step).

Pages: Transfer (two videos, or the synthetic world's actors, in; prepare -> train -> transfer as
one job; the result videos out), Coach (a reference and an attempt in; the coach report out) and
Choreography (a model's dance played live as a stick figure on a canvas, with liveliness and
style mix controls; the last 30 s saved as a video).

    config.py   WebConfig: host, port, work directory, upload limits
    db.py       JobStore: jobs and uploads in one SQLite file, shared with the worker processes
    uploads.py  receiving an upload: size limit, content check, a generated storage name
    jobs.py     the job kinds (parameter checks) and JobRunner (the queue: worker processes, one
                per lane at a time, cancel, a dead worker's job marked failed)
    worker.py   `python -m dancenow.web.worker`: runs one job, reports progress, records results
    adapter.py  every call into the rest of dancenow (synth, transfer, world, coach, choreo): one
                place to re-point when those packages change
    app.py      the HTTP routes and `serve`
    static/     index.html, app.js, style.css

The work directory (default ./dancenow-web) holds app.db, uploads/ and jobs/<id>/ (log.txt,
output.txt, work/). A job's files are served only once the job is done and only under the
names its result lists; nothing is served by a path that came from a client.
"""
