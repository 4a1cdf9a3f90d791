"""The language of everything a person reads, chosen once per process, from GNU gettext catalogs.

English is the source language: a message id is the English text itself, so code reads naturally
and an untranslated message still says something. ``grader/locale/<lang>/LC_MESSAGES/reglab.po``
holds the translations (managed with Babel: ``pybabel extract/update/compile``, see README) and
the compiled ``reglab.mo`` beside it is what is read here (the standard library's gettext;
Babel is needed only to maintain the catalogs).

The language: ``--lang``, then ``REGLAB_LANG``, then ``reglab.toml``'s ``lang`` (all three resolved
into ``Config.lang`` by grader.config), then the locale (``LC_ALL``, ``LC_MESSAGES``, ``LANG``: the
first one set decides, as POSIX says; one starting with "ko" means Korean), else English.

- ``_("text with {name}").format(name=...)``: translate now, in the active language;
- ``ngettext("{n} check", "{n} checks", n).format(n=n)``: the same with a count;
- ``N_("text")``: only marks a literal for extraction (``-k N_``) where it is declared at import
  time (check titles, hints, named mistakes, label tables); it is translated with ``_()`` when a
  result is built or a page is rendered, so results.json carries the chosen language's text while
  ids, keys and file names stay as they are;
- what ``_()`` returns is a :class:`Message`: the text, and the id and arguments it was made from,
  which results keep (``CheckResult.texts``) so that ``grader report --lang`` renders them again in
  the other language.
"""
from __future__ import annotations

import gettext
import os
import threading
from collections.abc import Mapping
from pathlib import Path

DOMAIN = "reglab"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("en", "ko")
SOURCE = "en"
LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")

_lock = threading.Lock()
_active: tuple[str, gettext.NullTranslations] | None = None


def from_locale(environ: Mapping[str, str] | None = None) -> str:
    """"ko" when the first set of LC_ALL, LC_MESSAGES, LANG starts with "ko" (ko_KR.UTF-8, ko), else "en"."""
    environ = os.environ if environ is None else environ
    for name in LOCALE_VARIABLES:
        value = environ.get(name, "")
        if value:
            return "ko" if value.lower().startswith("ko") else SOURCE
    return SOURCE


def choose(configured: str = "", environ: Mapping[str, str] | None = None) -> str:
    """The language: ``configured`` (Config.lang: --lang > REGLAB_LANG > reglab.toml) or the locale's."""
    if configured and configured not in LANGUAGES:
        raise ValueError(f"unknown language {configured!r}: choose one of {', '.join(LANGUAGES)}")
    return configured or from_locale(environ)


def catalog(lang: str) -> gettext.NullTranslations:
    """The compiled catalogs of ``lang``: the lab's (its checks' titles, hints and messages), then the
    grader's; English falls back to the message ids themselves."""
    from .lab import current

    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}: choose one of {', '.join(LANGUAGES)}")
    found = _compiled(lang, current().folder / "locale")
    found.add_fallback(_compiled(lang, LOCALE_DIR))
    return found


def _compiled(lang: str, folder: Path) -> gettext.NullTranslations:
    try:
        return gettext.translation(DOMAIN, folder, languages=[lang], fallback=lang == SOURCE)
    except FileNotFoundError:
        raise FileNotFoundError(f"no compiled {lang} catalog in {folder} (the package was built without "
                                f"locale/*/LC_MESSAGES/{DOMAIN}.mo): run pybabel compile -d {folder} "
                                f"-D {DOMAIN}") from None


def activate(lang: str) -> str:
    """Make ``lang`` the language of this process (every thread: a batch is graded in one language)."""
    global _active
    translations = catalog(lang)
    with _lock:
        _active = (lang, translations)
    return lang


def setup(lang: str | None = None, config_file: Path | None = None,
          environ: Mapping[str, str] | None = None) -> str:
    """Choose the language once, when a command starts, and activate it: ``lang`` (its ``--lang``),
    else REGLAB_LANG, else reglab.toml (``config_file`` or ./reglab.toml), else the locale."""
    from .config import resolve

    configured = resolve({"lang": lang}, environ=environ, config_file=config_file).lang
    return activate(choose(configured, environ))


def _translations() -> tuple[str, gettext.NullTranslations]:
    """The active catalog; on first use without :func:`activate`, the configured or locale's language."""
    if _active is None:
        from .config import ConfigError, resolve

        try:
            configured = resolve().lang
        except ConfigError:  # the command that reads the settings reports the bad file itself
            configured = ""
        activate(choose(configured))
    assert _active is not None
    return _active


def current() -> str:
    """The active language code, "en" or "ko" (for ``<html lang>``)."""
    return _translations()[0]


class Message(str):
    """Text translated for people that remembers what it was made from: its message id (and plural
    form and count) and the arguments it was formatted with, so that a result written in one language
    can be rendered again in the other (``as_data``, ``render``). It is the text everywhere a ``str``
    is expected: writers, templates and JSON read it as it is."""

    def __new__(cls, text: str, msgid: str, args: Mapping | None = None, plural: str = "", n: int | None = None):
        made = super().__new__(cls, text)
        made.msgid, made.args, made.plural, made.n = msgid, dict(args or {}), plural, n
        return made

    def __reduce__(self):  # results cross processes (a batch's workers) with what they were made from
        return Message, (str(self), self.msgid, self.args, self.plural, self.n)

    def format(self, *args, **kwargs) -> str:
        if args:  # positional placeholders are not used by the catalogs: plain text
            return str.format(self, *args, **kwargs)
        return Message(str.format(self, **kwargs), self.msgid, {**self.args, **kwargs}, self.plural, self.n)

    def as_data(self) -> dict:
        """Plain JSON: the id, and each argument as a number, a text as it came, or a message of its own."""
        data: dict = {"id": self.msgid, "args": {k: _argument(v) for k, v in self.args.items()}}
        if self.plural:
            data.update(plural=self.plural, n=self.n)
        return data


def joined(lead: str, detail: str) -> str:
    """``lead: detail``, each rendered again on its own in another language (``lead`` alone without a detail)."""
    if not detail:
        return lead
    return Message(f"{lead}: {detail}", "{lead}: {detail}", {"lead": lead, "detail": detail})


def join(separator: str, parts) -> str:
    """``separator.join(parts)``, each part rendered again on its own in another language."""
    parts = list(parts)
    return Message(separator.join(parts), separator.join(f"{{p{i}}}" for i in range(len(parts))),
                   {f"p{i}": part for i, part in enumerate(parts)})


def _argument(value):
    if isinstance(value, Message):
        return value.as_data()
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value if not isinstance(value, str) else str(value)
    try:
        return float(value)  # NumPy's numbers
    except (TypeError, ValueError):
        return str(value)


def render(data, lang: str) -> str:
    """A message's plain data (``Message.as_data``) as text in ``lang``; anything else as it is."""
    if not isinstance(data, dict) or "id" not in data:
        return data
    translations = catalog(lang)
    text = (translations.ngettext(data["id"], data["plural"], int(data.get("n") or 0)) if data.get("plural") else
            translations.gettext(data["id"]) if data["id"] else "")
    args = {k: render(v, lang) for k, v in (data.get("args") or {}).items()}
    for template in (text, data["id"]):  # the id itself where a catalog no longer fits the stored arguments
        try:
            return template.format(**args) if args else template
        except (KeyError, IndexError, ValueError):
            continue
    return data["id"]


def _(message: str) -> str:
    """``message`` in the active language (a :class:`Message`); one already translated is kept as it is."""
    if not message or isinstance(message, Message):
        return message
    return Message(_translations()[1].gettext(message), message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return Message(_translations()[1].ngettext(singular, plural, n), singular, plural=plural, n=n)


def N_(message: str) -> str:
    """Mark ``message`` for extraction only; translate it later with ``_()``."""
    return message


# ---------------------------------------------------------------- catalogs for a build (needs Babel)

KEYWORDS = {"_": 1, "N_": 1, "ngettext": 2}  # function -> how many leading arguments are message ids


def message_ids(package: Path, templates: bool = True) -> set[str]:
    """Every message id a grader package's sources and templates use (as ``pybabel extract`` finds them
    with babel.cfg; the Python side by its syntax tree, so an ``_()`` inside an f-string counts too)."""
    import ast

    from babel.messages.extract import extract_from_dir

    ids: set[str] = set()
    for path in sorted(Path(package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in KEYWORDS:
                ids.update(a.value for a in node.args[:KEYWORDS[node.func.id]]
                           if isinstance(a, ast.Constant) and isinstance(a.value, str))
    folder = Path(package) / "templates"
    if templates and folder.is_dir():
        method = [("**.j2", "jinja2.ext:babel_extract")]
        options = {"**.j2": {"extensions": "jinja2.ext.i18n", "trim_blocks": "True", "lstrip_blocks": "True"}}
        for _file, _line, message, _comments, _context in extract_from_dir(str(folder), method, options):
            ids.update(message if isinstance(message, tuple) else (message,))
    ids.discard("")
    return ids


def compile_catalogs(dest: Path, keep: set[str], source: Path = LOCALE_DIR) -> list[Path]:
    """Write ``dest/<lang>/LC_MESSAGES/reglab.mo`` from the catalogs in ``source`` (the grader's, or a
    lab's ``locale``) with only the messages whose id is in ``keep``.

    For a student release: its catalog must carry only what its own files use, or the titles and
    hints of hidden checks would ride along in it. Returns the files written.
    """
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for lang in LANGUAGES:
        with open(Path(source) / lang / "LC_MESSAGES" / f"{DOMAIN}.po", "rb") as fh:
            catalog = read_po(fh, locale=lang)
        for message in list(catalog):
            ids = (message.id,) if isinstance(message.id, str) else message.id
            if message.id and ids[0] not in keep:
                catalog.delete(message.id, message.context)
        out = Path(dest) / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "wb") as fh:
            write_mo(fh, catalog)
        written.append(out)
    return written
