"""The consultation web app: a Gradio Blocks page that adapts the agent's step stream.

``build_app(resources, log, agent_config)`` returns the page; ``launch(app, WebConfig(...))``
serves it (``anamnesis chat`` does both). Each browser tab holds its own Consultation in a
``gr.State``; the shared model is used under ``resources.lock``. Endpoints: /chat, /new, /consent.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import gradio as gr
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agent.consultation import AgentConfig, Consultation, Notice
from agent.resources import Resources
from ui.web.view import (
    View,
    advance,
    banner_html,
    differential_value,
    reply_markdown,
    sources_markdown,
)

if TYPE_CHECKING:
    from agent.sessionlog import SessionLog

logger = logging.getLogger(__name__)

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
DISCLAIMER = (
    "## Anamnesis\n"
    "**An aid, not a doctor.** It asks about your symptoms and suggests what a clinician might "
    "consider, citing its sources. **In an emergency, call your local emergency number now "
    "(999, 911, 112).**"
)
CONSENT_INFO = (
    "Off by default: nothing about your consultation is stored. If ticked, the consultation "
    "is stored in this computer's Anamnesis data folder to help improve it. Consent is read at "
    "your first message of each consultation; un-ticking stops storing at once and deletes "
    "what was stored of the current consultation."
)
COMMENT_HINT = "Write it here, then press thumbs up or down under the reply it is about."
ENDED = "This consultation has ended. Type to start a new one, or press **New consultation**."
SORRY = "Sorry, something went wrong on our side. Please try again or start a new consultation."


def is_local(host: str) -> bool:
    """True for localhost and loopback addresses: only this computer can connect."""
    if host.strip("[]") in LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_problem(host: str, auth: tuple[str, str] | None, open_server: bool) -> str | None:
    """Why serving on ``host`` is refused, or None: beyond localhost needs auth or consent."""
    if is_local(host) or auth is not None or open_server:
        return None
    return (
        f"listening on {host} lets other computers reach the app: add --auth USER:PASS, "
        "or --open-server if you accept an open server without a password"
    )


def parse_auth(text: str | None) -> tuple[str, str] | None:
    """``USER:PASS`` to a (user, password) pair; both parts must be non-empty."""
    if text is None:
        return None
    user, sep, password = text.partition(":")
    if not (sep and user and password):
        raise ValueError("--auth expects USER:PASS")
    return user, password


class WebConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="Address to listen on; beyond localhost needs auth.")
    port: int = Field(
        7860, ge=0, le=65535, description="TCP port; 0: the first free one from 7860."
    )
    auth: tuple[str, str] | None = Field(None, description="(user, password) asked by the page.")
    open_server: bool = Field(
        False, description="Accept listening beyond localhost without a password."
    )
    concurrency: int = Field(
        8, ge=1, le=64, description="Chat turns run at once (the model itself is locked)."
    )
    differential_size: int = Field(5, ge=1, le=20, description="Conditions in the chart.")
    source_chars: int = Field(600, ge=80, description="Characters of each passage shown.")

    @field_validator("host")
    @classmethod
    def _host_given(cls, host: str) -> str:
        if not host.strip():
            raise ValueError("host must not be empty")
        return host.strip()

    @model_validator(mode="after")
    def _exposure(self) -> WebConfig:
        problem = exposure_problem(self.host, self.auth, self.open_server)
        if problem:
            raise ValueError(problem)
        return self


@dataclass
class WebSession:
    """One browser tab: its consultation, its log session, its messages and its view."""

    consultation: Consultation
    sid: str | None = None
    log_asked: bool = False  # consent is read once, at the first message
    turns: int = 0
    messages: list[dict[str, str]] = field(default_factory=list)
    rated: dict[int, tuple[str | None, int]] = field(default_factory=dict)  # msg -> (sid, turn)
    view: View = field(default_factory=View)


def _model_name(resources: Resources) -> str:
    model = resources.model
    return "none" if model is None else str(getattr(model, "name", type(model).__name__))


def build_app(
    resources: Resources,
    log: SessionLog | None,
    agent_config: AgentConfig,
    config: WebConfig | None = None,
) -> gr.Blocks:
    """The page: chat, differential chart, sources, red-flag banner, feedback and consent."""
    config = config or WebConfig()
    log_config = {**agent_config.model_dump(mode="json"), "model": _model_name(resources)}
    policy = agent_config.policy

    def fresh() -> WebSession:
        return WebSession(resources.consultation(agent_config))

    def model_lock() -> contextlib.AbstractContextManager:
        return resources.lock if resources.model is not None else contextlib.nullcontext()

    def screen(s: WebSession, status: str = "", box: Any = "") -> tuple:
        """Every output of a chat event, in order; ``box`` is the message box's new value."""
        v = s.view
        return (
            list(s.messages),
            differential_value(v.differential, config.differential_size),
            sources_markdown(v.passages, v.cited, config.source_chars),
            banner_html(v.escalation),
            status,
            box,
            s,
        )

    def chat(message: str, consent: bool, session: WebSession | None) -> Iterator[tuple]:
        s = session or fresh()
        text = message or ""
        if not text.strip():  # the agent's gentle notice, outside the chat and the log
            notices = [st.text for st in s.consultation.respond(text) if isinstance(st, Notice)]
            yield screen(s, " ".join(notices))
            return
        if s.consultation.finished:
            s = fresh()
        s.messages.append({"role": "user", "content": text})
        s.messages.append({"role": "assistant", "content": "..."})
        at = len(s.messages) - 1
        s.view = s.view.new_turn()
        yield screen(s)
        try:
            if not s.log_asked:  # consent is read at the first message of a consultation
                s.log_asked = True
                if log is not None:
                    s.sid = log.start(policy=policy, config=log_config, consent=consent)
            s.turns += 1  # the log numbers a session's turns from 1, as we do
            s.rated[at] = (s.sid, s.turns)
            steps: Iterator[Any] = s.consultation.respond(text)
            if log is not None:
                steps = log.record(s.sid, text, steps)
            with model_lock():
                for step in steps:
                    s.view = advance(s.view, step)
                    s.messages[at] = {"role": "assistant", "content": reply_markdown(s.view)}
                    yield screen(s, box=gr.update())
        except Exception:
            logger.exception("the consultation failed on a message")
            s.messages[at] = {"role": "assistant", "content": SORRY}
            yield screen(s, SORRY, gr.update())
            return
        yield screen(s, ENDED if s.consultation.finished else "", gr.update())

    def new_consultation(session: WebSession | None) -> tuple:
        return screen(fresh(), "A new consultation has started.")

    def consent_changed(consent: bool, session: WebSession | None) -> str:
        if session is None or not session.log_asked:
            return "This consultation will be stored." if consent else ""
        if consent:
            return "Storing starts with the next consultation."
        if session.sid is not None and log is not None:
            log.forget(session.sid)  # consent withdrawn: what was stored goes too
        session.sid = None
        session.rated = {k: (None, turn) for k, (_, turn) in session.rated.items()}
        return "Nothing about this consultation is stored: what was stored has been deleted."

    def feedback(session: WebSession | None, comment: str, like: gr.LikeData) -> tuple[str, Any]:
        index = like.index[0] if isinstance(like.index, (list, tuple)) else like.index
        if session is None or index not in session.rated or like.liked not in (True, False):
            return "", gr.update()  # a rating taken back, or not on a reply
        sid, turn = session.rated[index]
        if sid is None or log is None:
            return "Thank you. Storing is off, so your rating was not kept.", gr.update()
        note = (comment or "").strip()
        try:
            log.feedback(sid, turn, rating=1 if like.liked else -1, comment=note)
        except ValueError as exc:  # e.g. the reply is still being written
            logger.warning("feedback not stored: %s", exc)
            return "Your rating could not be stored yet; please try again.", gr.update()
        return f"Thank you: your rating{' and comment' if note else ''} were stored.", ""

    with gr.Blocks(title="Anamnesis", analytics_enabled=False) as app:
        session = gr.State(None)
        gr.Markdown(DISCLAIMER, elem_id="disclaimer")
        banner = gr.HTML("", elem_id="banner")
        with gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label="Consultation",
                    elem_id="chat",
                    height=460,
                    feedback_options=("Like", "Dislike"),
                    buttons=["copy", "copy_all"],
                    placeholder="Tell me in your own words what is troubling you.",
                )
                box = gr.Textbox(
                    show_label=False,
                    placeholder="Type your message and press Enter",
                    elem_id="message",
                    max_lines=6,
                )
                with gr.Row():
                    send = gr.Button("Send", variant="primary", elem_id="send")
                    new = gr.Button("New consultation", elem_id="new")
                status = gr.Markdown("", elem_id="status")
                comment = gr.Textbox(
                    label="Correction or comment (optional)", info=COMMENT_HINT, elem_id="comment"
                )
                consent = gr.Checkbox(
                    False,
                    label="Store this consultation to help improve Anamnesis",
                    info=CONSENT_INFO,
                    elem_id="consent",
                )
            with gr.Column(scale=2):
                chart = gr.Label(
                    label="Current differential (likelihood)",
                    num_top_classes=config.differential_size,
                    show_heading=False,
                    elem_id="differential",
                )
                gr.Markdown("### Sources")
                sources = gr.Markdown(sources_markdown(()), elem_id="sources")
        outputs = [chatbot, chart, sources, banner, status, box, session]
        gr.on(
            [box.submit, send.click],
            chat,
            inputs=[box, consent, session],
            outputs=outputs,
            api_name="chat",
            concurrency_limit=config.concurrency,
            concurrency_id="chat",
            show_progress="hidden",
        )
        new.click(new_consultation, [session], outputs, api_name="new")
        chatbot.clear(new_consultation, [session], outputs, api_visibility="private")
        consent.change(
            consent_changed,
            [consent, session],
            [status],
            api_name="consent",
            api_visibility="undocumented",
        )
        chatbot.like(feedback, [session, comment], [status, comment], api_visibility="private")
    return app


def launch(app: gr.Blocks, config: WebConfig, *, block: bool = True) -> str:
    """Serve the page and return its URL; with ``block`` wait until Ctrl-C, then close."""
    app.queue(default_concurrency_limit=config.concurrency)
    app.launch(
        server_name=config.host,
        server_port=config.port or None,
        auth=config.auth,
        share=False,
        prevent_thread_lock=True,
        quiet=True,
        ssr_mode=False,
        mcp_server=False,
    )
    url = app.local_url or f"http://{config.host}:{config.port}/"
    if block:
        print(f"Anamnesis is running at {url} (Ctrl-C to stop)", flush=True)
        try:
            app.block_thread()
        finally:
            app.close(verbose=False)
    return url
