"""The web app: FastAPI routes (API and OpenAI-compatible), dependencies, error mapping, who is
asking, and the Gradio UI mounted on it."""

from typing import TYPE_CHECKING

from convention_qa._lazy import lazy_exports

if TYPE_CHECKING:
    from convention_qa.web.server import create_app, run
    from convention_qa.web.ui import Services, build_ui

__getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)
