"""The templates of every generated text file: the student release's pyproject.toml, workflow and
install lines (``templates/release/``), the Gradescope autograder's setup.sh, run_autograder and README
(``templates/gradescope/``), and what a lab writes for its students itself, its README and its notebook
(``labs/<lab>/templates/release/``, found first)."""
from __future__ import annotations

from pathlib import Path

from .lab import current

TEMPLATES = Path(__file__).resolve().parent / "templates"


def template(name: str, folder: str = "release"):
    """A template of the lab's ``templates/<folder>/``, else the grader's. No autoescape: these are
    Markdown, TOML, YAML, shell and Python, not HTML (the HTML reports escape); StrictUndefined: a
    missing value fails the build, not the text."""
    import jinja2

    loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(current().folder / "templates" / folder),
                                  jinja2.FileSystemLoader(TEMPLATES / folder)])
    env = jinja2.Environment(loader=loader, autoescape=False, undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    return env.get_template(name)
