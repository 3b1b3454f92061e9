"""Prompt templates: plain-text files in ``prompts/``, loaded by name, with {placeholders}.

``default_prompts`` beside this module links to the repository's top-level ``prompts/`` folder,
so a checkout reads that folder and an installed wheel reads the copy packaged with it.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass, field
from pathlib import Path

from convention_qa.errors import ConfigError

__all__ = ["NOT_FOUND", "Prompts", "default_prompts_dir"]

NOT_FOUND = "NOT_FOUND"  # what the answer prompt tells the model to reply when the evidence lacks the answer


def default_prompts_dir() -> Path:
    """The project's ``prompts/`` folder (in a checkout), or its copy in the installed package."""
    return Path(__file__).with_name("default_prompts")


@dataclass
class Prompts:
    folder: Path = field(default_factory=default_prompts_dir)
    _cache: dict[str, str] = field(default_factory=dict, repr=False)

    def template(self, name: str) -> str:
        if name not in self._cache:
            path = self.folder / f"{name}.md"
            try:
                self._cache[name] = path.read_text(encoding="utf-8").strip()
            except OSError:
                raise ConfigError(
                    f"prompt {name!r} not found at {path}: set CONVENTION_QA_PROMPTS_DIR to a "
                    "folder with system.md, answer.md and condense.md"
                ) from None
        return self._cache[name]

    def version(self) -> str:
        """A short hash of every template in the folder: which prompts produced an answer."""
        digest = hashlib.sha256()
        for path in sorted(self.folder.glob("*.md")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        return digest.hexdigest()[:12]

    def render(self, name: str, **values: str) -> str:
        """The template with its placeholders filled; values are inserted verbatim."""
        template = self.template(name)
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f}
        missing = fields - values.keys()
        if missing:
            raise ConfigError(f"prompt {name!r} needs values for {sorted(missing)}")
        return template.format_map(values)
