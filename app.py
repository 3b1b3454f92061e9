"""`python app.py`: bring the index up to date with corpus/ and report what it holds.

The chat UI (issue #4) will start from here; until then this is the ingest step of `make run`.
"""

from convention_qa.cli import main

main(["ingest"])
