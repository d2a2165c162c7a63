"""Tests of attention_course.config and the `attention-course profile` command."""

import subprocess
import sys

import keras
import numpy as np
import pytest

from attention_course import config
from attention_course.cli import main


def test_env_var_chooses_the_profile(monkeypatch):
    monkeypatch.setenv(config.ENV_VAR, "smoke")
    assert config.get_profile().name == "smoke"
    monkeypatch.setenv(config.ENV_VAR, "FULL")
    assert config.get_profile().name == "full"


def test_argument_wins_over_env_var(monkeypatch):
    monkeypatch.setenv(config.ENV_VAR, "smoke")
    assert config.get_profile("cpu").name == "cpu"


def test_unknown_profile_names_the_choices(monkeypatch):
    monkeypatch.setenv(config.ENV_VAR, "turbo")
    with pytest.raises(ValueError, match=r"unknown profile 'turbo'.*smoke, cpu, full"):
        config.get_profile()


def test_default_follows_the_device(monkeypatch):
    monkeypatch.delenv(config.ENV_VAR, raising=False)
    monkeypatch.setattr(config, "gpu_available", lambda: True)
    assert config.get_profile().name == "full"
    monkeypatch.setattr(config, "gpu_available", lambda: False)
    assert config.get_profile().name == "cpu"


def test_profiles_grow_from_smoke_to_full():
    smoke, cpu, full = (config.PROFILES[n] for n in ("smoke", "cpu", "full"))
    assert smoke.train_size < cpu.train_size
    assert full.train_size is None and full.test_size is None
    assert smoke.maxlen <= cpu.maxlen <= full.maxlen
    assert smoke.epochs <= cpu.epochs <= full.epochs
    assert cpu.with_(epochs=1).epochs == 1 and cpu.epochs != 1


def test_setup_seeds_and_reports(capsys, monkeypatch):
    monkeypatch.setenv(config.ENV_VAR, "smoke")
    profile = config.setup(seed=3)
    first = keras.random.uniform((3,), seed=None)
    a = np.random.rand()  # noqa: NPY002 (the legacy global generator is what setup seeds)
    config.setup(seed=3)
    second = keras.random.uniform((3,), seed=None)
    assert np.random.rand() == a  # noqa: NPY002
    np.testing.assert_allclose(np.asarray(first), np.asarray(second))
    out = capsys.readouterr().out
    assert profile.name == "smoke" and "profile: smoke" in out and "device: CPU" in out


def test_cli_profile_command(capsys):
    assert main(["profile", "smoke"]) == 0
    out = capsys.readouterr().out
    assert "profile: smoke" in out and "maxlen: 100" in out
    assert main(["profile", "nope"]) == 2
    assert "unknown profile" in capsys.readouterr().err


def test_console_script_is_installed():
    result = subprocess.run(
        [sys.executable, "-m", "attention_course.cli", "profile", "cpu"],
        capture_output=True, text=True, check=True,
    )
    assert "profile: cpu" in result.stdout


def test_dry_run_keeps_the_settings_and_caps_data_and_epochs(monkeypatch):
    monkeypatch.setenv(config.ENV_VAR, "full")
    monkeypatch.setenv(config.DRY_RUN_VAR, "1")
    full, dry = config.PROFILES["full"], config.get_profile()
    assert dry.dry_run and dry.name == "full"
    assert (dry.num_words, dry.maxlen, dry.batch_size) == (
        full.num_words, full.maxlen, full.batch_size)
    assert (dry.train_size, dry.val_size, dry.test_size, dry.epochs) == (512, 256, 512, 1)
    # A chapter's own changes keep the caps: a dry run never grows back to the full data.
    changed = dry.with_(train_size=None, epochs=20, maxlen=800)
    assert (changed.train_size, changed.epochs, changed.maxlen) == (512, 1, 800)
    monkeypatch.setenv(config.DRY_RUN_VAR, "0")
    assert config.get_profile() == full
    monkeypatch.setenv(config.DRY_RUN_VAR, "maybe")
    with pytest.raises(ValueError, match=r"ATTENTION_DRY_RUN must be 1 or 0.*'maybe'"):
        config.get_profile()


def test_fit_model_trains_one_epoch_in_a_dry_run():
    from attention_course import models, training

    rng = np.random.default_rng(0)
    x, y = rng.integers(1, 30, size=(32, 6)), rng.integers(0, 2, size=32)
    profile = config.PROFILES["smoke"].with_(dry_run=True, batch_size=16, maxlen=6)
    model = models.build_review_classifier("bag_of_embeddings", num_words=30,
                                           embedding_dim=4, units=2)
    run = training.fit_model(model, ((x, y), (x[:8], y[:8])), profile, epochs=3, verbose=0)
    assert len(run.history["loss"]) == 1
