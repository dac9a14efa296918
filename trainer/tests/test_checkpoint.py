import json
import os
import signal
import subprocess

import torch

import jobs
from trainyard_trainer.checkpoint import FORMAT, load_first_valid, sha256_file, write_atomic


def _write(path, epoch):
    write_atomic(str(path), {"format": FORMAT, "epoch": epoch, "batch": 0})
    return {"file": os.path.basename(path), "sha256": sha256_file(str(path))}


def test_a_checkpoint_is_written_whole_and_verified_by_its_sha256(tmp_path):
    c = _write(tmp_path / "a.pt", 3)
    assert not os.path.exists(tmp_path / "a.pt.tmp")
    state = load_first_valid([c], str(tmp_path), lambda *_: None)
    assert state["epoch"] == 3 and state["file"] == "a.pt"


def test_a_corrupt_or_missing_checkpoint_falls_back_to_the_previous_one(tmp_path):
    older = _write(tmp_path / "older.pt", 1)
    newer = _write(tmp_path / "newer.pt", 2)
    with open(tmp_path / "newer.pt", "r+b") as f:
        f.seek(10)
        f.write(b"\x00\x01\x02")
    logged = []
    state = load_first_valid([newer, older], str(tmp_path), lambda msg, level="info": logged.append(msg))
    assert state["epoch"] == 1
    assert "corrupt" in logged[0]
    missing = {"file": "gone.pt", "sha256": "0" * 64}
    assert load_first_valid([missing, older], str(tmp_path), lambda *_: None)["epoch"] == 1
    assert load_first_valid([missing], str(tmp_path), lambda *_: None) is None


def _epochs(events):
    return {e["epoch"]: (e["train"], e["val"], e["lr"]) for e in events if e["event"] == "epoch"}


def _weights(job_dir):
    return torch.load(os.path.join(job_dir, "artifacts", "state_dict.pt"))


HYPER = {"epochs": 4, "batch_size": 16, "checkpoint": {"enabled": True, "every_epochs": 1, "every_seconds": None},
         "lr_scheduler": {"type": "StepLR", "step_size": 1, "gamma": 0.7}}
LAYERS = [{"type": "Linear", "in_features": 6, "out_features": 16}, {"type": "ReLU"}, {"type": "Dropout", "p": 0.3},
          {"type": "Linear", "in_features": 16, "out_features": 1}]


def test_a_run_resumed_from_a_checkpoint_reports_and_ends_as_the_uninterrupted_run(tmp_path):
    full = tmp_path / "full"
    jobs.write_job(full, hyper=HYPER, layers=LAYERS)
    code, events, err = jobs.run_trainer(full)
    assert code == 0, err
    checkpoints = [e for e in events if e["event"] == "checkpoint"]
    assert [c["epoch"] for c in checkpoints] == [1, 2, 3]  # none after the last epoch
    second = checkpoints[1]

    resumed = tmp_path / "resumed"
    job = jobs.write_job(resumed, hyper=HYPER, layers=LAYERS)
    os.makedirs(resumed / "earlier")
    os.replace(full / second["file"], resumed / "earlier" / "c.pt")
    job["resume"] = [{"file": "earlier/missing.pt", "sha256": "0" * 64}, {"file": "earlier/c.pt", "sha256": second["sha256"]}]
    with open(resumed / "job.json", "w") as f:
        json.dump(job, f)
    code, events2, err = jobs.run_trainer(resumed)
    assert code == 0, err
    assert [e for e in events2 if e["event"] == "resumed"] == [{"event": "resumed", "file": "earlier/c.pt", "epoch": 2, "batch": 0}]
    assert sorted(_epochs(events2)) == [3, 4]
    assert _epochs(events2) == {k: v for k, v in _epochs(events).items() if k > 2}
    for name, value in _weights(full).items():
        assert torch.equal(value, _weights(resumed)[name]), name


def test_sigterm_checkpoints_after_the_current_batch_and_exits_interrupted_then_resumes_exactly(tmp_path):
    hyper = {**HYPER, "epochs": 3, "batch_size": 8, "checkpoint": {"enabled": True, "every_epochs": None, "every_seconds": 300}}
    full = tmp_path / "full"
    jobs.write_job(full, rows=3000, hyper=hyper, layers=LAYERS)
    code, events, err = jobs.run_trainer(full)
    assert code == 0, err

    cut = tmp_path / "cut"
    job = jobs.write_job(cut, rows=3000, hyper=hyper, layers=LAYERS)
    env = dict(os.environ, PYTHONPATH=jobs.TRAINER_ROOT, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    p = subprocess.Popen([jobs.PYTHON, "-m", "trainyard_trainer", "train", "--job-dir", str(cut)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env, cwd=jobs.TRAINER_ROOT)
    seen = []
    for line in p.stdout:
        seen.append(json.loads(line))
        if seen[-1]["event"] == "epoch":
            p.send_signal(signal.SIGTERM)
            break
    rest, err = p.communicate(timeout=120)
    seen += jobs.parse_events(rest)
    assert p.returncode == 75, err
    checkpoint = [e for e in seen if e["event"] == "checkpoint"][-1]
    assert checkpoint["epoch"] == 1
    assert not any(e["event"] == "completed" for e in seen)

    job["resume"] = [{"file": checkpoint["file"], "sha256": checkpoint["sha256"]}]
    with open(cut / "job.json", "w") as f:
        json.dump(job, f)
    code, events2, err = jobs.run_trainer(cut)
    assert code == 0, err
    reported = {**_epochs(seen), **_epochs(events2)}
    assert reported == _epochs(events)
    for name, value in _weights(full).items():
        assert torch.equal(value, _weights(cut)[name]), name


def test_warm_start_weights_that_do_not_fit_are_an_invalid_spec(tmp_path):
    job = jobs.write_job(tmp_path, hyper={"epochs": 1})
    torch.save({"0.weight": torch.zeros(3, 3)}, tmp_path / "init.pt")
    job["init_weights"] = "init.pt"
    with open(tmp_path / "job.json", "w") as f:
        json.dump(job, f)
    code, events, _ = jobs.run_trainer(tmp_path)
    assert code == 3
    assert events[-1]["code"] == "INVALID_SPEC" and "init_from" in events[-1]["message"]
