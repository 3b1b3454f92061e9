"""`python app.py`: the chat at http://127.0.0.1:7860 (CONVENTION_QA_HOST / CONVENTION_QA_PORT)."""

from convention_qa.config import get_settings
from convention_qa.web.server import run

run(get_settings())
