"""Shared test set-up: the repository root is importable (solution/, assignment/), and grading
fixtures share one expected-data cache per test session."""
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@pytest.fixture(scope="session")
def config():
    """A grader configuration without the training check (its own tests turn it on)."""
    from grader.config import Config

    return Config(training=False)


@pytest.fixture(scope="session")
def expected(config):
    from grader.grading import load_expected

    return load_expected(config)


@pytest.fixture(scope="session")
def grade(config, expected):
    """grade(path) -> SubmissionResult, with the expected data loaded once."""
    from grader.grading import grade_submission

    def run(path, **kw):
        return grade_submission(Path(path), kw.pop("config", config), expected=expected, **kw)
    return run


@pytest.fixture(scope="session")
def small_cifar(tmp_path_factory):
    """A small CIFAR-format copy for builds that package the training check's images (release, autograder)."""
    from grader.cifar_fixture import write_fixture

    return write_fixture(tmp_path_factory.mktemp("cifar"), n_train=256, n_test=200, seed=0)


@pytest.fixture(autouse=True)
def umask():
    """A test that runs ``grade`` in this process gets the grader's private umask (077): put back, so
    that what later tests create (a venv, an installed package) is as readable as on any machine."""
    import os

    before = os.umask(0o022)
    os.umask(before)
    yield
    os.umask(before)


@pytest.fixture(autouse=True)
def english():
    """Tests read English unless they switch language themselves (a developer's LANG=ko_KR.UTF-8
    must not fail them); a test that switches is put back."""
    from grader import i18n

    i18n.activate("en")
    yield
    i18n.activate("en")
