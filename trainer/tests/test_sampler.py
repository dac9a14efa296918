"""The tuning sampler (trainyard_trainer.sampler): answers are functions of the request (the
history the platform stores), strategies behave as their names say, pruning rules decide as
Optuna's pruners would, and the process speaks JSON lines."""

import json
import math
import os
import subprocess
import sys

import pytest

from trainyard_trainer import sampler

SPACE = {
    "optimizer.lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    "layers[0].out_features": {"type": "int", "low": 16, "high": 128, "step": 16},
    "layers[2].p": {"type": "float", "low": 0.0, "high": 0.5},
    "optimizer.type": {"type": "categorical", "n": 3},
}


def suggest(strategy, trials, number, seed=7, space=SPACE, max_trials=16, direction="minimize"):
    return sampler.handle({"op": "suggest", "strategy": strategy, "seed": seed, "direction": direction, "space": space,
                           "trials": trials, "number": number, "max_trials": max_trials})["params"]


def in_space(params, space=SPACE):
    for name, spec in space.items():
        v = params[name]
        if spec["type"] == "float":
            assert spec["low"] <= v <= spec["high"], (name, v)
        elif spec["type"] == "int":
            assert isinstance(v, int) and spec["low"] <= v <= spec["high"] and (v - spec["low"]) % spec["step"] == 0, (name, v)
        else:
            assert v in range(spec["n"]), (name, v)


def objective(params):
    # best near lr = 0.01, width 64, p = 0.1
    return (math.log10(params["optimizer.lr"]) + 2) ** 2 + ((params["layers[0].out_features"] - 64) / 64) ** 2 + (params["layers[2].p"] - 0.1) ** 2


def run_study(strategy, n, seed=3, parallel=1):
    trials = []
    for number in range(n):
        running = [dict(t, state="running", value=None) for t in trials[-(parallel - 1):]] if parallel > 1 and trials else []
        done = trials[: len(trials) - len(running)] if running else trials
        params = suggest(strategy, done + running, number, seed=seed, max_trials=n)
        in_space(params)
        trials.append({"number": number, "params": params, "state": "complete", "value": objective(params)})
    return trials


def test_random_is_reproducible_and_in_space():
    a = [suggest("random", [], n) for n in range(5)]
    b = [suggest("random", [], n) for n in range(5)]
    assert a == b
    assert len({json.dumps(p, sort_keys=True) for p in a}) == 5
    for p in a:
        in_space(p)


def test_the_same_history_gets_the_same_tpe_answer():
    history = run_study("random", 6)
    assert suggest("tpe", history, 6) == suggest("tpe", history, 6)


def test_tpe_beats_random_on_a_smooth_objective():
    best = {s: [min(t["value"] for t in run_study(s, 30, seed=seed)) for seed in range(4)] for s in ("random", "tpe")}
    assert sum(best["tpe"]) < sum(best["random"]), best


def test_tpe_takes_running_trials_into_account():
    history = run_study("random", 6)
    running = {"number": 6, "params": suggest("tpe", history, 6), "state": "running", "value": None}
    assert suggest("tpe", history + [running], 7) != running["params"]


def test_grid_covers_every_point_once_in_a_seeded_order():
    space = {"a": {"type": "int", "low": 1, "high": 3, "step": 1}, "b": {"type": "categorical", "n": 2},
             "c": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True, "points": 3}}
    assert sampler.handle({"op": "grid_size", "space": space}) == {"size": 18}
    points = [suggest("grid", [], n, space=space) for n in range(18)]
    assert len({json.dumps(p, sort_keys=True) for p in points}) == 18
    assert sorted({round(p["c"], 6) for p in points}) == [0.001, 0.01, 0.1]
    assert points == [suggest("grid", [], n, space=space) for n in range(18)]
    assert points != [suggest("grid", [], n, space=space, seed=8) for n in range(18)]
    assert "error" in sampler_process_answers([{"op": "suggest", "strategy": "grid", "space": space, "number": 18}])[0]


def history_with_curves(curves, last_steps=None):
    return [{"number": i, "params": {"optimizer.lr": 0.01, "layers[0].out_features": 32, "layers[2].p": 0.1, "optimizer.type": 0},
             "state": "complete", "value": curve[-1], "intermediate": {str(e + 1): v for e, v in enumerate(curve)}}
            for i, curve in enumerate(curves)]


def test_median_rule_prunes_a_trial_behind_the_median_only_after_warm_up():
    history = history_with_curves([[1.0, 0.8, 0.6, 0.5], [1.1, 0.9, 0.7, 0.6], [0.9, 0.7, 0.5, 0.4], [1.0, 0.8, 0.6, 0.5]])
    rule = {"type": "median", "startup_trials": 3, "warmup_epochs": 1}

    def prune(curve, rule=rule, history=history):
        trial = {"number": 9, "params": history[0]["params"], "intermediate": {str(e + 1): v for e, v in enumerate(curve)}}
        return sampler.handle({"op": "prune", "rule": rule, "direction": "minimize", "space": SPACE, "trials": history, "trial": trial})["prune"]

    assert prune([5.0]) is False  # epoch 1 is inside the warm-up
    assert prune([5.0, 4.0]) is True
    assert prune([0.9, 0.7]) is False
    assert prune([5.0, 4.0], rule=dict(rule, startup_trials=5)) is False  # too few finished trials yet


def test_successive_halving_judges_each_rung_even_when_epochs_arrive_together():
    history = history_with_curves([[0.5, 0.4, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3], [0.6, 0.5, 0.4, 0.35, 0.35, 0.35, 0.35, 0.35, 0.35],
                                   [0.7, 0.6, 0.5, 0.45, 0.45, 0.45, 0.45, 0.45, 0.45]])
    rule = {"type": "successive_halving", "min_epochs": 1, "reduction_factor": 3}

    def prune(curve, direction="minimize"):
        trial = {"number": 5, "params": history[0]["params"], "intermediate": {str(e + 1): v for e, v in enumerate(curve)}}
        return sampler.handle({"op": "prune", "rule": rule, "direction": direction, "space": SPACE, "trials": history, "trial": trial})["prune"]

    assert prune([0.4]) is False  # the best at rung 0
    assert prune([0.9]) is True
    # Good at epoch 1, bad at rung 1 (epoch 3): pruned there, whether seen epoch by epoch or at once.
    assert prune([0.4, 0.9, 0.9]) is True
    assert prune([0.4, 0.3, 0.2]) is False
    assert prune([0.9], direction="maximize") is False


def sampler_process_answers(requests):
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-m", "trainyard_trainer.sampler"], input="".join(json.dumps(r) + "\n" for r in requests),
                          capture_output=True, text=True, cwd=here, env=dict(os.environ, PYTHONPATH=here), timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_the_process_answers_one_line_per_request_and_survives_bad_ones():
    answers = sampler_process_answers([
        {"op": "suggest", "strategy": "tpe", "seed": 1, "space": SPACE, "trials": [], "number": 0},
        {"op": "nonsense"},
        {"op": "suggest", "strategy": "tpe", "seed": 1, "space": {}, "trials": [], "number": 0},
        {"op": "suggest", "strategy": "random", "seed": 1, "space": SPACE, "trials": [], "number": 1},
    ])
    assert len(answers) == 4
    in_space(answers[0]["params"])
    assert "unknown op" in answers[1]["error"]
    assert "empty" in answers[2]["error"]
    in_space(answers[3]["params"])


def test_the_sampler_does_not_import_torch():
    code = "import sys, trainyard_trainer.sampler; print('torch' in sys.modules)"
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=here, env=dict(os.environ, PYTHONPATH=here), check=True)
    assert out.stdout.strip() == "False"
