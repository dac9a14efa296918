"""The trainer as the platform runs it: a real process, events on stdout, exit codes, SIGTERM."""

import json
import os
import signal
import subprocess
import time

import jobs


def start(job_dir):
    env = dict(os.environ, PYTHONPATH=jobs.TRAINER_ROOT, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    return subprocess.Popen([jobs.PYTHON, "-m", "trainyard_trainer", "train", "--job-dir", str(job_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd="/")


def read_until(proc, kind):
    events = []
    for line in proc.stdout:
        events.append(json.loads(line))
        if events[-1]["event"] == kind:
            return events
    raise AssertionError(f"no {kind} event; got {events}; stderr: {proc.stderr.read()}")


def test_success_exit_0_and_stdout_is_only_events(tmp_path):
    jobs.write_job(tmp_path, hyper={"epochs": 2})
    code, events, stderr = jobs.run_trainer(tmp_path)  # parse_events fails on any non-JSON line
    assert code == 0, stderr
    assert [e["event"] for e in events] == ["started", "epoch", "epoch", "exported", "completed"]


def test_nan_loss_exits_3_with_a_failed_event(tmp_path):
    jobs.write_job(tmp_path, task="regression", hyper={"optimizer": {"type": "SGD", "lr": 1e6}})
    code, events, _ = jobs.run_trainer(tmp_path)
    assert code == 3
    assert events[-1]["event"] == "failed" and events[-1]["code"] == "NAN_LOSS"


def test_sigterm_mid_training_with_checkpoints_off_saves_the_best_epoch(tmp_path):
    # (with checkpoints on, SIGTERM checkpoints and exits INTERRUPTED: test_checkpoint.py)
    off = {"enabled": False, "every_epochs": None, "every_seconds": None}
    jobs.write_job(tmp_path, rows=3000, hyper={"epochs": 10000, "batch_size": 8, "checkpoint": off})
    proc = start(tmp_path)
    try:
        read_until(proc, "epoch")
        read_until(proc, "epoch")
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        events = read_until(proc, "completed")
        code = proc.wait(timeout=10)
        elapsed = time.monotonic() - sent
    finally:
        proc.kill()
    assert code == 0
    assert elapsed < 5, elapsed  # a couple of seconds; slack for a loaded CI machine
    done = events[-1]
    assert done["truncated"] is True and done["epochs_run"] >= 2 and done["best_epoch"] >= 1
    assert any(e["event"] == "exported" for e in events)
    for name in ("model.onnx", "model.pt", "state_dict.pt", "reference_outputs.npy"):
        assert os.path.exists(tmp_path / "artifacts" / name)


def test_sigterm_before_the_first_epoch_with_checkpoints_off_is_a_timeout(tmp_path):
    off = {"enabled": False, "every_epochs": None, "every_seconds": None}
    jobs.write_job(tmp_path, rows=200000, hyper={"epochs": 3, "batch_size": 4, "checkpoint": off})
    proc = start(tmp_path)
    try:
        read_until(proc, "started")
        proc.send_signal(signal.SIGTERM)
        events = read_until(proc, "failed")
        code = proc.wait(timeout=10)
    finally:
        proc.kill()
    assert code == 3
    assert events[-1]["code"] == "TIMEOUT" and "SIGTERM" in events[-1]["message"]


def start_waiting(job_dir):
    env = dict(os.environ, PYTHONPATH=jobs.TRAINER_ROOT, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    return subprocess.Popen([jobs.PYTHON, "-m", "trainyard_trainer", "train", "--job-dir", str(job_dir), "--wait"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd="/")


def test_wait_mode_trains_once_told_to_go_with_job_json_written_after_start(tmp_path):
    proc = start_waiting(tmp_path)  # started before the job folder holds anything
    try:
        time.sleep(0.5)
        jobs.write_job(tmp_path, hyper={"epochs": 2})
        out, err = proc.communicate("go\n", timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert [json.loads(line)["event"] for line in out.splitlines()] == ["started", "epoch", "epoch", "exported", "completed"]


def test_wait_mode_exits_quietly_when_stdin_closes_without_go(tmp_path):
    proc = start_waiting(tmp_path)
    try:
        out, _ = proc.communicate("", timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0 and out == ""
    assert not os.path.exists(tmp_path / "artifacts")


def test_cpu_out_of_memory_under_the_platform_limit_is_a_user_error(tmp_path):
    """Under TRAINYARD_TRAINER_MEMORY_BYTES (RLIMIT_AS), a batch whose activations do not fit fails
    the job with OUT_OF_MEMORY (exit 3, not retried) instead of growing until the OOM killer acts."""
    layers = [{"type": "Linear", "in_features": 6, "out_features": 1_000_000}, {"type": "ReLU"},
              {"type": "Linear", "in_features": 1_000_000, "out_features": 1}]
    jobs.write_job(tmp_path, task="regression", rows=4096, val_rows=16, layers=layers,
                   hyper={"batch_size": 4096, "epochs": 1})
    code, events, stderr = jobs.run_trainer(tmp_path, env={"TRAINYARD_TRAINER_MEMORY_BYTES": str(2 * 1024 ** 3)})
    assert code == 3, stderr
    assert events[-1]["event"] == "failed" and events[-1]["code"] == "OUT_OF_MEMORY", events
    assert "lower batch_size" in events[-1]["message"]
