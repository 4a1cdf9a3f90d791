"""Equivalent forms of the reference (solution/*.py), from a table of PyTorch equivalences.

Mutation testing proves that mistakes lose points; this proves that correct code keeps them. Each
``Rule`` rewrites the reference's AST (stdlib ``ast``, written back with ``ast.unparse``) in the
functions it names: a pattern, Python source where the names ``_X``, ``_W``... (an underscore and a
capital) are metavariables, and its replacement. A metavariable matches any expression (or, in an
attribute's name, any name; ``_BODY`` alone in a block, the whole block); repeated, it must match
the same thing each time. ``form_of`` and ``combinations`` apply the rules singly and in seeded random combinations.

A rule is non-equivalent under the contract (``non_equivalent``: the contract sentence it breaks)
or not; where today's grader gets it wrong, ``grader_bug`` says which check and why. The test and
bench/bench_equivalence.py expect full marks exactly where ``graded_full`` says so.
"""
from __future__ import annotations

import ast
import copy
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

SOLUTION = Path(__file__).resolve().parents[1] / "solution"
FILES = ("penalties", "model", "data", "train")
META = re.compile(r"_[A-Z][A-Z0-9]*$")
_IGNORED = {"ctx", "lineno", "col_offset", "end_lineno", "end_col_offset", "type_comment", "kind"}


@dataclass(frozen=True)
class Edit:
    """In function ``where`` (``name`` or ``Class.name``), every ``before`` becomes ``after``."""
    where: str
    before: str
    after: str


@dataclass(frozen=True)
class Rule:
    name: str
    file: str
    edits: tuple[Edit, ...]
    imports: tuple[str, ...] = ()
    only: tuple[tuple[str, str], ...] = ()   # (metavariable, regex) its binding must match
    non_equivalent: str = ""                  # the contract sentence the form breaks
    grader_bug: str = ""                      # why today's grader gives the opposite of the contract

    @property
    def expected_full(self) -> bool:
        """What a grader right about this rule gives its form: full marks unless non-equivalent."""
        return not self.non_equivalent

    @property
    def graded_full(self) -> bool:
        """What today's grader is expected to give (the opposite where a grader bug is known)."""
        return self.expected_full != bool(self.grader_bug)


# ------------------------------------------------------------------ matching and substitution

def _pattern(src: str) -> list[ast.stmt] | ast.expr:
    body = ast.parse(src).body
    return body[0].value if len(body) == 1 and isinstance(body[0], ast.Expr) else body


def _block_meta(stmts) -> str | None:
    if (len(stmts) == 1 and isinstance(stmts[0], ast.Expr) and isinstance(stmts[0].value, ast.Name)
            and stmts[0].value.id.startswith("_BODY")):
        return stmts[0].value.id
    return None


def _match(pat, node, env: dict) -> bool:
    if isinstance(pat, list):
        if not isinstance(node, list):
            return False
        if (name := _block_meta(pat)) and all(isinstance(n, ast.stmt) for n in node):
            return _bind(name, node, env)
        return len(pat) == len(node) and all(_match(p, n, env) for p, n in zip(pat, node))
    if isinstance(pat, ast.Name) and META.match(pat.id):
        return isinstance(node, ast.expr) and _bind(pat.id, node, env)
    if isinstance(pat, str) and META.match(pat):
        return isinstance(node, str) and _bind(pat, node, env)
    if isinstance(pat, ast.AST):
        if type(pat) is not type(node):
            return False
        return all(_match(getattr(pat, f, None), getattr(node, f, None), env)
                   for f in pat._fields if f not in _IGNORED)
    return pat == node


def _bind(name: str, node, env: dict) -> bool:
    if name in env:
        return _match(env[name], node, {})
    env[name] = node
    return True


class _Substitute(ast.NodeTransformer):
    def __init__(self, env):
        self.env = env

    def visit_Name(self, node):
        if META.match(node.id):
            return copy.deepcopy(self.env[node.id])
        return node

    def visit_Attribute(self, node):
        self.generic_visit(node)
        if META.match(node.attr):
            node.attr = self.env[node.attr]
        return node

    def generic_visit(self, node):
        for name, value in ast.iter_fields(node):
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                setattr(node, name, _splice(value, self.env))
        return super().generic_visit(node)


def _splice(stmts, env) -> list:
    out = []
    for s in stmts:
        name = _block_meta([s])
        out.extend(copy.deepcopy(env[name]) if name else [s])
    return out


def _instantiate(pat, env):
    pat = copy.deepcopy(pat)
    if isinstance(pat, list):
        mod = ast.Module(body=_splice(pat, env), type_ignores=[])
        return _Substitute(env).visit(mod).body
    return _Substitute(env).visit(ast.Expression(body=pat)).body


def _rewrite(node, before, after, ok) -> int:
    """Replace every match of ``before`` inside ``node`` (not inside a replacement); the count."""
    count = 0
    for name, value in ast.iter_fields(node):
        if isinstance(value, list):
            if isinstance(before, list) and value and isinstance(value[0], ast.stmt):
                i, new = 0, []
                while i < len(value):
                    n = len(before)
                    env: dict = {}
                    if (_block_meta(before) is None and _match(before, value[i:i + n], env) and ok(env)):
                        new.extend(_instantiate(after, env))
                        i, count = i + n, count + 1
                        continue
                    new.append(value[i])
                    count += _rewrite(value[i], before, after, ok)
                    i += 1
                setattr(node, name, new)
            else:
                for k, item in enumerate(value):
                    count += _rewrite_one(value, k, item, before, after, ok)
        elif isinstance(value, ast.AST):
            env = {}
            if not isinstance(before, list) and _match(before, value, env) and ok(env):
                setattr(node, name, _instantiate(after, env))
                count += 1
            else:
                count += _rewrite(value, before, after, ok)
    return count


def _rewrite_one(seq, k, item, before, after, ok) -> int:
    if not isinstance(item, ast.AST):
        return 0
    env: dict = {}
    if not isinstance(before, list) and isinstance(item, ast.expr) and _match(before, item, env) and ok(env):
        seq[k] = _instantiate(after, env)
        return 1
    return _rewrite(item, before, after, ok)


def _functions(tree: ast.Module):
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            yield node.name, node
        elif isinstance(node, ast.ClassDef):
            for sub in node.body:
                if isinstance(sub, ast.FunctionDef):
                    yield f"{node.name}.{sub.name}", sub


def _ok(rule: Rule):
    def ok(env):
        for var, regex in rule.only:
            value = env.get(var)
            text = value if isinstance(value, str) else ast.unparse(value) if value is not None else ""
            if not re.fullmatch(regex, text):
                return False
        return True
    return ok


def apply(rule: Rule, tree: ast.Module) -> bool:
    """Apply ``rule`` to ``tree`` in place when every one of its edits matches; whether it did."""
    trial = copy.deepcopy(tree)
    funcs = dict(_functions(trial))
    for edit in rule.edits:
        fn = funcs.get(edit.where)
        if fn is None or not _rewrite(fn, _pattern(edit.before), _pattern(edit.after), _ok(rule)):
            return False
    present = {ast.unparse(s) for s in trial.body if isinstance(s, (ast.Import, ast.ImportFrom))}
    last = max((i for i, s in enumerate(trial.body) if isinstance(s, (ast.Import, ast.ImportFrom))), default=0)
    for line in rule.imports:
        if line not in present:
            trial.body.insert(last + 1, ast.parse(line).body[0])
            last += 1
    tree.body[:] = trial.body
    return True


# ------------------------------------------------------------------ forms

@dataclass
class Form:
    rules: tuple[str, ...]
    sources: dict[str, str] = field(default_factory=dict)   # file -> rewritten source

    @property
    def name(self) -> str:
        return "+".join(self.rules)


def reference_trees() -> dict[str, ast.Module]:
    return {f: ast.parse((SOLUTION / f"{f}.py").read_text(encoding="utf-8")) for f in FILES}


def form_of(rules) -> Form | None:
    """The form made by applying ``rules`` in order; None unless every one of them applied."""
    trees = reference_trees()
    changed = set()
    for rule in rules:
        if not apply(rule, trees[rule.file]):
            return None
        changed.add(rule.file)
    return Form(tuple(r.name for r in rules), {f: ast.unparse(ast.fix_missing_locations(trees[f]))
                                                 for f in sorted(changed)})


def combinations(rules, count: int, seed: int = 0, sizes=(2, 6)) -> list[Form]:
    """``count`` distinct forms, each made of 2 to 6 rules drawn with ``random.Random(seed)``."""
    rng, seen, out = random.Random(seed), set(), []
    for _ in range(count * 50):
        if len(out) == count:
            break
        picked = rng.sample(list(rules), rng.randint(*sizes))
        form = form_of(picked)
        if form is None or not form.sources:
            continue
        key = tuple(sorted(form.sources.items()))
        if key not in seen:
            seen.add(key)
            out.append(form)
    return out


def write(form: Form, folder: Path) -> Path:
    """The reference with ``form``'s files in ``folder`` (experiment.py left out: not graded)."""
    import shutil
    shutil.copytree(SOLUTION, folder, ignore=shutil.ignore_patterns("__pycache__", "experiment.py"))
    for file, src in form.sources.items():
        (folder / f"{file}.py").write_text(src + "\n", encoding="utf-8")
    return folder
