"""pipelines/slurm-array.sbatch end to end: a one-node Slurm cluster started by
the test itself on 127.0.0.1 (munged, slurmctld and slurmd with every file in
the test's temporary folder) runs the sharded job as an array of 4 tasks, and
the 4 shards together are exactly one unsharded run.  The script's own rules
(status, renames, misuse, resuming with RESUME=1) are checked by running it
directly with the variables Slurm would set, so they hold without Slurm too."""
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import dptest  # noqa: E402
from dptest import (CORPUS, DOCPIPE, SOURCE, FedRun, TempDirTest, check_record,  # noqa: E402
                    docpipe, ndjson_lines, read, resume_point)

SCRIPT = os.path.join(SOURCE, "pipelines", "slurm-array.sbatch")
BINARIES = os.path.join(CORPUS, "binaries.ndjson")
DOCREFS = os.path.join(CORPUS, "docrefs.ndjson")
FHIR_DUMP = ["run", "fhir-dump", "--binaries", BINARIES, DOCREFS]
SHARDS = 4
# Every process the cluster starts carries this variable (daemons, slurmstepd,
# the job's processes), so tearDown can find and end exactly those.
MARK = "DOCPIPE_SLURM_TEST_CLUSTER"


def docpipe_path():
    return os.path.abspath(DOCPIPE) if os.sep in DOCPIPE else shutil.which(DOCPIPE)


def which(prog):
    path = os.environ.get("PATH", os.defpath) + ":/usr/local/sbin:/usr/sbin:/sbin"
    return shutil.which(prog, path=path)


def clean_env(**extra):
    """The test's environment without a surrounding Slurm job's variables
    (ctest itself may run inside one), plus extra."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURM_", "SBATCH_", "SALLOC_", "SRUN_"))}
    env.update(extra)
    return env


def tail(path, lines=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as e:
        return "(%s)" % e


def shard_lines(outdir, suffix=".ndjson"):
    return {k: ndjson_lines(os.path.join(outdir, "shard-%d%s" % (k, suffix)))
            for k in range(SHARDS)}


class Cluster:
    """munged + slurmctld + slurmd in the foreground, children of the test,
    talking over 127.0.0.1 and a munge socket in root; stop() always works."""

    DAEMONS = ("munged", "slurmctld", "slurmd")
    CLIENTS = ("sbatch", "scontrol", "scancel")

    def __init__(self, tmp):
        # Slurm and munged make Unix sockets (107 bytes at most) under the
        # root: with a long TMPDIR the cluster lives in a short folder of its own.
        self.own_root = len(tmp) > 40
        root = tempfile.mkdtemp(prefix="dpslurm-", dir="/tmp") if self.own_root else tmp
        self.root = root
        self.procs = {}
        self.bins = {p: which(p) for p in self.DAEMONS + self.CLIENTS}
        self.conf = os.path.join(root, "slurm.conf")
        self.log = os.path.join(root, "log")
        self.env = clean_env(SLURM_CONF=self.conf, **{MARK: root})

    def missing(self):
        return [p for p, path in self.bins.items() if not path]

    # -- start ------------------------------------------------------------
    def start(self):
        # munged wants its socket's folders open to everyone (x), its key
        # private; the test's folder is 0700 from mkdtemp.
        os.chmod(self.root, 0o711)
        for d in ("munge", "log", "state", "spool"):
            os.makedirs(os.path.join(self.root, d), exist_ok=True)
        os.chmod(os.path.join(self.root, "munge"), 0o755)
        self.start_munge()
        for attempt in range(3):
            try:
                self.start_slurm()
                return
            except PortTaken:
                # Another process took a port between choosing and binding it.
                self.stop_slurm(grace=0)
                if attempt == 2:
                    raise

    def spawn(self, name, args):
        out = open(os.path.join(self.log, name + ".out"), "ab")
        self.procs[name] = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, env=self.env,
                                            cwd=self.root, start_new_session=True)
        out.close()

    def start_munge(self):
        m = os.path.join(self.root, "munge")
        key = os.path.join(m, "munge.key")
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, os.urandom(1024))
        os.close(fd)
        self.munge_socket = os.path.join(m, "munge.socket")
        self.spawn("munged", [self.bins["munged"], "--foreground",
                              "--socket=" + self.munge_socket, "--key-file=" + key,
                              "--pid-file=" + os.path.join(m, "munged.pid"),
                              "--log-file=" + os.path.join(self.log, "munged.log"),
                              "--seed-file=" + os.path.join(m, "munged.seed")])
        self.wait_for(self.munge_answers, "munged to answer on " + self.munge_socket, 10,
                      ["munged"])

    def munge_answers(self):
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(1)
                s.connect(self.munge_socket)
            return True
        except OSError:
            return False

    def node_line(self):
        """The machine as slurmd sees it (CPUs, sockets, cores, memory)."""
        try:
            out = subprocess.run([self.bins["slurmd"], "-C"], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, env=clean_env(), timeout=10,
                                 check=True).stdout.decode()
            fields = [f for f in out.splitlines()[0].split() if not f.startswith("NodeName=")]
            if any(f.startswith("CPUs=") for f in fields):
                return " ".join(fields)
        except (subprocess.SubprocessError, OSError, IndexError):
            pass
        with open("/proc/meminfo") as f:
            mem = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1)) // 1024
        return "CPUs=%d RealMemory=%d" % (len(os.sched_getaffinity(0)), mem)

    def write_conf(self):
        socks = [socket.socket() for _ in range(2)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        self.ports = [s.getsockname()[1] for s in socks]
        for s in socks:
            s.close()
        user = "root" if os.geteuid() == 0 else __import__("pwd").getpwuid(os.geteuid()).pw_name
        r, log = self.root, self.log
        conf = f"""# A one-node cluster for tests/e2e/test_slurm.py: 127.0.0.1 only,
# every file under {r}
ClusterName=docpipe-e2e
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={self.ports[0]}
SlurmdPort={self.ports[1]}
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmUser={user}
SlurmdUser={user}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/slurmctld.pid
SlurmdPidFile={r}/slurmd.pid
SlurmctldLogFile={log}/slurmctld.log
SlurmdLogFile={log}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
# sbatch --wait polls every 2 s while MinJobAge/2 <= 2 (else 8 s, then 32 s);
# records are purged once a minute at most, long after it has looked.
MinJobAge=5
NodeName=localhost NodeAddr=127.0.0.1 {self.node_line()} State=UNKNOWN
PartitionName=e2e Nodes=localhost Default=YES MaxTime=10 State=UP
"""
        with open(self.conf, "w") as f:
            f.write(conf)

    def start_slurm(self):
        self.write_conf()
        self.spawn("slurmctld", [self.bins["slurmctld"], "-D", "-f", self.conf])
        self.wait_for(self.controller_up, "slurmctld to answer", 20, ["slurmctld"])
        self.spawn("slurmd", [self.bins["slurmd"], "-D", "-N", "localhost", "-f", self.conf])
        self.wait_for(self.node_idle, "the node to register and be idle", 20,
                      ["slurmctld", "slurmd"])

    def scontrol(self, *args):
        try:
            return subprocess.run([self.bins["scontrol"], *args], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  env=self.env, timeout=3).stdout.decode(errors="replace")
        except subprocess.TimeoutExpired:
            return ""

    def controller_up(self):
        return "is UP" in self.scontrol("ping")

    def node_idle(self):
        out = self.scontrol("-o", "show", "node", "localhost")
        m = re.search(r"\bState=(\S+)", out)
        if m and ("DRAIN" in m.group(1) or "INVAL" in m.group(1)):
            raise ClusterFailed("the node is %s: %s\n%s" % (m.group(1), out, self.logs()))
        return bool(m) and m.group(1).startswith("IDLE")

    def wait_for(self, ready, what, seconds, daemons):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for name in daemons:
                if self.procs[name].poll() is not None:
                    logs = self.logs()
                    if "Address already in use" in logs:
                        raise PortTaken(logs)
                    raise ClusterFailed("%s exited with status %s while waiting for %s\n%s"
                                        % (name, self.procs[name].returncode, what, logs))
            if ready():
                return
            time.sleep(0.2)
        raise ClusterFailed("timed out after %d s waiting for %s\n%s" % (seconds, what,
                                                                        self.logs()))

    def logs(self, lines=40):
        parts = []
        for path in sorted(glob.glob(os.path.join(self.log, "*"))):
            parts.append("---- %s\n%s" % (path, tail(path, lines)))
        return "\n".join(parts)

    # -- use --------------------------------------------------------------
    def run(self, prog, *args, timeout=10, env=None):
        return subprocess.run([self.bins[prog], *args], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env or self.env, cwd=self.root, timeout=timeout)

    def sbatch_wait(self, args, env, timeout):
        """sbatch --wait ARGS: (status, stdout, stderr).  The queue is watched
        meanwhile, so that a task Slurm cannot launch (it would be held and
        wait for ever) fails at once with the logs, not at the timeout."""
        proc = subprocess.Popen([self.bins["sbatch"], "--wait", *args],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, cwd=self.root)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    out, err = proc.communicate(timeout=1)
                    return proc.returncode, out.decode(errors="replace"), err.decode(
                        errors="replace")
                except subprocess.TimeoutExpired:
                    pass
                jobs = self.scontrol("-o", "show", "job")
                node = self.scontrol("-o", "show", "node", "localhost")
                stuck = (re.search(r"Reason=\S*(launch_failed|[Hh]eld)", jobs)
                         or re.search(r"State=\S*(DRAIN|DOWN|FAIL)", node))
                if stuck or time.monotonic() > deadline:
                    raise ClusterFailed("%s\n%s\n%s\n%s" % (
                        "a task cannot be launched" if stuck else
                        "sbatch --wait did not return in %d s" % timeout,
                        jobs, node, self.logs()))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()

    # -- stop -------------------------------------------------------------
    def stop(self):
        if self.procs.get("slurmctld") and self.procs["slurmctld"].poll() is None:
            try:
                self.run("scancel", "--partition=e2e", timeout=5)
            except (subprocess.SubprocessError, OSError):
                pass
        self.stop_slurm()
        self.stop_proc("munged")
        self.sweep()
        if self.own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def stop_slurm(self, grace=10):
        for name in ("slurmd", "slurmctld"):
            self.stop_proc(name, grace)

    def stop_proc(self, name, grace=10):
        p = self.procs.pop(name, None)
        if p is None:
            return
        if p.poll() is None and grace:
            p.terminate()
            try:
                p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)

    def sweep(self):
        """SIGKILL whatever still runs with this cluster's mark: a slurmstepd
        or a job process left behind by a failed test."""
        mark = ("%s=%s" % (MARK, self.root)).encode() + b"\0"
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                with open("/proc/%s/environ" % pid, "rb") as f:
                    env = b"\0" + f.read()
                if b"\0" + mark in env:
                    os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass


class ClusterFailed(AssertionError):
    pass


class PortTaken(ClusterFailed):
    pass


class SlurmArray(TempDirTest):
    def setUp(self):
        super().setUp()
        self.cluster = Cluster(self.tmp)
        missing = self.cluster.missing()
        dptest.require(not missing, "Slurm/MUNGE (no %s; Debian: slurm-wlm munge)"
                       % ", ".join(missing))
        # Cleanups run even when setUp fails half-way (tearDown does not).
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.addCleanup(self.cluster.stop)
        self.cluster.start()

    def test_array_of_four_equals_one_run(self):
        single = docpipe("-q", *FHIR_DUMP)
        self.assertEqual(single.status, 0, single.stderr)
        self.assertGreaterEqual(len(single.records), SHARDS)
        outdir = os.path.join(self.tmp, "out")
        env = self.cluster.env.copy()
        env.update(OUTDIR=outdir, DOCPIPE=docpipe_path())  # ASAN_OPTIONS & co. stay
        start = time.monotonic()
        status, out, err = self.cluster.sbatch_wait(
            ["--array=0-%d" % (SHARDS - 1), "--export=ALL", "--time=5",
             "--job-name=docpipe-e2e", "--chdir=" + self.tmp,
             "--output=" + os.path.join(self.cluster.log, "task-%A_%a.out"),
             SCRIPT, *FHIR_DUMP], env, timeout=50)
        took = time.monotonic() - start
        why = "sbatch: %s %s\n%s" % (out, err, self.cluster.logs())
        self.assertEqual(status, 0, why)
        self.assertRegex(out, r"Submitted batch job \d+", why)

        # Every task said it finished with status 0 (no accounting: its log).
        logs = sorted(glob.glob(os.path.join(self.cluster.log, "task-*_*.out")))
        self.assertEqual(len(logs), SHARDS, why)
        for k in range(SHARDS):
            log = read(glob.glob(os.path.join(self.cluster.log, "task-*_%d.out" % k))[0])
            self.assertIn(b"shard %d/%d: docpipe exit status 0" % (k, SHARDS), log, why)

        self.assertEqual(sorted(os.listdir(outdir)),
                         sorted("shard-%d%s" % (k, s) for k in range(SHARDS)
                                for s in (".ndjson", ".errors.ndjson")))
        shards = shard_lines(outdir)
        union = sorted(line for lines in shards.values() for line in lines)
        self.assertEqual(union, sorted(single.stdout.splitlines()))
        self.assertEqual(len(set(union)), len(union), "a record is in two shards")
        self.assertGreaterEqual(sum(1 for lines in shards.values() if lines), 2,
                                "all records in one shard: %s" % {k: len(v) for k, v in
                                                                  shards.items()})
        self.assertEqual(shard_lines(outdir, ".errors.ndjson"),
                         {k: [] for k in range(SHARDS)})
        for line in union:
            check_record(json.loads(line))
        print("\nslurm array of %d tasks: %.1f s" % (SHARDS, took), file=sys.stderr)


class ScriptAlone(TempDirTest):
    """The script run the way a Slurm task runs it, without Slurm."""

    def task(self, k, *args, n=SHARDS, array=None, start_new_session=False, **env):
        lo, hi = array if array else (0, n - 1)
        e = clean_env(SLURM_ARRAY_TASK_ID=str(k), SLURM_ARRAY_TASK_MIN=str(lo),
                      SLURM_ARRAY_TASK_MAX=str(hi), SLURM_ARRAY_TASK_COUNT=str(hi - lo + 1),
                      SLURM_ARRAY_JOB_ID="7", SLURM_SUBMIT_DIR=self.tmp,
                      OUTDIR=os.path.join(self.tmp, "out"), DOCPIPE=docpipe_path())
        for name, value in env.items():
            if value is None:
                e.pop(name, None)
            else:
                e[name] = value
        cmd = ["bash", SCRIPT, *args]
        if start_new_session:
            return subprocess.Popen(cmd, env=e, cwd=self.tmp, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    start_new_session=True)
        return subprocess.run(cmd, env=e, cwd=self.tmp, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)

    def out(self, name):
        return os.path.join(self.tmp, "out", name)

    def test_failures_give_status_1_and_the_union_of_errors(self):
        bad = os.path.join(CORPUS, "bad", "docrefs-inline.ndjson")
        good = os.path.join(CORPUS, "docrefs-inline.ndjson")
        single = docpipe("-q", "run", "fhir-dump", good, bad)
        self.assertEqual(single.status, 1)
        statuses = []
        for k in range(SHARDS):
            p = self.task(k, "-q", "run", "fhir-dump", good, bad)
            self.assertIn(p.returncode, (0, 1), p.stderr)
            self.assertIn(b"docpipe exit status %d" % p.returncode, p.stderr)
            statuses.append(p.returncode)
        self.assertIn(1, statuses)
        outdir = os.path.join(self.tmp, "out")
        self.assertFalse(glob.glob(os.path.join(outdir, "*.part")))
        records = sorted(sum(shard_lines(outdir).values(), []))
        errors = sorted(sum(shard_lines(outdir, ".errors.ndjson").values(), []))
        self.assertEqual(records, sorted(single.stdout.splitlines()))
        self.assertEqual(errors, sorted(l for l in single.stderr.splitlines()
                                        if l.startswith(b"{")))

    def test_fatal_leaves_no_finished_shard(self):
        os.makedirs(os.path.join(self.tmp, "out"))
        for name in ("shard-1.ndjson", "shard-1.errors.ndjson"):  # an earlier attempt's
            self.write(os.path.join("out", name), "{}\n")
        p = self.task(1, "run", "no-such-pipeline", DOCREFS)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(b"no pipeline", p.stderr)
        self.assertIn(b"docpipe exit status 2: the shard is not finished", p.stderr)
        self.assertFalse(os.path.exists(self.out("shard-1.ndjson")))
        self.assertFalse(os.path.exists(self.out("shard-1.errors.ndjson")))
        p = self.task(1, *FHIR_DUMP, DOCPIPE=os.path.join(self.tmp, "no-docpipe"))
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"docpipe program not found", p.stderr)

    def test_misuse_is_refused_before_anything_runs(self):
        cases = [
            (dict(SLURM_ARRAY_TASK_ID=None), [], b"not a task of a job array"),
            ({}, ["-o", "x"], b"leave '-o' out"),
            ({}, ["--errors=x"], b"leave '--errors=x' out"),
            ({}, ["--shard", "0/2"], b"leave '--shard' out"),
            ({}, ["--state", "s"], b"leave '--state' out"),
            (dict(SHARDS="x"), [], b"SHARDS is not a number"),
            (dict(SHARDS="2"), [], b"task 3 is not a shard of 2"),
        ]
        for env, extra, message in cases:
            p = self.task(3, *extra, *FHIR_DUMP, **env)
            self.assertEqual(p.returncode, 2, (env, extra, p.stderr))
            self.assertIn(message, p.stderr)
        p = self.task(3, array=(1, 4))
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"no docpipe command", p.stderr)
        p = self.task(3, *FHIR_DUMP, array=(1, 4))  # shards 1-4 of 4: 0 would never run
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"is not 0-3", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "out")))

    def test_shard_count_without_task_count_and_reruns_with_shards(self):
        ref = os.path.join(self.tmp, "ref.ndjson")
        self.assertEqual(docpipe("-q", "--shard", "2/4", "-o", ref, *FHIR_DUMP).status, 0)
        # Slurm without SLURM_ARRAY_TASK_COUNT: N = MAX - MIN + 1.
        p = self.task(2, *FHIR_DUMP, SLURM_ARRAY_TASK_COUNT=None)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(read(self.out("shard-2.ndjson")), read(ref))
        # Task 2 alone again (sbatch --array=2): SHARDS says N; a stray
        # DOCPIPE_SHARD in the environment does not change the shard.
        p = self.task(2, *FHIR_DUMP, array=(2, 2), SHARDS="4", DOCPIPE_SHARD="0/2")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(read(self.out("shard-2.ndjson")), read(ref))
        p = self.task(2, *FHIR_DUMP, array=(2, 2))
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"set SHARDS=N", p.stderr)

    def test_resume_after_the_task_was_killed(self):
        """RESUME=1: a task killed mid-run (node lost, scancel, time limit)
        goes on from its checkpoint when submitted again, and its shard is
        the one an uninterrupted run writes.  The input comes through a FIFO
        the test fills (dptest.FedRun): the kill lands mid-run, never after
        the task finished."""
        good = read(os.path.join(CORPUS, "docrefs-inline.ndjson"))
        bad = read(os.path.join(CORPUS, "bad", "docrefs-inline.ndjson"))
        lines = ((good + bad) * 12).splitlines(keepends=True)
        fifo = os.path.join(self.tmp, "in.ndjson")
        os.mkfifo(fifo)
        ref, ref_err = os.path.join(self.tmp, "ref"), os.path.join(self.tmp, "ref.err")
        rc, _ = FedRun([docpipe_path(), "-q", "--shard", "1/4", "-o", ref, "-e", ref_err, "run",
                        "fhir-dump", fifo], fifo, lines).finish()
        self.assertEqual(rc, 1)
        state = self.out("shard-1.state")
        for sig in (signal.SIGKILL, signal.SIGTERM):
            shutil.rmtree(os.path.join(self.tmp, "out"), ignore_errors=True)
            for at in (20, 60):
                run = self.fed_task(1, fifo, lines, gate=at + 30)
                deadline = time.monotonic() + 60
                while (resume_point(state) or {}).get("done", 0) < at:
                    self.assertIsNone(run.proc.poll(), "the task ended before input %d" % at)
                    self.assertLess(time.monotonic(), deadline, "no checkpoint at %d" % at)
                    time.sleep(0.005)
                os.killpg(run.proc.pid, sig)  # Slurm signals every process of the task
                rc, stderr = run.finish(timeout=120)
                self.assertNotIn(rc, (0, 1), stderr)
                self.assertFalse(os.path.exists(self.out("shard-1.ndjson")))
                if rc == 2:
                    self.assertIn(b"exit status 2: the shard is not finished (submit "
                                  b"the same task again to resume it)", stderr)
                self.assertGreaterEqual(resume_point(state)["done"], at)
            rc, stderr = self.fed_task(1, fifo, lines).finish()
            self.assertEqual(rc, 1, stderr)
            self.assertEqual(read(self.out("shard-1.ndjson")), read(ref))
            self.assertEqual(read(self.out("shard-1.errors.ndjson")), read(ref_err))
            self.assertTrue(os.path.exists(state))
            self.assertFalse(glob.glob(os.path.join(self.tmp, "out", "*.part")))

    def fed_task(self, k, fifo, lines, gate=None):
        """Task k of fhir-dump over the FIFO, with RESUME=1, in a session of
        its own (as Slurm runs a task)."""
        e = clean_env(SLURM_ARRAY_TASK_ID=str(k), SLURM_ARRAY_TASK_MIN="0",
                      SLURM_ARRAY_TASK_MAX=str(SHARDS - 1), SLURM_ARRAY_TASK_COUNT=str(SHARDS),
                      SLURM_ARRAY_JOB_ID="7", SLURM_SUBMIT_DIR=self.tmp,
                      OUTDIR=os.path.join(self.tmp, "out"), DOCPIPE=docpipe_path(), RESUME="1")
        return FedRun(["bash", SCRIPT, "-q", "run", "fhir-dump", fifo], fifo, lines, gate=gate,
                      stderr=subprocess.PIPE, env=e, cwd=self.tmp, stdin=subprocess.DEVNULL,
                      start_new_session=True)


if __name__ == "__main__":
    dptest.main()
