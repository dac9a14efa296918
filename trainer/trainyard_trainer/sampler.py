"""python3 -m trainyard_trainer.sampler: the tuning studies' sampler and pruner (Optuna 3.1).

A long-lived process that answers one JSON request per stdin line with one JSON line on stdout.
It keeps no state between requests: every request carries the study's whole trial history, as the
platform stores it in its metadata database (the source of truth), and an in-memory Optuna study is
rebuilt from it each time (ask-and-tell; nothing depends on Optuna's storage). The same request
always gets the same answer, so a study driver that restarts on another machine carries on where
the last one stopped.

Requests (`space` maps a parameter path to a distribution, in the platform's terms):
  {"op": "suggest", "strategy": "random"|"grid"|"tpe", "seed": int, "direction": "minimize"|"maximize",
   "space": {...}, "trials": [TRIAL...], "number": int, "max_trials": int}
      -> {"params": {path: value}}            (choice parameters answer the index of the choice)
  {"op": "prune", "rule": {"type": "median", "startup_trials": int, "warmup_epochs": int} |
                          {"type": "successive_halving", "min_epochs": int, "reduction_factor": int},
   "direction": ..., "space": {...}, "trials": [TRIAL...], "trial": TRIAL}
      -> {"prune": bool}
  {"op": "grid_size", "space": {...}} -> {"size": int}
TRIAL: {"number": int, "params": {...}, "state": "complete"|"pruned"|"failed"|"running",
        "value": float|null, "intermediate": {"<epoch>": float}}
Distributions: {"type": "float", "low", "high", "log": bool, "points": int},
               {"type": "int", "low", "high", "step"}, {"type": "categorical", "n": int}.
Errors answer {"error": "message"} and the process carries on."""

import itertools
import json
import math
import random
import sys
import warnings
from typing import Any, Dict, List

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

optuna.logging.set_verbosity(optuna.logging.ERROR)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

STATES = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED, "failed": TrialState.FAIL, "running": TrialState.RUNNING}


class RequestError(ValueError):
    pass


def distribution(spec: Dict[str, Any]) -> BaseDistribution:
    kind = spec.get("type")
    if kind == "float":
        return FloatDistribution(float(spec["low"]), float(spec["high"]), log=bool(spec.get("log", False)))
    if kind == "int":
        return IntDistribution(int(spec["low"]), int(spec["high"]), step=int(spec.get("step", 1)))
    if kind == "categorical":
        return CategoricalDistribution(list(range(int(spec["n"]))))
    raise RequestError(f"unknown distribution type {kind!r}")


def distributions(space: Dict[str, Any]) -> Dict[str, BaseDistribution]:
    if not space:
        raise RequestError("the search space is empty")
    return {name: distribution(spec) for name, spec in sorted(space.items())}


def startup_trials(max_trials: int) -> int:
    """Random trials before TPE models the history: a quarter of the budget, between 3 and 10
    (Optuna's default of 10 would leave a 16-trial study only 6 model-based trials)."""
    return max(3, min(10, max_trials // 4))


def build_study(direction: str, sampler, space: Dict[str, BaseDistribution], trials: List[Dict[str, Any]]) -> optuna.Study:
    if direction not in ("minimize", "maximize"):
        raise RequestError(f"direction must be minimize or maximize, got {direction!r}")
    study = optuna.create_study(direction=direction, sampler=sampler)
    for t in sorted(trials, key=lambda t: t["number"]):
        state = STATES.get(t.get("state"))
        if state is None:
            raise RequestError(f"trial {t.get('number')}: unknown state {t.get('state')!r}")
        params = {k: v for k, v in (t.get("params") or {}).items() if k in space}
        value = t.get("value")
        if state == TrialState.COMPLETE and (value is None or not math.isfinite(value)):
            state = TrialState.FAIL  # a finished trial without a usable objective tells TPE nothing
        intermediate = {int(k): float(v) for k, v in (t.get("intermediate") or {}).items() if v is not None and math.isfinite(v)}
        study.add_trial(optuna.trial.create_trial(
            state=state,
            value=float(value) if state == TrialState.COMPLETE else None,
            params=params,
            distributions={k: space[k] for k in params},
            intermediate_values=intermediate,
            system_attrs=t.get("system_attrs") or {},
            user_attrs={"current": True} if t.get("current") else {},
        ))
    return study


def grid_values(spec: Dict[str, Any]) -> List[Any]:
    kind = spec["type"]
    if kind == "categorical":
        return list(range(int(spec["n"])))
    if kind == "int":
        return list(range(int(spec["low"]), int(spec["high"]) + 1, int(spec.get("step", 1))))
    low, high, points = float(spec["low"]), float(spec["high"]), int(spec.get("points", 3))
    if points < 2 or low == high:
        return [low]
    if spec.get("log"):
        a, b = math.log(low), math.log(high)
        return [math.exp(a + (b - a) * i / (points - 1)) for i in range(points)]
    return [low + (high - low) * i / (points - 1) for i in range(points)]


def grid_size(space: Dict[str, Any]) -> int:
    size = 1
    for spec in space.values():
        size *= len(grid_values(spec))
    return size


def grid_point(space: Dict[str, Any], seed: int, number: int) -> Dict[str, Any]:
    """Trial `number`'s point: the grid in a seeded random order, so a budget smaller than the grid
    still spreads over it, and the same trial number always gets the same point."""
    names = sorted(space)
    axes = [grid_values(space[n]) for n in names]
    size = grid_size(space)
    if number >= size:
        raise RequestError(f"the grid has {size} points; trial {number} has none left")
    order = list(range(size))
    random.Random(seed).shuffle(order)
    index = order[number]
    point = {}
    for name, axis in zip(reversed(names), reversed(axes)):
        index, i = divmod(index, len(axis))
        point[name] = axis[i]
    return point


def suggest(request: Dict[str, Any]) -> Dict[str, Any]:
    strategy = request.get("strategy")
    seed = int(request.get("seed", 0))
    number = int(request["number"])
    if strategy == "grid":
        return {"params": grid_point(request["space"], seed, number)}
    space = distributions(request["space"])
    if strategy == "random":
        # Seeded by trial number: trial n gets the same parameters whatever ran before it.
        sampler = optuna.samplers.RandomSampler(seed=seed * 1_000_003 + number)
    elif strategy == "tpe":
        sampler = optuna.samplers.TPESampler(
            seed=seed * 1_000_003 + number,
            n_startup_trials=startup_trials(int(request.get("max_trials", 16))),
            constant_liar=True,  # trials still running count, so parallel trials spread out
        )
    else:
        raise RequestError(f"unknown strategy {strategy!r}")
    study = build_study(request.get("direction", "minimize"), sampler, space, request.get("trials", []))
    trial = study.ask(space)
    return {"params": dict(trial.params)}


def rung_values(intermediate: Dict[int, float], min_epochs: int, reduction_factor: int) -> List[tuple]:
    """(step, value) at each successive-halving rung a trial reached: rung r is the first reported
    epoch at or after min_epochs * reduction_factor**r."""
    steps = sorted(intermediate)
    rungs = []
    while True:
        boundary = min_epochs * reduction_factor ** len(rungs)
        first = next((s for s in steps if s >= boundary), None)
        if first is None:
            return rungs
        rungs.append((first, intermediate[first]))


def with_rungs(trial: Dict[str, Any], rungs: List[tuple]) -> Dict[str, Any]:
    """The trial as Optuna's SuccessiveHalvingPruner leaves it: its completed rungs in system attrs."""
    return dict(trial, system_attrs={f"completed_rung_{r}": value for r, (_, value) in enumerate(rungs)})


def prune(request: Dict[str, Any]) -> Dict[str, Any]:
    """Whether the running trial `trial` should stop now, by the median or successive-halving rule,
    given every other trial's per-epoch values. Optuna's pruners decide; the study is rebuilt from
    the history as they would have left it."""
    rule = request.get("rule") or {}
    direction = request.get("direction", "minimize")
    space = distributions(request["space"])
    current = dict(request["trial"], state="running", value=None)
    others = [t for t in request.get("trials", []) if t["number"] != current["number"]]
    intermediate = {int(k): float(v) for k, v in (current.get("intermediate") or {}).items() if v is not None}
    if not intermediate:
        return {"prune": False}

    def decide(pruner, history, trial) -> bool:
        study = build_study(direction, optuna.samplers.RandomSampler(seed=0), space, history + [dict(trial, current=True)])
        frozen = next(t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("current"))
        return bool(pruner.prune(study, frozen))

    if rule.get("type") == "median":
        pruner = optuna.pruners.MedianPruner(n_startup_trials=int(rule.get("startup_trials", 4)), n_warmup_steps=int(rule.get("warmup_epochs", 2)) + 1)  # epochs count from 1
        return {"prune": decide(pruner, others, current)}
    if rule.get("type") == "successive_halving":
        min_epochs, factor = int(rule.get("min_epochs", 1)), int(rule.get("reduction_factor", 3))
        history = [with_rungs(t, rung_values({int(k): float(v) for k, v in (t.get("intermediate") or {}).items() if v is not None}, min_epochs, factor)) for t in others]
        # Each rung the trial reached is judged as it would have been when the trial got there (the
        # driver may have seen several epochs at once).
        rungs = rung_values(intermediate, min_epochs, factor)
        for r, (step, _) in enumerate(rungs):
            pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=min_epochs, reduction_factor=factor)
            upto = dict(current, intermediate={s: v for s, v in intermediate.items() if s <= step})
            if decide(pruner, history, with_rungs(upto, rungs[:r])):
                return {"prune": True}
        return {"prune": False}
    raise RequestError(f"unknown pruning rule {rule.get('type')!r}")


def handle(request: Dict[str, Any]) -> Dict[str, Any]:
    op = request.get("op")
    if op == "suggest":
        return suggest(request)
    if op == "prune":
        return prune(request)
    if op == "grid_size":
        return {"size": grid_size(request["space"])}
    raise RequestError(f"unknown op {op!r}")


def main() -> int:
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            answer = handle(json.loads(line))
        except (RequestError, KeyError, TypeError, ValueError) as error:
            answer = {"error": f"{type(error).__name__}: {error}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
