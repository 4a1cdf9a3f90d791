"""Configuration precedence (command line > environment > file > default) and errors that say where."""
from pathlib import Path

import pytest

from grader.config import Config, ConfigError, resolve


def test_defaults(tmp_path):
    cfg = resolve({}, environ={}, config_file=None) if not Path("reglab.toml").exists() else None
    cfg = cfg or Config()
    assert cfg.jobs == 1 and cfg.training is True and cfg.data == Path("data")


def test_command_line_beats_environment_beats_file(tmp_path):
    file = tmp_path / "reglab.toml"
    file.write_text('jobs = 3\ndata = "from-file"\nprobe_timeout = 7\n')
    cfg = resolve({"jobs": 5, "data": None}, environ={"REGLAB_DATA": "from-env", "REGLAB_JOBS": "4"},
                  config_file=file)
    assert cfg.jobs == 5 and cfg.source("jobs") == "command line"
    assert cfg.data == Path("from-env") and cfg.source("data") == "environment variable REGLAB_DATA"
    assert cfg.probe_timeout == 7 and cfg.source("probe_timeout") == str(file)
    assert cfg.source("memory_mb") == "default"


@pytest.mark.parametrize("environ,where", [({"REGLAB_JOBS": "many"}, "REGLAB_JOBS"),
                                           ({"REGLAB_TRAINING": "perhaps"}, "REGLAB_TRAINING"),
                                           ({"REGLAB_JOBS": "0"}, "at least 1")])
def test_a_bad_environment_value_names_its_variable(environ, where):
    with pytest.raises(ConfigError, match=where):
        resolve({}, environ=environ, config_file=None)


def test_a_bad_file_names_the_file_and_the_setting(tmp_path):
    file = tmp_path / "reglab.toml"
    file.write_text("jobz = 2\n")
    with pytest.raises(ConfigError, match="unknown setting.*jobz"):
        resolve({}, environ={}, config_file=file)
    file.write_text("jobs = [\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        resolve({}, environ={}, config_file=file)
    with pytest.raises(ConfigError, match="no such file"):
        resolve({}, environ={}, config_file=tmp_path / "missing.toml")


def test_settings_are_grouped_by_concern_and_each_has_one_name():
    import dataclasses

    from grader.config import GROUPS, SETTINGS

    names = [f.name for kind in GROUPS.values() for f in dataclasses.fields(kind)]
    assert len(names) == len(set(names)) == len(SETTINGS)  # one group each: a name never means two things
    cfg = Config(jobs=3, sandbox="none", secret_seed="s")
    assert (cfg.grading.jobs, cfg.isolation.sandbox, cfg.course.secret_seed) == (3, "none", "s")
    assert cfg.jobs == 3  # a setting also reads by its own name
    again = dataclasses.replace(cfg, training=False)
    assert again.grading.training is False and again.grading.jobs == 3 and again.isolation == cfg.isolation
    with pytest.raises(TypeError, match="no setting"):
        Config(jobz=2)
    with pytest.raises(AttributeError):
        cfg.jobz  # noqa: B018
