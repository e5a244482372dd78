"""CI must run README's test command word for word, and README must carry the Space's front matter."""

from __future__ import annotations

import re
from pathlib import Path

import gradio

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"## Test it\s+```bash\n(.+?)\n```", readme).group(1).strip()
    assert command in (ROOT / ".ci" / "run").read_text().splitlines()


def test_space_front_matter_matches_the_installed_gradio() -> None:
    front_matter = (ROOT / "README.md").read_text().split("---")[1]
    assert "sdk: gradio" in front_matter and "app_file: app.py" in front_matter
    assert f"sdk_version: {gradio.__version__}" in front_matter
    assert f"gradio=={gradio.__version__}" in (ROOT / "requirements.txt").read_text()
