#!/usr/bin/env python3
"""make image-check: the built image run as a platform team would run it, against Tansu on the host.

Called by scripts/image/check.sh, which picks the engine (engine.sh) and passes its commands in IMAGE_ENGINE_CMD and
IMAGE_RUN (one argument a line). Standard library only. Everything binds 127.0.0.1; every container and process it
starts is removed when it ends, also on failure. Files: run/image-check/ (logs, jobs, results).

  1. Tansu on the host; the emulator from the image, with host networking (the same binary the worker runs).
  2. One worker: a read-only root file system and the image's own non-root user. Its HEALTHCHECK command succeeds,
     /readyz turns 200, `config check` passes inside, 200 jobs (half streamed) complete with the content the
     emulator predicts and every streamed answer is rebuilt from its partials.
  3. SIGTERM while jobs run: the worker lets them finish, commits and exits 0 within the drain timeout; a new worker
     answers the rest, and none twice.
  4. Three containers in one group share the partitions; one is stopped mid-run; nothing is lost.
Prints each step's figures and the image's size; exits 1 on the first check that fails.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "run" / "image-check"
IMAGE = os.environ.get("IMAGE", "gigachat-worker:local")
ENGINE_CMD = os.environ["IMAGE_ENGINE_CMD"].split("\n")
RUN = os.environ["IMAGE_RUN"].split("\n")
ENGINE = os.environ["IMAGE_ENGINE"]
TANSU = os.environ.get("TANSU_BIN", "/usr/local/bin/tansu")
KCAT = os.environ.get("KCAT_BIN", "kcat")
DRAIN_TIMEOUT_S = 20
GROUP = "image-check"
TOPICS = {"jobs": "gigachat.jobs", "partials": "gigachat.partials", "completions": "gigachat.completions",
          "dlq": "gigachat.jobs.DLT"}
PARTITIONS = 6
CREDENTIALS = "ZGVtbzpkZW1vLXNlY3JldA=="  # Base64 of demo:demo-secret; the emulator takes any well-formed key
PREFIX = f"gw-image-check-{os.getpid()}"

containers: list[str] = []
processes: list[subprocess.Popen] = []
figures: list[tuple[str, str]] = []


def log(message: str) -> None:
    print(f"[image-check] {message}", flush=True)


def fail(message: str) -> None:
    raise SystemExit(f"[image-check] FAILED: {message}")


def figure(name: str, value: str) -> None:
    figures.append((name, value))
    log(f"{name}: {value}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def engine(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    result = subprocess.run([*ENGINE_CMD, *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        fail(f"{' '.join(args[:2])} exited {result.returncode}: {result.stderr.strip()[-2000:]}")
    return result


def without_engine_noise(text: str) -> str:
    """podman without systemd logs that it cannot schedule health checks; those lines are not the program's."""
    return "\n".join(line for line in text.splitlines() if "systemd" not in line)


def wait_until(what: str, seconds: float, probe) -> float:
    """Calls probe until it returns true; returns the seconds it took, fails after `seconds`."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if probe():
            return time.monotonic() - started
        time.sleep(0.2)
    fail(f"{what}: not within {seconds:.0f} s")


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def metric(port: int, name: str, labels: str = "") -> float:
    """The sum of a metric's samples whose labels contain `labels` (0 when absent)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return 0
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{name}(\{{[^}}]*\}})? (\S+)$", line)
        if match and labels in (match.group(1) or ""):
            total += float(match.group(2))
    return total


class Worker:
    """One worker container: the image's default user, a read-only root file system, host networking."""

    def __init__(self, name: str, env: dict[str, str]):
        self.name = f"{PREFIX}-{name}"
        self.port = free_port()
        self.env = {**env, "GIGACHAT_WORKER_METRICS_PORT": str(self.port)}
        read_only = ["--read-only"] + (["--read-only-tmpfs=false"] if ENGINE == "podman" else [])
        flags = [f for key, value in self.env.items() for f in ("-e", f"{key}={value}")]
        result = subprocess.run([*RUN, "-d", "--name", self.name, *read_only, *flags, IMAGE, "run"],
                                capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            fail(f"starting {self.name}: {without_engine_noise(result.stderr)}")
        containers.append(self.name)

    def ready(self) -> bool:
        return http_status(f"http://127.0.0.1:{self.port}/readyz") == 200

    def metric(self, name: str, labels: str = "") -> float:
        return metric(self.port, name, labels)

    def logs(self) -> str:
        result = engine("logs", self.name, check=False)
        return result.stdout + result.stderr

    def running(self) -> bool:
        result = engine("inspect", "--format", "{{.State.Running}}", self.name, check=False)
        return result.stdout.strip() == "true"

    def stop(self) -> tuple[int, float]:
        """SIGTERM, then waits for the exit; returns (exit code, seconds)."""
        started = time.monotonic()
        engine("kill", "--signal", "TERM", self.name)
        result = engine("wait", self.name, timeout=DRAIN_TIMEOUT_S + 60)
        return int(result.stdout.strip().splitlines()[-1]), time.monotonic() - started


class Fleet:
    """Tansu and the emulator on the host, and the image's client commands against them."""

    def __init__(self):
        self.broker_port = free_port()
        self.emulator_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.broker_port}"

    def start(self) -> None:
        url = f"tcp://{self.bootstrap}"
        broker_log = open(WORK / "broker.log", "w")
        processes.append(subprocess.Popen(
            [TANSU, "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"], stdout=broker_log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL))
        wait_until("Tansu answering metadata", 20, lambda: subprocess.run(
            [KCAT, "-L", "-b", self.bootstrap, "-m", "2"], capture_output=True).returncode == 0)
        name = f"{PREFIX}-emulator"
        result = subprocess.run(
            [*RUN, "-d", "--name", name, "--no-healthcheck", "--read-only", IMAGE, "emulator", "--host", "127.0.0.1",
             "--port", str(self.emulator_port), "--concurrency-limit", "10", "--ttft-ms", "200",
             "--chunk-delay-ms", "30"], capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            fail(f"starting the emulator: {without_engine_noise(result.stderr)}")
        containers.append(name)
        wait_until("the emulator answering", 20, lambda: http_status(
            f"http://127.0.0.1:{self.emulator_port}/api/v1/models") in (200, 401))
        self.client("topics", "create", *TOPICS.values(), "--partitions", str(PARTITIONS),
                    "--bootstrap-servers", self.bootstrap)

    def worker_env(self) -> dict[str, str]:
        return {
            "GIGACHAT_WORKER_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "GIGACHAT_WORKER_KAFKA_GROUP_ID": GROUP,
            # Tansu answers a join after about half the session timeout.
            "GIGACHAT_WORKER_KAFKA_SESSION_TIMEOUT": "6s",
            # The image listens on 0.0.0.0 for a container network; with host networking it stays on loopback.
            "GIGACHAT_WORKER_METRICS_HOST": "127.0.0.1",
            "GIGACHAT_WORKER_CONCURRENCY": "10",
            "GIGACHAT_WORKER_SHUTDOWN_DRAIN_TIMEOUT": f"{DRAIN_TIMEOUT_S}s",
            "GIGACHAT_CREDENTIALS": CREDENTIALS,
            "GIGACHAT_BASE_URL": f"http://127.0.0.1:{self.emulator_port}/api/v1",
            "GIGACHAT_AUTH_URL": f"http://127.0.0.1:{self.emulator_port}/api/v2/oauth",
            "GIGACHAT_ACCOUNT_CONCURRENCY": "10",
        }

    def client(self, *args: str, timeout: float = 300) -> str:
        """A one-off container of the image (submit, collect, topics, config), with run/image-check/ as /work."""
        result = subprocess.run(
            [*RUN, "--rm", "--no-healthcheck", "--read-only", "-v", f"{WORK}:/work", "-w", "/work", IMAGE, *args],
            capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            fail(f"gigachat-worker {args[0]} exited {result.returncode}: "
                 f"{without_engine_noise(result.stdout + result.stderr)[-3000:]}")
        return result.stdout

    def submit(self, name: str, jobs: list[dict]) -> None:
        path = WORK / f"{name}.jsonl"
        path.write_text("".join(json.dumps(job, ensure_ascii=False) + "\n" for job in jobs))
        self.client("submit", "--bootstrap-servers", self.bootstrap, "--manifest", f"{name}.manifest.jsonl",
                    f"{name}.jsonl")

    def collect(self, name: str, timeout_s: int) -> list[dict]:
        self.client("collect", "--bootstrap-servers", self.bootstrap, "--manifest", f"{name}.manifest.jsonl",
                    "--since", "1h", "--timeout", str(timeout_s), "--output", f"{name}.results.jsonl",
                    timeout=timeout_s + 60)
        return [json.loads(line) for line in (WORK / f"{name}.results.jsonl").read_text().splitlines() if line]

    def topic_records(self, topic: str) -> list[dict]:
        result = subprocess.run([KCAT, "-C", "-b", self.bootstrap, "-t", topic, "-o", "beginning", "-e", "-q",
                                 "-f", "%s\n"], capture_output=True, text=True, timeout=60)
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]

    def completions_per_id(self, ids: set[str]) -> dict[str, int]:
        counts = {i: 0 for i in ids}
        for record in self.topic_records(TOPICS["completions"]):
            if record["id"] in counts:
                counts[record["id"]] += 1
        return counts


def expected_answer(prompt: str) -> str:
    """The emulator's reply (GigaChatEmulator.answer): an echo and the prompt's word count."""
    return f"Echo: {prompt}\nОтвет эмулятора: слов в запросе — {len(prompt.split())}."


def make_jobs(name: str, count: int, words: int, stream_every: int = 2) -> list[dict]:
    jobs = []
    for n in range(count):
        prompt = " ".join([f"{name}-{n}"] + [f"слово{k}" for k in range(words - 1)])
        jobs.append({"id": f"{name}-{n:04d}", "messages": [{"role": "user", "content": prompt}],
                     "stream": n % stream_every == 0})
    return jobs


def check_answers(fleet: Fleet, jobs: list[dict], results: list[dict], check_partials: bool) -> None:
    by_id = {r["id"]: r for r in results}
    missing = [j["id"] for j in jobs if j["id"] not in by_id]
    if missing:
        fail(f"{len(missing)} of {len(jobs)} jobs have no completion, e.g. {missing[:5]}")
    wrong = [j["id"] for j in jobs
             if by_id[j["id"]]["status"] != "ok"
             or by_id[j["id"]]["content"] != expected_answer(j["messages"][0]["content"])]
    if wrong:
        fail(f"{len(wrong)} completions are not the emulator's answer, e.g. {by_id[wrong[0]]}")
    if not check_partials:
        return
    partials: dict[str, list[dict]] = {}
    for record in fleet.topic_records(TOPICS["partials"]):
        partials.setdefault(record["attempt_id"], []).append(record)
    streamed = [j for j in jobs if j["stream"]]
    for job in streamed:
        attempt = sorted(partials.get(by_id[job["id"]]["attempt_id"], []), key=lambda p: p["seq"])
        rebuilt = "".join(p["delta"] for p in attempt)
        if not attempt or not attempt[-1]["final"] or rebuilt != by_id[job["id"]]["content"]:
            fail(f"the partials of {job['id']} do not rebuild its answer ({len(attempt)} partials)")
    unstreamed = {by_id[j["id"]]["attempt_id"] for j in jobs if not j["stream"]}
    if unstreamed & set(partials):
        fail("a job that was not streamed has partials")
    figure("streamed answers rebuilt from their partials", f"{len(streamed)} of {len(streamed)}")


def healthcheck_command() -> list[str]:
    test = json.loads(engine("image", "inspect", "--format", "{{json .Config.Healthcheck.Test}}", IMAGE).stdout)
    if not test or test[0] not in ("CMD", "CMD-SHELL"):
        fail(f"the image declares no HEALTHCHECK command ({test})")
    return test[1:] if test[0] == "CMD" else ["/bin/sh", "-c", test[1]]


def step_one_worker(fleet: Fleet) -> Worker:
    log("== one worker: read-only root file system, the image's own user")
    worker = Worker("w1", fleet.worker_env())
    figure("/readyz 200 after", f"{wait_until('/readyz 200', 90, worker.ready):.1f} s")
    user = engine("exec", worker.name, "id", "-u").stdout.strip()
    if user == "0":
        fail("the worker runs as root")
    figure("the worker's user id", user)
    health = engine("exec", worker.name, *healthcheck_command(), check=False)
    if health.returncode != 0:
        fail(f"the image's HEALTHCHECK command failed: {health.stdout}{health.stderr}")
    figure("the image's HEALTHCHECK command", "exit 0")
    env_flags = [f for key, value in fleet.worker_env().items() for f in ("-e", f"{key}={value}")]
    checked = subprocess.run([*RUN, "--rm", "--no-healthcheck", "--read-only", *env_flags, IMAGE, "config", "check"],
                             capture_output=True, text=True, timeout=60)
    if checked.returncode != 0 or "configuration ok" not in checked.stdout:
        fail(f"config check inside the image: {checked.stdout}{without_engine_noise(checked.stderr)}")
    figure("config check inside the image", checked.stdout.strip().splitlines()[-1])

    jobs = make_jobs("batch", 200, words=8)
    started = time.monotonic()
    fleet.submit("batch", jobs)
    results = fleet.collect("batch", 180)
    figure("200 jobs (100 streamed) answered in", f"{time.monotonic() - started:.1f} s")
    check_answers(fleet, jobs, results, check_partials=True)
    return worker


def step_sigterm(fleet: Fleet, worker: Worker) -> Worker:
    log("== SIGTERM while jobs run")
    jobs = make_jobs("drain", 80, words=40, stream_every=1)
    done_before = worker.metric("gigachat_worker_jobs_total")
    fleet.submit("drain", jobs)
    wait_until("jobs running", 60, lambda: worker.metric("gigachat_worker_jobs_in_flight") >= 5
               and worker.metric("gigachat_worker_jobs_total") >= done_before + 5)
    running = worker.metric("gigachat_worker_jobs_in_flight")
    code, seconds = worker.stop()
    logs = worker.logs()
    figure("SIGTERM with jobs running", f"{running:.0f} running; exit {code} after {seconds:.1f} s "
                                        f"(drain timeout {DRAIN_TIMEOUT_S} s)")
    (WORK / "w1.log").write_text(logs)
    if code != 0:
        fail(f"the worker exited {code} on SIGTERM (log: run/image-check/w1.log)")
    if seconds > DRAIN_TIMEOUT_S + 5:
        fail(f"the worker took {seconds:.1f} s to stop, past the drain timeout of {DRAIN_TIMEOUT_S} s")
    if "Drain timeout" in logs:
        fail("running jobs were cancelled at the drain timeout instead of finishing")
    if "Worker stopped" not in logs:
        fail("the worker did not log its clean stop")
    second = Worker("w2", fleet.worker_env())
    wait_until("the second worker's /readyz 200", 90, second.ready)
    results = fleet.collect("drain", 180)
    check_answers(fleet, jobs, results, check_partials=False)
    counts = fleet.completions_per_id({j["id"] for j in jobs})
    twice = sum(1 for c in counts.values() if c > 1)
    figure("after the restart: jobs answered twice", f"{twice} of {len(jobs)}")
    if twice:
        fail(f"{twice} jobs were answered twice: the stopped worker did not commit what it finished")
    return second


def step_fleet(fleet: Fleet, first: Worker) -> None:
    log("== three containers in one group; one stopped mid-run")
    workers = [first, Worker("w3", fleet.worker_env()), Worker("w4", fleet.worker_env())]
    for w in workers:
        wait_until(f"{w.name} /readyz 200", 90, w.ready)
    settle = wait_until("every container owning partitions", 90, lambda: all(
        w.metric("gigachat_worker_partitions_assigned") > 0 for w in workers)
        and sum(w.metric("gigachat_worker_partitions_assigned") for w in workers) == PARTITIONS)
    shares = [int(w.metric("gigachat_worker_partitions_assigned")) for w in workers]
    figure("partitions per container once settled", f"{shares} after {settle:.1f} s")
    jobs = make_jobs("fleet", 300, words=20)
    before = [w.metric("gigachat_worker_jobs_total") for w in workers]
    started = time.monotonic()
    fleet.submit("fleet", jobs)
    wait_until("100 answers", 120, lambda: sum(w.metric("gigachat_worker_jobs_total") for w in workers)
               - sum(before) >= 100)
    stopped = workers[1]
    answered = [int(w.metric("gigachat_worker_jobs_total") - b) for w, b in zip(workers, before)]
    code, seconds = stopped.stop()
    figure("answers per container when one was stopped", f"{answered}; it exited {code} after {seconds:.1f} s")
    if code != 0:
        fail(f"{stopped.name} exited {code} on SIGTERM")
    if min(answered) == 0:
        fail("a container of the group answered nothing: the partitions were not shared")
    results = fleet.collect("fleet", 240)
    check_answers(fleet, jobs, results, check_partials=False)
    counts = fleet.completions_per_id({j["id"] for j in jobs})
    twice = sum(1 for c in counts.values() if c > 1)
    figure("300 jobs, one of three containers stopped: answered", f"{len(results)} of {len(jobs)} in "
                                                                   f"{time.monotonic() - started:.1f} s, "
                                                                   f"{twice} twice")


def cleanup() -> None:
    for name in containers:
        subprocess.run([*ENGINE_CMD, "rm", "-f", "-t", "0", name], capture_output=True, timeout=60)
    for process in processes:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def main() -> None:
    if engine("image", "inspect", IMAGE, check=False).returncode != 0:
        fail(f"no image {IMAGE}: run make image first")
    for tool in (TANSU, KCAT):
        if not shutil.which(tool):
            fail(f"{tool} not found: run make setup")
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    WORK.chmod(0o777)  # the image's user writes manifests and results there
    size = int(engine("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout.strip())
    figure(f"image {IMAGE}", f"{size / 1e6:.0f} MB")
    fleet = Fleet()
    try:
        fleet.start()
        first = step_one_worker(fleet)
        second = step_sigterm(fleet, first)
        step_fleet(fleet, second)
    finally:
        cleanup()
    print()
    for name, value in figures:
        print(f"  {name}: {value}")
    print("image-check: passed")


if __name__ == "__main__":
    main()
