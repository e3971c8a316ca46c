"""The consultation web app (Gradio): ``app`` builds and serves the page, ``view`` adapts the
agent's steps to what is shown, ``load`` drives concurrent sessions for the load benchmark.
"""

from ui.web.app import WebConfig, build_app, launch

__all__ = ["WebConfig", "build_app", "launch"]
