"""``python -m convention_qa.answering.model_server --model FILE [...]``: llama-cpp-python's
OpenAI-compatible server (same arguments as ``python -m llama_cpp.server``), with llama.cpp's
weight repacking off, which crashes on AVX-512 machines (see ``llm.disable_repacking``).

``--pooling mean`` (with ``--embedding true``) makes ``/v1/embeddings`` send one vector per text,
the mean over its tokens: llama-cpp-python's server has no setting for it, and without it a chat
model such as the bundled one answers one vector per token."""

from __future__ import annotations

import runpy
import sys
from typing import Any

from convention_qa.answering.llm import disable_repacking


def _mean_pooling() -> None:
    import llama_cpp

    original = llama_cpp.Llama.__init__

    def pooled(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("pooling_type", llama_cpp.LLAMA_POOLING_TYPE_MEAN)
        original(self, *args, **kwargs)

    llama_cpp.Llama.__init__ = pooled  # type: ignore[method-assign]


if __name__ == "__main__":
    disable_repacking()
    if "--pooling" in sys.argv:
        at = sys.argv.index("--pooling")
        if sys.argv[at + 1 : at + 2] != ["mean"]:
            sys.exit("--pooling takes mean")
        del sys.argv[at : at + 2]
        _mean_pooling()
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
