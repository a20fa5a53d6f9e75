"""`w2s` on bad input: one line naming the file (and line, field), exit code 2, no traceback."""
from __future__ import annotations

import json

import pytest

from w2s_ray.cli import main

GOOD = "strong: {name: s, model: m}\nweak: [{name: a, model: m}]\n"


def _run(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize("name, content, expect", [
    ("missing.yaml", None, "missing.yaml: cannot read"),
    ("latin1.yaml", b"name: caf\xe9\n" + GOOD.encode(), "latin1.yaml: not UTF-8"),
    ("dup.yaml", (GOOD + "name: a\nname: b\n").encode(), "dup.yaml:4: not valid YAML: duplicate key 'name'"),
    ("strict.yaml", (GOOD + "loop: {rounds: '3'}\n").encode(), "field 'loop.rounds'"),
    ("scorer.yaml", (GOOD + "scorers: [{name: nope}]\n").encode(), "unknown scorer 'nope'"),
])
def test_bad_config_is_one_line_and_exit_2(tmp_path, capsys, name, content, expect):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    code, err = _run(capsys, ["run", str(path)])
    assert code == 2 and expect in err and err.count("\n") == 1 and "Traceback" not in err


def test_bad_data_line_is_one_line_naming_file_line_field(tmp_path, capsys):
    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps({"question": "q?", "gold": "1", "level": 1}) + "\n" + "[" * 200_000 + "\n")
    test = tmp_path / "test.jsonl"
    test.write_text(json.dumps({"question": "t?", "gold": "1", "level": 9}) + "\n")
    config = tmp_path / "run.yaml"
    config.write_text(GOOD + f"run_dir: {tmp_path / 'run'}\ndata: {{source: files, train: {train}, test: {test}}}\n")
    code, err = _run(capsys, ["run", str(config)])
    assert code == 2 and f"{train}:2:" in err and "nested too deeply" in err and err.count("\n") == 1
    train.write_text(json.dumps({"question": "q?", "gold": "1", "level": 1}) + "\n")
    code, err = _run(capsys, ["run", str(config)])
    assert code == 2 and f"{test}:1: field 'level'" in err
    assert not (tmp_path / "run" / "manifest.json").exists()  # found before a run directory exists


def test_damaged_manifest_and_config_that_no_longer_validates(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text(json.dumps({"version": 1}))
    code, err = _run(capsys, ["resume", str(run)])
    assert code == 3 and "missing or malformed keys" in err and "Traceback" not in err
    (run / "manifest.json").write_text(json.dumps({"version": 1, "config": {"loop": {"rounds": "3"}},
                                                   "config_hash": "x", "stages": {}}))
    code, err = _run(capsys, ["resume", str(run)])
    assert code == 2 and "manifest.json: invalid config" in err and err.count("\n") == 1


def test_an_interrupt_is_a_message_and_exit_130(capsys, monkeypatch):
    import w2s_ray.cli as cli

    def interrupted(args):
        raise KeyboardInterrupt

    parser = cli.build_parser()
    parser._subparsers._group_actions[0].choices["report"].set_defaults(func=interrupted)
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    code, err = _run(capsys, ["report", "somewhere"])
    assert code == 130 and "interrupted" in err and "Traceback" not in err


def test_a_stage_without_room_for_one_actor_is_one_line_and_exit_1(capsys, monkeypatch):
    import w2s_ray.cli as cli
    from w2s_ray.raycluster.free_resources import NoRoomError, fit_pool

    def no_room(args):
        fit_pool("generate weak", 1, {"CPU": 1.0}, {"CPU": 0.5}, {"CPU": 2.0})

    parser = cli.build_parser()
    parser._subparsers._group_actions[0].choices["report"].set_defaults(func=no_room)
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    code, err = _run(capsys, ["report", "somewhere"])
    assert code == 1 and "stage 'generate weak'" in err and err.count("\n") == 1 and "Traceback" not in err
    assert issubclass(NoRoomError, RuntimeError)


HEAVY = ("torch", "ray", "vllm", "transformers", "deepspeed")


@pytest.mark.parametrize("case", ["config", "data"])
def test_a_bad_config_or_data_file_is_answered_before_anything_heavy_is_imported(tmp_path, case):
    import subprocess
    import sys

    config = tmp_path / "run.yaml"
    if case == "config":
        config.write_text(GOOD + "loop: {rounds: '3'}\n")
    else:
        train, test = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
        train.write_text(json.dumps({"question": "q?", "gold": "1", "level": 1}) + "\n{oops\n")
        test.write_text(json.dumps({"question": "t?", "gold": "1", "level": 1}) + "\n")
        config.write_text(GOOD + f"run_dir: {tmp_path / 'run'}\ndata: {{source: files, train: {train}, test: {test}}}\n")
    # The check is what was imported when the answer came, not a clock: a loaded machine slows both.
    script = ("import sys; from w2s_ray.cli import main; code = main(['run', sys.argv[1]]); "
              f"print(code, [m for m in {HEAVY!r} if m in sys.modules], file=sys.stdout)")
    out = subprocess.run([sys.executable, "-c", script, str(config)], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip() == "2 []", (out.stdout, out.stderr[-2000:])
    assert ("loop.rounds" if case == "config" else "train.jsonl:2") in out.stderr
    assert not (tmp_path / "run").exists()
