// Placement through the daemon in front of a real containerd, read back from the real cgroup
// files and /proc/PID/status: a Guaranteed 1-CPU container gets a CPU of its own, shared-pool
// containers move off it (their cgroups are updated live), and removing gives it back.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { readCgroupCpuset, readProcessAffinity } from './harness/cgroups.js';
import { findContainerdPrerequisites } from './harness/prerequisites.js';
import { startProxiedRuntime } from './harness/proxied-runtime.js';
import { busyboxImage } from './images/test-images.js';
import {
  createContainer,
  readContainerRuntimeInfo,
  removeContainer,
  removePod,
  runContainer,
  runPod,
  startContainer,
  type ContainerSpec,
  type CriTestClient,
  type PodSpec,
  type RunningPod,
} from '../helpers/cri-test-client.js';
import { findDaemonPrerequisites, runCli } from '../helpers/daemon-process.js';
import { repoRoot } from '../helpers/paths.js';
import { waitUntil } from '../helpers/wait-until.js';
import type { StatusReport } from '../../src/control/report.js';
import { CpuSet } from '../../src/topology/cpuset.js';

const onlineCpus = CpuSet.parse(readFileSync('/sys/devices/system/cpu/online', 'utf8').trim());
t.setTimeout(300_000);
const skip =
  (await findContainerdPrerequisites(repoRoot)) ??
  (await findDaemonPrerequisites()) ??
  (onlineCpus.size < 2 ? 'exclusive placement needs at least 2 online CPUs' : null);

/** Where a container runs right now: its cgroup's cpuset and its process's allowed CPUs. */
async function readCpus(client: CriTestClient, containerId: string): Promise<{ cgroup: string; process: string }> {
  const info = await readContainerRuntimeInfo(client, containerId);
  return { cgroup: readCgroupCpuset(info.cgroupPath).cpus, process: readProcessAffinity(info.pid).cpus };
}

function both(cpus: CpuSet): { cgroup: string; process: string } {
  return { cgroup: cpus.format(), process: cpus.format() };
}

t.test('placement through the proxy, seen in the real cgroups', { skip: skip ?? false }, async (t) => {
  t.setTimeout(120_000);
  const runtime = await startProxiedRuntime({ repoRoot });
  t.teardown(() => runtime.destroy());
  const client = runtime.proxied;
  const pod = (name: string, qos: PodSpec['qos']): PodSpec => runtime.sandbox.newPod({ name, namespace: 'default', qos });
  const start = async (spec: PodSpec, container: ContainerSpec): Promise<{ pod: RunningPod; id: string }> => {
    const running = await runPod(client, spec);
    return { pod: running, id: await runContainer(client, running, container, busyboxImage) };
  };
  const cpusOf = (id: string): Promise<{ cgroup: string; process: string }> => readCpus(client, id);
  const settlesAt = (id: string, cpus: CpuSet): Promise<unknown> =>
    waitUntil(() => cpusOf(id), (seen) => seen.cgroup === cpus.format() && seen.process === cpus.format());

  const burstable = await start(pod('burstable', 'Burstable'), { name: 'app', cpuRequestMilli: 250, cpuLimitMilli: 1000 });
  t.same(await cpusOf(burstable.id), both(onlineCpus), 'a Burstable container runs on the whole shared pool');

  // kubelet's pod workers run in parallel: a container created now may start after another
  // pod's exclusive allocation has shrunk the pool.
  const latePod = await runPod(client, pod('late-start', 'Burstable'));
  const lateId = await createContainer(client, latePod, { name: 'app', cpuRequestMilli: 100 }, busyboxImage);

  const guaranteedSpec: ContainerSpec = {
    name: 'app',
    cpuRequestMilli: 1000,
    cpuLimitMilli: 1000,
    memoryLimitBytes: 64 * 1024 * 1024,
  };
  const guaranteed = await start(pod('guaranteed', 'Guaranteed'), guaranteedSpec);
  const exclusive = CpuSet.parse((await cpusOf(guaranteed.id)).cgroup);
  t.equal(exclusive.size, 1, `a Guaranteed 1-CPU container gets one CPU (${exclusive.format()})`);
  t.equal(readProcessAffinity((await readContainerRuntimeInfo(client, guaranteed.id)).pid).cpus, exclusive.format(), 'its process is bound to it');
  const shrunk = onlineCpus.difference(exclusive);
  await settlesAt(burstable.id, shrunk);
  t.pass(`the Burstable container's cgroup was updated to the shrunk pool ${shrunk.format()}`);

  await startContainer(client, lateId);
  t.same(await cpusOf(lateId), both(shrunk), 'a container created before the allocation starts in the shrunk pool');

  const bestEffort = await start(pod('besteffort', 'BestEffort'), { name: 'app' });
  t.same(await cpusOf(bestEffort.id), both(shrunk), 'a BestEffort container starts in the shrunk pool');

  const status = await runCli(['status', '--json', '--control-socket', runtime.daemon.controlSocket]);
  t.equal(status.code, 0, `status answers (${status.stderr.trim()})`);
  t.ok(status.stdout.includes(guaranteed.id), 'status names the exclusive owner');
  const creates = (JSON.parse(status.stdout) as StatusReport).calls.find((row) => row.method === 'RuntimeService/CreateContainer');
  t.ok(creates !== undefined && creates.calls >= 4 && creates.runtimeP50Ms !== null && creates.daemonP50Ms > 0, `status tells what kubelet's creates cost in the daemon and in containerd (${JSON.stringify(creates)})`);

  await removeContainer(client, guaranteed.id);
  await settlesAt(burstable.id, onlineCpus);
  await settlesAt(bestEffort.id, onlineCpus);
  await settlesAt(lateId, onlineCpus);
  t.pass('removing the Guaranteed container gives its CPU back to the shared pool');

  const again = await runContainer(client, guaranteed.pod, { ...guaranteedSpec, name: 'app-2' }, busyboxImage);
  const second = CpuSet.parse((await cpusOf(again)).cgroup);
  t.equal(second.size, 1, `the released CPU can be given exclusively again (${second.format()})`);
  await settlesAt(burstable.id, onlineCpus.difference(second));

  await removePod(client, guaranteed.pod.id);
  await settlesAt(burstable.id, onlineCpus);
  t.pass('removing the pod releases its container too');

  t.notOk(runtime.daemon.logs.some((line) => /native addon did not load/.test(line.msg ?? '')), 'the addon writes the checkpoints');
  t.equal(await runtime.daemon.terminate(), 0);
  const restarted = await runtime.restartDaemon();
  const explained = await runCli(['explain', guaranteed.id, '--json', '--control-socket', restarted.controlSocket]);
  t.equal(explained.code, 0, `explain answers after a restart (${explained.stderr.trim()})`);
  const actions = (JSON.parse(explained.stdout) as { history: { action: string }[] }).history.map((entry) => entry.action);
  t.ok(actions.includes('admit') && actions.includes('release'), `the history was saved at the stop and loaded at the start (${actions.join(', ')})`);
});
