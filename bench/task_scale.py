"""Burst and density of running tasks, measured through the ECS API (botocore, as the aws CLI
uses it) against a running `berth up`.

usage: task_scale.py ENDPOINT IMAGE BERTH_PID BURST DENSITY RUN_DIR

Burst: BURST tasks started with RunTask (count 10 per call, four callers at once); the time
from the first call until DescribeTasks shows every one RUNNING.
Density: DENSITY idle tasks running at once; berth's own memory for them — the proportional
set size (PSS) of `berth up` and of every task supervisor, plus what berth's runtime-state
tmpfs (RUN_DIR) holds — against the same sum with no task running, per task. The tasks' own processes (busybox sh and sleep) are theirs, not berth's.
"""

import concurrent.futures
import os
import sys
import time

try:
    from botocore.session import get_session
except ImportError:  # awscli 1.x from PyPI carries its own copy
    from awscli.botocore.session import get_session

endpoint, image, berth_pid, burst, density, run_dir = sys.argv[1:7]
burst, density, berth_pid = int(burst), int(density), int(berth_pid)
ecs = get_session().create_client(
    "ecs",
    region_name="us-east-1",
    endpoint_url=endpoint,
    aws_access_key_id="bench",
    aws_secret_access_key="bench",
)
ecs.create_cluster(clusterName="default")
ecs.register_task_definition(
    family="idle",
    networkMode="awsvpc",
    requiresCompatibilities=["FARGATE"],
    cpu="256",
    memory="512",
    containerDefinitions=[
        {
            "name": "app",
            "image": image,
            "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"],
            "stopTimeout": 5,
        }
    ],
)
NETWORK = {"awsvpcConfiguration": {"subnets": ["subnet-bench"]}}


def start(total):
    calls = [min(10, total - i) for i in range(0, total, 10)]

    def call(count):
        out = ecs.run_task(
            taskDefinition="idle", count=count, launchType="FARGATE", networkConfiguration=NETWORK
        )
        assert not out["failures"], out["failures"]
        return [t["taskArn"] for t in out["tasks"]]

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        return [arn for arns in pool.map(call, calls) for arn in arns]


def wait_all(arns, status, limit_s):
    deadline = time.monotonic() + limit_s
    while True:
        behind = 0
        for i in range(0, len(arns), 100):
            tasks = ecs.describe_tasks(tasks=arns[i : i + 100])["tasks"]
            behind += sum(1 for t in tasks if t["lastStatus"] != status)
        if behind == 0:
            return
        if time.monotonic() > deadline:
            sys.exit(f"{behind} of {len(arns)} tasks never reached {status}")
        time.sleep(0.05)


def stop_all(arns):
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda arn: ecs.stop_task(task=arn), arns))
    wait_all(arns, "STOPPED", 300)


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def supervisors():
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if len(argv) > 1 and argv[0].endswith(b"berth") and argv[1] == b"shim":
                found.append(int(pid))
    return found


def run_dir_kib():
    """What berth's runtime-state tmpfs holds (its pages are memory too)."""
    stat = os.statvfs(run_dir)
    return (stat.f_blocks - stat.f_bfree) * stat.f_frsize // 1024


def berth_memory_kib():
    shims = supervisors()
    return pss_kib(berth_pid) + sum(pss_kib(p) for p in shims) + run_dir_kib(), len(shims)


# Burst.
started = time.monotonic()
arns = start(burst)
wait_all(arns, "RUNNING", 300)
elapsed = time.monotonic() - started
print(f"burst: {burst} tasks RUNNING in {elapsed:.2f} s = {burst / elapsed:.0f} tasks/s")
stop_all(arns)

# Density.
if density == 0:
    sys.exit(0)
time.sleep(1)
before, _ = berth_memory_kib()
started = time.monotonic()
arns = start(density)
wait_all(arns, "RUNNING", 600)
elapsed = time.monotonic() - started
time.sleep(2)
after, shims = berth_memory_kib()
per_task = (after - before) / density / 1024
print(
    f"density: {density} tasks RUNNING in {elapsed:.1f} s; berth up + {shims} supervisors "
    f"PSS {before / 1024:.1f} MiB before, {after / 1024:.1f} MiB with them: "
    f"{per_task:.2f} MiB per task (berth up alone: {pss_kib(berth_pid) / 1024:.1f} MiB; "
    f"runtime state on tmpfs: {run_dir_kib() / 1024:.1f} MiB)"
)
stop_all(arns)
