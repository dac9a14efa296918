"""The trainer keeps the platform's contracts (contracts/*.schema.json, generated from the TypeScript
schemas): job.json as the platform writes it and every event the trainer prints validate against
them with an independent validator (the `jsonschema` package), the trainer's own run-time checks
agree with it, and its layer allow-list is the catalogue's."""

import copy
import json
import os

import pytest

import jobs
from trainyard_trainer import contracts
from trainyard_trainer.network import LAYERS, TORCH_LAYERS

TASKS = ("binary_classification", "multiclass_classification", "regression")


def _jsonschema():
    # Debian's python3-jsonschema (scripts/bootstrap.sh --test installs it); a GPU image's own Python
    # may lack it, and then only the checks that need an independent validator are skipped.
    return pytest.importorskip("jsonschema", reason="the jsonschema package is not installed for this Python")


def validator(name):
    jsonschema = _jsonschema()
    schema = contracts.load(name)
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_the_layer_allow_list_is_the_catalogue():
    catalogue = set(contracts.load("layers")["definitions"])
    assert set(TORCH_LAYERS) == catalogue
    assert set(LAYERS) == catalogue


@pytest.mark.parametrize("task", TASKS)
def test_job_json_as_written_for_the_tests_follows_the_contract(tmp_path, task):
    job = jobs.write_job(tmp_path, task=task)
    validator("trainer-job").validate(job)


# (change to a valid job, what the trainer's message names): each must be refused by jsonschema and
# by the trainer's own check, so the run-time validator is as strict as the contract.
INVALID = [
    (lambda j: j["hyperparameters"]["optimizer"].update(betas=[0.9, 1.0], type="Adam"), "optimizer.betas"),
    (lambda j: j["hyperparameters"]["optimizer"].update(nesterov=True), "optimizer.nesterov"),
    (lambda j: j["hyperparameters"]["optimizer"].update(type="LBFGS"), "optimizer.type"),
    (lambda j: j["hyperparameters"]["optimizer"].update(lr=0), "optimizer.lr"),
    (lambda j: j["hyperparameters"].update(lr_scheduler={"type": "ReduceLROnPlateau", "monitor": "val_loss",
                                                         "factor": 0.5, "patience": 1, "mode": "min"}), "mode"),
    (lambda j: j["hyperparameters"].update(lr_scheduler={"type": "StepLR", "step_size": 0, "gamma": 0.1}), "step_size"),
    (lambda j: j["hyperparameters"].update(epochs=0), "epochs"),
    (lambda j: j["hyperparameters"].pop("seed"), "seed"),
    (lambda j: j.update(device="tpu"), "device"),
    (lambda j: j["data"].pop("val_y"), "data.val_y"),
    (lambda j: j.update(surprise=1), "surprise"),
    (lambda j: j["normalization"]["std"].__setitem__(0, 0), "normalization.std[0]"),
]


@pytest.mark.parametrize("change,needle", INVALID)
def test_the_run_time_check_refuses_what_the_contract_refuses(tmp_path, change, needle):
    job = jobs.write_job(tmp_path)
    bad = copy.deepcopy(job)
    change(bad)
    assert not validator("trainer-job").is_valid(bad)
    problem = contracts.check(contracts.without(contracts.load("trainer-job"), "layers"), bad)
    assert problem and needle in problem, problem


@pytest.mark.parametrize("layer,needle", [
    ({"type": "Linear", "in_features": 6, "out_features": 1, "bias": "yes"}, "bias"),
    ({"type": "Linear", "out_features": 1}, "in_features"),  # inferred by the platform: required here
    ({"type": "Conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": [3, 3, 3]}, "kernel_size"),
    ({"type": "Dropout", "p": 2}, "p"),
    ({"type": "Softmax"}, "type"),
])
def test_layers_are_checked_against_the_catalogue(layer, needle):
    schema = contracts.load("trainer-job")["properties"]["layers"]
    assert not _jsonschema().Draft7Validator(schema).is_valid([layer])
    ltype = layer["type"]
    problem = contracts.check(LAYERS[ltype], layer) if ltype in LAYERS else f"type {ltype}"
    assert problem and needle in problem, problem


def test_every_optimizer_option_reaches_torch(tmp_path, train_in_process):
    """The options the API accepts (betas, eps, amsgrad, nesterov, …) train, for each optimizer."""
    optimizers = contracts.variants(
        contracts.load("trainer-job")["properties"]["hyperparameters"]["properties"]["optimizer"], "type")
    settings = {"betas": [0.8, 0.99], "eps": 1e-7, "amsgrad": True, "dampening": 0, "nesterov": True,
                "alpha": 0.9, "centered": True, "momentum": 0.5}
    for otype, schema in optimizers.items():
        options = {k: v for k, v in settings.items() if k in schema["properties"]}
        if otype in ("Adam", "AdamW"):
            options["momentum"] = 0
        job_dir = tmp_path / otype
        job = jobs.write_job(job_dir, hyper={"epochs": 1, "optimizer": {"type": otype, "lr": 0.01, **options}})
        validator("trainer-job").validate(job)
        run = train_in_process(job_dir)
        assert run.code == 0, (otype, run.events)


def test_every_event_follows_the_contract(tmp_path, train_in_process):
    events = validator("trainer-events")
    seen = set()
    runs = [
        ("ok", {"hyper": {"epochs": 2}}, "train"),
        ("check", {}, "check"),
        ("nan", {"task": "regression", "hyper": {"optimizer": {"type": "SGD", "lr": 1e6}}}, "train"),
        ("bad", {"layers": [{"type": "Linear", "in_features": 6, "out_features": 3}]}, "train"),
        ("early", {"hyper": {"epochs": 30, "early_stopping": {"monitor": "val_accuracy", "patience": 1}}}, "train"),
    ]
    for name, change, command in runs:
        jobs.write_job(tmp_path / name, **change)
        run = train_in_process(tmp_path / name, command=command)
        for event in run.events:
            events.validate(event)
            # the trainer prints exactly what the platform parses: JSON with no NaN
            json.loads(json.dumps(event, allow_nan=False))
            seen.add(event["event"])
    assert {"started", "epoch", "log", "exported", "completed", "failed", "checked"} <= seen | {"log"}
    assert {"started", "epoch", "exported", "completed", "failed", "checked"} <= seen


def test_the_contracts_folder_is_found():
    assert os.path.isfile(os.path.join(contracts.CONTRACTS_DIR, "trainer-job.schema.json"))


def test_the_trainer_codes_are_the_registry_s():
    """Every code the trainer can report, and its exit statuses, are the platform's job-error registry."""
    import re
    from trainyard_trainer import errors
    registry = contracts.job_errors()
    trainer_codes = {code for code, info in registry["codes"].items() if info["trainer"]}
    declared = {v for k, v in vars(errors).items() if re.fullmatch(r"[A-Z_]+", k) and isinstance(v, str)}
    assert declared == trainer_codes
    # every `TrainerError(CODE, …)` in the package names a declared constant, never a bare string
    package = os.path.dirname(errors.__file__)
    for name in os.listdir(package):
        if name.endswith(".py"):
            with open(os.path.join(package, name), encoding="utf-8") as f:
                source = f.read()
            assert not re.search(r"TrainerError\(\s*['\"]", source), name
    assert registry["trainer_exit_codes"] == {"OK": errors.EXIT_OK, "INTERNAL": errors.EXIT_INTERNAL,
                                              "USER_ERROR": errors.EXIT_USER_ERROR,
                                              "INTERRUPTED": errors.EXIT_INTERRUPTED}
    assert errors.EXIT_INTERRUPTED == 75  # EX_TEMPFAIL
    # the `failed` event's code is one of the registry's trainer codes
    failed = contracts.variants(contracts.load("trainer-events"), "event")["failed"]
    assert {b["const"] for b in failed["properties"]["code"]["anyOf"]} == trainer_codes
    for code in trainer_codes:
        assert not registry["codes"][code]["retryable"] or code == "INTERRUPTED"
