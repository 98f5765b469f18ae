"""Each flag declared once: RunConfig's fields and each experiment's Options are the flags, their --help groups,
config.PLACEMENT_FIELDS and docs/flags.md; presets set defaults (absl's set_default); a config is checked once."""

import dataclasses
import os
import sys

import preset_flags
import pytest
from absl import flags
from conftest import REPO

from rethink_tf import cli, config, experiments, runs
from rethink_tf.experiments import (
    csr_noise,
    difficulty,
    double_descent,
    figure1,
    measures,
    memorization,
    regularizers,
    scaling,
    table1,
    table3,
    tune,
)

sys.path.insert(0, os.path.join(REPO, "tools"))
import flags_doc  # noqa: E402  (a script in tools/, imported for its functions)

# The users' contract: every flag's name and default (types and meanings are in the declarations).
RUN_FLAGS = {
    **{f.name: f.default for f in dataclasses.fields(config.RunConfig)},
    "preset": "laptop",
    "workers": 1,
    "engine": "local",
    "ray_address": None,
}
DIFFICULTY = {
    "difficulty_runs": 100,
    "difficulty_train_size": 0,
    "difficulty_models": ["mlp_1x512", "alexnet_small"],
    "difficulty_conditions": ["true_labels", "random_labels", "gaussian", "random_pixels"],
}
OPTIONS = {
    table1.Options: {"random_label_seeds": 1, "single_seed_models": []},
    figure1.Options: {"corrupt_levels": [k / 10 for k in range(11)]},
    measures.Options: {
        "random_label_seeds": 1,
        "single_seed_models": [],
        "corrupt_levels": [k / 10 for k in range(11)],
    },
    table3.Options: {"kernel_l2": 1e-3, "random_filters": 64},
    difficulty.Options: DIFFICULTY,
    memorization.Options: {
        **DIFFICULTY,
        "memorization_runs": 4,
        "memorization_model_runs": [],
        "memorization_fraction": 0.7,
        "memorization_levels": [0.0, 0.5, 1.0],
        "memorization_models": ["mlp_1x512", "alexnet_small"],
        "memorization_weights": False,
    },
    regularizers.Options: {
        "regularizer_models": ["mlp_1x512", "alexnet_small"],
        "regularizer_names": list(regularizers.STRENGTHS),
        "regularizer_epochs": 0,
    },
    csr_noise.Options: {
        "csr_noise_models": ["mlp_1x512", "alexnet_small"],
        "csr_noise_levels": [0.2, 0.4, 0.6, 0.8],
        "csr_noise_every": 1,
        "csr_noise_size": 500,
    },
    double_descent.Options: {
        "dd_model": "mlp_1x512",
        "dd_widths": [2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0],
        "dd_levels": [0.0, 0.1, 0.2],
        "dd_train_size": 1000,
        "dd_sample_sizes": [250, 500, 1000, 2000, 4000],
        "dd_sample_width": 64.0,
        "dd_epochs": 200,
        "dd_learning_rate": 1e-3,
        "dd_image_size": 14,
    },
    scaling.Options: {
        "scaling_models": ["mlp_1x512", "alexnet_small", "inception_small"],
        "scaling_sizes": [400, 1600, 6400, 25600, 60000],
        "scaling_max_sizes": ["alexnet_small=25600", "inception_small=1600"],
    },
    tune.Options: {
        "oracle": "bayesian",
        "max_trials": 10,
        "learning_rates": [0.001, 0.3],
        "batch_sizes": [32, 64, 128],
        "bn_momenta": [0.9, 0.99],
    },
}


def test_the_flags_are_the_declared_fields_with_their_defaults():
    values = flags.FlagValues()
    cli.define_flags(values)
    # 0.5's 50, --tag, 0.6's run_seed, train_fraction, ledger, save_weights, #44's input_dropout, input_noise,
    # hidden_noise, adversarial, adversarial_fraction, csr_every, csr_size, and #45's hidden_units,
    # width_multiplier, optimizer
    assert {name: values[name].default for name in values} == RUN_FLAGS and len(RUN_FLAGS) == 65
    for options, expected in OPTIONS.items():
        cli.define_options(options, values)
        assert {name: values[name].default for name in cli.names(options)} == expected
    # 0.5's 60, --tag, 0.6's four, the memorization experiment's ten, #44's seven, the regularizers' three,
    # csr_noise's four, #45's three, double_descent's nine and scaling's three
    assert len(list(values)) == 104
    assert values["model"].parser.enum_values == list(cli.CHOICES["models"])
    assert values["single_seed_models"].flag_type() == "multi string enum"
    with pytest.raises(flags.IllegalFlagValueError):
        values(["prog", "--random_filters=0"])  # a declared bound


def test_groups_and_placement_come_from_the_declarations():
    grouped = [name for _, names in cli.RUN_GROUPS for name in names]
    assert sorted(grouped) == sorted(f.name for f in dataclasses.fields(config.RunConfig))
    assert [title for title, _ in cli.RUN_GROUPS] == list(config.GROUPS)
    assert set(config.PLACEMENT_FIELDS) == {
        "preset",
        "results_dir",
        "run_name",
        "tag",
        "verbose",
        "steps_per_execution",
        "data_dir",
        "idx_dir",
        "cifar_archive",
        "download",
        "manual_dir",
        "measures",
        "ledger",
        "save_weights",
        "allow_mixed_environment",
        "csr_every",
        "csr_size",
    }
    assert "learning_rate" not in config.PLACEMENT_FIELDS and "threads" not in config.PLACEMENT_FIELDS
    assert "inception_small 0.1" in cli.flag_help(
        next(f for f in dataclasses.fields(config.RunConfig) if f.name == "learning_rate")
    )


def test_every_experiment_declares_its_options_as_a_dataclass():
    for name in experiments.NAMES:
        options = experiments.get(name).options
        assert options is None or dataclasses.is_dataclass(options)
        for field in dataclasses.fields(options) if options else ():
            assert field.metadata["help"] and field.name not in {f.name for f in dataclasses.fields(config.RunConfig)}
    assert set(cli.names(measures.Options)) == set(cli.names(table1.Options)) | set(cli.names(figure1.Options))


def test_docs_flags_md_is_what_the_declarations_say():
    with open(flags_doc.DOC) as f:
        text = f.read()
    assert flags_doc.render(text) == text, f"docs/flags.md is out of date; regenerate it: {flags_doc.COMMAND}"
    for name in RUN_FLAGS.keys() | {n for o in OPTIONS.values() for n in o}:
        assert f"| `--{name}` |" in text


def test_a_preset_sets_defaults_and_the_command_line_wins():
    values = preset_flags.parsed("--preset=laptop", "--batch_size=64", "--nostop_when_fit", options=table1.Options)
    assert values.batch_size == 64 and values.stop_when_fit is False  # given: kept
    assert values.train_size == 400 and values.bn_momentum == 0.9 and values.workers == 2  # the preset's
    assert values.random_label_seeds == 3 and values.single_seed_models == ["inception_small_nobn"]
    assert not values["train_size"].present  # a preset's value is a default, not a flag given
    options = cli.options(table1.Options, values)
    assert options == table1.Options(random_label_seeds=3, single_seed_models=("inception_small_nobn",))


def test_a_preset_option_the_program_lacks_is_skipped_only_when_undefok_names_it(tmp_path, monkeypatch):
    values = preset_flags.parsed("--preset=laptop")  # rethink_tf.train's flags: no Table 1 options
    assert "random_label_seeds" not in values and values.train_size == 400
    monkeypatch.setattr(cli, "PRESETS_DIR", str(tmp_path))
    (tmp_path / "smoke.flags").write_text("--train_size=64\n--random_label_sedes=3\n")
    with pytest.raises(config.ConfigError, match=r"smoke\.flags: unknown flag --random_label_sedes$"):
        preset_flags.parsed("--preset=smoke")
    (tmp_path / "smoke.flags").write_text("--epochs=many\n")
    with pytest.raises(config.ConfigError, match=r"smoke\.flags: --epochs=many") as e:
        preset_flags.parsed("--preset=smoke", "--epochs=3")  # the preset's value fails even where a flag wins
    assert "\n" not in str(e.value)
    (tmp_path / "smoke.flags").write_text("--corrupt_levels=0\n--corrupt_levels=0.5\n--nomeasures\n")
    values = preset_flags.parsed("--preset=smoke", options=figure1.Options)
    assert values.corrupt_levels == [0.0, 0.5] and values.measures is False


def test_every_preset_line_names_a_flag_of_some_program():
    values = flags.FlagValues()
    cli.define_flags(values)
    for options in OPTIONS:
        cli.define_options(options, values)
    run_flags = set(RUN_FLAGS)
    for preset in cli.PRESETS:
        given, undefok = cli.preset_values(preset, values)
        assert set(given) <= set(values), preset
        assert undefok <= set(values) - run_flags, f"{preset}: --undefok names a flag rethink_tf.train defines"
        assert set(given) - run_flags <= undefok, f"{preset}: an experiment's option not in its --undefok line"


def test_a_command_line_config_is_checked_once(monkeypatch):
    calls = []
    validate = config.RunConfig.validate
    monkeypatch.setattr(config.RunConfig, "validate", lambda self: calls.append(self) or validate(self))
    base = preset_flags.base_config("--preset=smoke", "--seed=12345", "--model=mlp_1x512")  # cli.run_config's path
    resolved = runs.resolve(base)  # rethink_tf.train's main, then train.run
    assert runs.resolve(resolved) is resolved and resolved.learning_rate == 0.01
    assert calls == [base]
    with pytest.raises(config.ConfigError, match="--epochs=0"):
        runs.resolve(dataclasses.replace(base, epochs=0))
    with pytest.raises(config.ConfigError, match="--epochs=0"):  # a failure is not remembered
        runs.check(dataclasses.replace(base, epochs=0))
