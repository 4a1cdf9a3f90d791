"""The templates of every generated text file: the student release's README, pyproject.toml, workflow and
notebook source (``templates/release/``) and the Gradescope autograder's setup.sh, run_autograder and
README (``templates/gradescope/``)."""
from __future__ import annotations

from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "templates"


def template(name: str, folder: str = "release"):
    """A template of ``templates/<folder>/``. No autoescape: these are Markdown, TOML, YAML, shell and
    Python, not HTML (the HTML reports escape); StrictUndefined: a missing value fails the build, not
    the text."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES / folder), autoescape=False,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.get_template(name)
