"""``python -m convention_qa.answering.model_server --model FILE [...]``: llama-cpp-python's
OpenAI-compatible server (same arguments as ``python -m llama_cpp.server``), with llama.cpp's
weight repacking off, which crashes on AVX-512 machines (see ``llm.disable_repacking``)."""

from __future__ import annotations

import runpy

from convention_qa.answering.llm import disable_repacking

if __name__ == "__main__":
    disable_repacking()
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
