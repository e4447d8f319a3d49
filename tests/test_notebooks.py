"""The notebook infrastructure: committed notebooks, the parameters cell, the runner, the environment.

Executing the real notebooks is nbval's job (``pytest --nbval-lax notebooks/``); here the runner is
tested on tiny temporary notebooks.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import nbformat
import pytest
import torch

from sptseg_lib import notebook_env, run_notebooks

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_there_are_numbered_notebooks() -> None:
    names = [p.stem[:2] for p in NOTEBOOKS]
    assert {"01", "02", "03", "04"} <= set(names)
    assert len(names) == len(set(names)), f"two notebooks share a number: {names}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_carries_no_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    dirty = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count)
    ]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_exactly_one_parameters_cell_of_literals(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{path.name}: {len(cells)} cells tagged 'parameters'"
    tree = ast.parse(cells[0].source)
    names = {}
    for node in tree.body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, ast.dump(node)
        assert isinstance(node.targets[0], ast.Name)
        names[node.targets[0].id] = ast.literal_eval(node.value)  # raises unless a literal
    assert names.get("profile") == "smoke" and names.get("device") == "auto"


def _notebook(path: Path, *sources: str, parameters: str = "x = 1") -> None:
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[cell] + [nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_runner_reports_the_failing_notebook_and_cell_and_runs_the_others(
    tmp_path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("SPTSEG_RUNS", str(tmp_path / "runs"))
    source = tmp_path / "nbs"
    source.mkdir()
    _notebook(source / "01_ok.ipynb", "print(x + 1)")
    _notebook(source / "02_fail.ipynb", "y = x", "raise ValueError('boom')", "print('never')")
    _notebook(source / "03_after.ipynb", "print('ran with', x)")
    out = tmp_path / "out"
    environment = {key: os.environ.get(key) for key in ("PYTHONPATH", "SPTSEG_RUNS")}
    code = run_notebooks.main(["--notebooks-dir", str(source), "--out", str(out), "-p", "x", "41"])
    assert {key: os.environ.get(key) for key in environment} == environment  # restored
    printed = capsys.readouterr().out
    assert code == 1
    assert "FAILED 02_fail" in printed and "code cell 3" in printed and "ValueError: boom" in printed
    assert "raise ValueError('boom')" in printed
    assert "ok     01_ok" in printed and "ok     03_after" in printed
    after = nbformat.read(out / "03_after.ipynb", as_version=4)
    assert "ran with 41" in after.cells[-1].outputs[0].text  # the -p value reached the kernel as an int
    assert (out / "02_fail.ipynb").is_file() and "02_fail" in (out / "summary.txt").read_text()


def test_runner_only_selects_and_succeeds(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("SPTSEG_RUNS", str(tmp_path / "runs"))
    source = tmp_path / "nbs"
    source.mkdir()
    _notebook(source / "01_ok.ipynb", "print('one')")
    _notebook(source / "02_fail.ipynb", "raise RuntimeError('not selected')")
    assert (
        run_notebooks.main(["--notebooks-dir", str(source), "--out", str(tmp_path / "o"), "--only", "1"]) == 0
    )
    assert "02_fail" not in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no notebook numbered"):
        run_notebooks.find_notebooks(source, ["07"])


def test_parameters_are_read_as_yaml() -> None:
    params = run_notebooks.parse_parameters([["iterations", "100"], ["use_widgets", "false"]], ["name: x"])
    assert params == {"iterations": 100, "use_widgets": False, "name": "x"}
    with pytest.raises(SystemExit, match="YAML mapping"):
        run_notebooks.parse_parameters([], ["- a list"])


def test_runs_dir_ignores_the_working_directory(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPTSEG_RUNS", "some-runs")
    assert notebook_env.runs_dir("x", create=False) == ROOT / "some-runs" / "x"
    monkeypatch.delenv("SPTSEG_RUNS")
    assert notebook_env.runs_dir(create=False) == ROOT / "runs"
    monkeypatch.setenv("SPTSEG_RUNS", str(tmp_path / "abs"))
    assert notebook_env.runs_dir("a", "b") == tmp_path / "abs" / "a" / "b" and (tmp_path / "abs/a/b").is_dir()


def test_resolve_device() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert notebook_env.resolve_device("auto").type == expected
    assert notebook_env.resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            notebook_env.resolve_device("cuda")


def test_clip_choice_says_plainly_what_it_loads(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SPTSEG_RUNS", str(tmp_path))
    monkeypatch.delenv("SPTSEG_CLIP_WEIGHTS", raising=False)
    env = notebook_env.setup("smoke", "cpu", clip="random", notebook="t")
    assert env.clip_source == "random" and "RANDOM WEIGHTS" in env.clip_description
    assert env.grid == (16, 16) and env.out == tmp_path / "notebooks" / "t"
    expected = "tiny" if notebook_env.tiny_clip_weights() is not None else "random"
    assert notebook_env._choose_clip("smoke", "auto") == expected
    assert notebook_env._choose_clip("full", "auto") == "real"
    with pytest.raises(ValueError, match="profile must be one of"):
        notebook_env.setup("medium")


def test_full_profile_fails_clearly_offline(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("SPTSEG_CLIP_WEIGHTS", raising=False)
    from sptseg_lib.clip_loading import PretrainedWeightsError

    with pytest.raises(PretrainedWeightsError, match="To provide the ViT-B-16 'openai' weights"):
        notebook_env.load_notebook_clip("real", torch.device("cpu"))


def test_block_tokens_end_in_the_encoders_features(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SPTSEG_RUNS", str(tmp_path))
    env = notebook_env.setup("smoke", "cpu", clip="random", notebook="t")
    encoder = env.encoder()
    images = notebook_env.to_clip_input(notebook_env.photo("astronaut", 64))
    tokens, cls = notebook_env.block_tokens(encoder, images)
    assert len(tokens) == len(encoder.visual.transformer.resblocks) + 1 and tokens[0].shape == (1, 8, 8, 128)
    # the last token grid, through ln_post and the projection, is the encoder's dense map
    visual = encoder.visual
    projected = visual.ln_post(tokens[-1]) @ visual.proj
    _, dense = encoder.forward_features(images)
    torch.testing.assert_close(projected.permute(0, 3, 1, 2), dense, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close((visual.ln_post(cls[-1]) @ visual.proj), encoder.forward_features(images)[0])


def test_find_spectral_filter_reads_a_checkpoint(tmp_path, monkeypatch) -> None:
    from sptseg_lib.checkpoint import save_checkpoint

    monkeypatch.setenv("SPTSEG_RUNS", str(tmp_path))
    monkeypatch.setattr(notebook_env, "SHIPPED_RUNS", tmp_path / "no-shipped-runs")
    assert notebook_env.find_spectral_filter() is None
    weight = torch.randn(4, 3, 8, 2)
    save_checkpoint(
        tmp_path / "run" / "iter_000010.pt", {"model": {"encoder.spectral.filters.shared": weight}}
    )
    found, path = notebook_env.find_spectral_filter()
    assert path.name == "iter_000010.pt"
    torch.testing.assert_close(found, torch.view_as_complex(weight))


def test_attention_cost_rows_and_thread_count_restored() -> None:
    threads = torch.get_num_threads()
    rows = notebook_env.attention_cost(grids=(4, 6), dim=16, heads=2, repeats=1, threads=1)
    assert [r["tokens"] for r in rows] == [16, 36]
    assert rows[0]["ratio"] == pytest.approx(rows[0]["full_ms"] / rows[0]["hilo_ms"])
    assert torch.get_num_threads() == threads


def test_runner_stops_on_ctrl_c_and_keeps_what_ran(tmp_path, capsys, monkeypatch) -> None:
    import shutil

    import papermill

    monkeypatch.setenv("SPTSEG_RUNS", str(tmp_path / "runs"))
    source = tmp_path / "nbs"
    source.mkdir()
    for name in ("01_a", "02_b", "03_c"):
        _notebook(source / f"{name}.ipynb", "print(1)")

    def fake_execute(input_path, output_path, **kwargs):
        if "02_b" in input_path:
            raise KeyboardInterrupt
        shutil.copy(input_path, output_path)

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    out = tmp_path / "out"
    assert run_notebooks.main(["--notebooks-dir", str(source), "--out", str(out)]) == 130
    printed = capsys.readouterr().out
    assert "FAILED 02_b" in printed and "interrupted" in printed and "03_c" not in printed
    assert (out / "01_a.ipynb").is_file() and "02_b" in (out / "summary.txt").read_text()


def test_find_spectral_filter_falls_back_to_the_shipped_run(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SPTSEG_RUNS", str(tmp_path))
    found, path = notebook_env.find_spectral_filter()
    assert path.parent == notebook_env.SHIPPED_RUNS / "shapes-sptseg"
    assert found.is_complex() and found.shape[-1] == 128  # (h, w//2+1, C) of the tiny CLIP's width


def _finished_run(folder: Path, experiment) -> Path:
    from sptseg_lib.checkpoint import checkpoint_name, save_checkpoint

    steps = experiment.train.iterations
    return save_checkpoint(
        folder / checkpoint_name(steps), {"experiment": experiment.to_dict(), "step": steps, "model": {}}
    )


def test_smoke_training_run_prefers_a_finished_run_of_the_same_recipe(tmp_path, monkeypatch) -> None:
    from sptseg_lib.config import experiment_preset

    monkeypatch.setenv("SPTSEG_RUNS", str(tmp_path))
    preset = experiment_preset("shapes-sptseg")
    # the shipped run is found when the user has none ...
    shipped = notebook_env.training_run("smoke", "shapes")
    assert shipped.reused and shipped.final.parent == notebook_env.SHIPPED_RUNS / "shapes-sptseg"
    # ... a stale run of a changed recipe is ignored even when it is longer ...
    stale = preset.with_overrides({"train.lr": 1e-3, "train.iterations": 3000})
    _finished_run(tmp_path / "miniature_tables" / "shapes-sptseg" / "seed0", stale)
    assert notebook_env.training_run("smoke", "shapes").final == shipped.final
    # ... and the user's own run of the whole schedule wins the tie with the shipped one
    own = _finished_run(tmp_path / "shapes-sptseg", preset)
    assert notebook_env.training_run("smoke", "shapes").final == own
    monkeypatch.setattr(notebook_env, "SHIPPED_RUNS", tmp_path / "none")
    (tmp_path / "shapes-sptseg" / own.name).unlink()
    fresh = notebook_env.training_run("smoke", "shapes")
    assert not fresh.reused and fresh.steps == notebook_env.SMOKE_ITERATIONS


def test_reports_of_the_shipped_run_go_to_the_runs_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SPTSEG_RUNS", str(tmp_path))
    shipped = notebook_env.SHIPPED_RUNS / "shapes-sptseg" / "iter_001500.pt"
    assert notebook_env.is_shipped(shipped)
    json_path, md_path = notebook_env.evaluation_paths(shipped, "eval40")
    assert json_path == tmp_path / "shipped" / "shapes-sptseg" / "iter_001500.eval40.json"
    assert md_path.parent == json_path.parent
    own = tmp_path / "shapes-sptseg" / "iter_001500.pt"
    assert not notebook_env.is_shipped(own)
    assert notebook_env.evaluation_paths(own, "eval")[0] == own.with_name("iter_001500.eval.json")
