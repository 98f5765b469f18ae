"""rethink_tf.environment: what a run was trained on, in its record; a resume elsewhere refused; reports say a mix."""

import dataclasses
import json
import os

import keras
import pytest
import tensorflow as tf
from conftest import fake_record, final_and_losses, interrupted_run, smoke_base, tiny_config, tiny_raw

from rethink_tf import environment, records, tables, train


def test_the_environment_names_the_cpu_isa_threads_and_versions_of_this_process():
    env = environment.read()
    assert env["cpu"] and env["host"] and env["machine"]
    assert set(env["cpu_isa"]) <= set(environment.ISA_EXTENSIONS)
    assert env["tensorflow"] == tf.__version__ and env["keras"] == keras.__version__
    assert env["intra_op_threads"] >= 1 and env["inter_op_threads"] >= 1
    assert env["onednn"] == records.onednn_enabled()
    if env["onednn"]:
        assert env["onednn_version"].count(".") == 2
    assert set(environment.NUMERIC_FIELDS) <= set(env)
    json.dumps(env)  # it goes into the record as it is


def test_onednns_isa_is_the_highest_rung_the_cpu_has_lowered_to_its_cap():
    avx2 = ["sse4_1", "sse4_2", "avx", "avx2", "fma"]
    avx512 = avx2 + ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni"]
    assert environment.onednn_isa(avx2, "") == "avx2"
    assert environment.onednn_isa(avx512, "") == "avx512_core_vnni"
    assert environment.onednn_isa(avx512, "AVX2") == "avx2"  # ONEDNN_MAX_CPU_ISA lowers it
    assert environment.onednn_isa(avx2, "AVX512_CORE") == "avx2"  # and never raises it
    assert environment.onednn_isa(["fp", "asimd"], "") is None  # not x86
    # caps beside the ladder and AVX10 names, as oneDNN reads them
    assert environment.onednn_isa(avx512 + ["avx_vnni"], "AVX2_VNNI") == "avx2_vnni"
    assert environment.onednn_isa(avx512, "AVX2_VNNI") == "avx2"  # no AVX-VNNI: AVX2 it is
    assert environment.onednn_isa(avx512 + ["avx512_bf16", "avx512_fp16"], "AVX10_1_512") == "avx512_core_fp16"


def test_differences_name_each_numeric_field_and_ignore_the_host():
    mine = environment.read()
    theirs = {**mine, "host": "elsewhere", "intra_op_threads": mine["intra_op_threads"] + 1}
    theirs["cpu_isa"] = [f for f in mine["cpu_isa"] if f != "avx2"] + ["amx_fp16"]
    differ = environment.differences(theirs, mine)
    assert f"intra_op_threads {mine['intra_op_threads'] + 1} -> {mine['intra_op_threads']}" in differ
    assert any(d.startswith("cpu_isa -amx_fp16") for d in differ)
    assert not [d for d in differ if "host" in d]
    assert environment.differences(dict(mine, host="elsewhere"), mine) == []
    assert environment.differences(None, mine) == [
        "not recorded (a run started before rethink_tf recorded environments)"
    ]


def elsewhere(env):
    """This environment as another machine's: one with fewer threads and without AVX-512."""
    return {
        **env,
        "cpu": "Another CPU",
        "cpu_isa": [f for f in env["cpu_isa"] if not f.startswith("avx512")],
        "intra_op_threads": env["intra_op_threads"] + 7,
    }


def snapshot(run_dir):
    return {
        os.path.relpath(os.path.join(d, f), run_dir): open(os.path.join(d, f), "rb").read()
        for d, _, files in os.walk(run_dir)
        for f in files
    }


def test_a_resume_in_another_environment_is_refused_in_one_line_and_touches_nothing(tmp_path, monkeypatch):
    cfg = interrupted_run(tiny_config(tmp_path), monkeypatch)
    started_in = records.read_record(cfg.run_dir)["environment"]
    assert started_in == environment.read()  # every new record carries its environment
    before = snapshot(cfg.run_dir)
    here = environment.read
    monkeypatch.setattr(environment, "read", lambda: elsewhere(here()))
    with pytest.raises(records.RunDirError) as refused:
        train.run(cfg, raw=tiny_raw())
    line = str(refused.value)
    assert "\n" not in line and "started in another compute environment (cpu " in line
    assert f"intra_op_threads {started_in['intra_op_threads']} -> {started_in['intra_op_threads'] + 7}" in line
    assert "move the directory away to train it afresh here, or pass --allow_mixed_environment" in line
    assert snapshot(cfg.run_dir) == before
    assert records.claim_holder(cfg.run_dir) is None


def test_the_flag_resumes_it_and_the_record_says_where_each_part_was_trained(tmp_path, monkeypatch):
    whole = train.run(tiny_config(tmp_path / "whole"), raw=tiny_raw())
    cfg = interrupted_run(tiny_config(tmp_path / "cut"), monkeypatch)
    started_in = records.read_record(cfg.run_dir)["environment"]
    faked = elsewhere(environment.read())
    monkeypatch.setattr(environment, "read", lambda: faked)  # only the record believes it: the bits are this machine's
    resumed = train.run(dataclasses.replace(cfg, allow_mixed_environment=True), raw=tiny_raw())
    assert resumed["status"] == records.FINISHED and final_and_losses(resumed) == final_and_losses(whole)
    assert resumed["environment"] == started_in
    assert resumed["resumed_in"] == [{"epoch": 2, "environment": faked}]
    note = environment.note([resumed, whole])
    assert (
        note.startswith("\nThese 2 runs started in one compute environment (")
        and "1 of them resumed in another" in note
    )


def test_a_finished_run_is_reused_anywhere_and_keeps_its_environment(tmp_path, monkeypatch):
    cfg = tiny_config(tmp_path, epochs=1)
    first = train.run(cfg, raw=tiny_raw())
    here = environment.read
    monkeypatch.setattr(environment, "read", lambda: elsewhere(here()))
    again = train.run(cfg, raw=tiny_raw())
    assert again["environment"] == first["environment"] == here()


def test_a_report_over_runs_of_two_environments_says_how_many_came_from_which(tmp_path):
    env = environment.read()
    run = {"status": records.FINISHED, "environment": env}
    other = {"status": records.FINISHED, "environment": elsewhere(env)}
    assert environment.note([run, run, run]) == ""  # one environment: nothing to say
    text = tables.write(str(tmp_path), "t", "| a |\n|---|\n", runs=[run, run, other])
    assert "These 3 runs come from 2 compute environments" in text
    assert f"2 in {environment.label(env)}; 1 in {environment.label(elsewhere(env))}" in text
    assert open(tmp_path / "t.md").read() == text
    assert environment.note([run, {"status": records.INTERRUPTED, "environment": elsewhere(env)}]) == ""
    keras_only = {"status": records.FINISHED, "environment": {**env, "keras": "9.9.9"}}  # one label, two environments
    assert f"1 in {environment.label(env)} (keras {env['keras']} -> 9.9.9)" in environment.note([run, run, keras_only])


def test_figure1s_report_from_records_of_two_environments_says_so_under_its_table(tmp_path):

    from rethink_tf import report
    from rethink_tf.experiments import figure1

    base = dataclasses.replace(smoke_base(tmp_path), batch_size=32, stop_when_fit=True)
    env = environment.read()
    for i, (p, fit) in enumerate(((0.0, 5), (1.0, 9))):
        cfg = figure1.run_config(base, "mlp_1x512", p=p)
        fake_record(cfg, fit, 0.9 - 0.8 * p)
        record = records.read_record(cfg.run_dir)
        records.save(cfg, {**record, "environment": elsewhere(env) if i else env})
    text = report.report("figure1", base.results_dir)
    assert (
        "These 2 runs come from 2 compute environments, whose numbers can differ (docs/determinism.md): 1 in " in text
    )
    assert environment.label(elsewhere(env)) in text
    assert environment.label(elsewhere(env)) in open(os.path.join(base.results_dir, "figure1.md")).read()
