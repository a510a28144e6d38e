"""The web app's command: `serve`."""

from __future__ import annotations

from pathlib import Path

import click

from dancenow.commands import POSITIVE, command


@command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (anything but localhost lets other machines in: the app has no log-in).")
@click.option("--port", type=click.IntRange(0, 65535), default=7860, show_default=True, help="Port to listen on (0: any free port).")
@click.option("--work-dir", type=click.Path(file_okay=False), default="dancenow-web", show_default=True,
              help="Where the app keeps its database, uploads and the jobs' files.")
@click.option("--max-upload-mb", type=POSITIVE, default=512.0, show_default=True, help="The largest upload accepted.")
@click.option("--max-video-seconds", type=POSITIVE, default=900.0, show_default=True, help="The longest video accepted.")
@click.option("--model", "models", multiple=True, type=click.Path(file_okay=False),
              help="A trained model folder (synthesis or choreography) to offer in the pages; repeatable.")
def serve_cmd(host, port, work_dir, max_upload_mb, max_video_seconds, models):
    """Start the local web app: drop two videos and watch the target person dance (Transfer),
    get a coach report (Coach), or watch a choreography model dance live (Choreography).
    Jobs run one training at a time; they and their results survive a restart.

    Example: dancenow serve --port 7860
    """
    from dancenow.web.app import serve
    from dancenow.web.config import WebConfig

    config = WebConfig(host=host, port=port, work_dir=Path(work_dir), max_upload_mb=max_upload_mb,
                       max_video_seconds=max_video_seconds, models=tuple(Path(m) for m in models))
    if not config.is_local:
        click.echo(f"warning: listening on {host}: anyone who can reach this machine can use the app (it has no log-in)", err=True)

    def ready(url: str) -> None:
        click.echo(f"dancenow is running at {url}  (work folder {work_dir}; Ctrl-C stops it)", nl=True)

    serve(config, ready)
