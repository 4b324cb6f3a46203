// Crashes: the daemon SIGKILLed in the middle of a storm of pod and container creates comes back,
// reconciles with containerd, loses no container and gives no CPU to two owners (checked in the
// real cgroups of every running container); a containerd restart is survived (UNAVAILABLE
// meanwhile, then service as before). A cpuset update lost in a crash is repaired at restart.
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { readCgroupCpuset } from './harness/cgroups.js';
import { findContainerdPrerequisites } from './harness/prerequisites.js';
import { startProxiedRuntime, type ProxiedRuntime } from './harness/proxied-runtime.js';
import { busyboxImage } from './images/test-images.js';
import {
  createContainer,
  formatPodSandboxConfig,
  isCriError,
  readContainerRuntimeInfo,
  removeContainer,
  removePod,
  runContainer,
  runPod,
  startContainer,
  type ContainerSpec,
  type PodSpec,
} from '../helpers/cri-test-client.js';
import { findDaemonPrerequisites, runCli } from '../helpers/daemon-process.js';
import { repoRoot } from '../helpers/paths.js';
import { waitUntil } from '../helpers/wait-until.js';
import { CpuSet } from '../../src/topology/cpuset.js';

const onlineCpus = CpuSet.parse(readFileSync('/sys/devices/system/cpu/online', 'utf8').trim());
const skip =
  (await findContainerdPrerequisites(repoRoot)) ??
  (await findDaemonPrerequisites()) ??
  (onlineCpus.size < 2 ? 'exclusive placement needs at least 2 online CPUs' : null);

interface RunningContainer {
  readonly id: string;
  readonly guaranteed: boolean;
  readonly cpus: CpuSet;
}

/** Every running container containerd has, with the cpuset its real cgroup holds now. */
async function readRunningContainers(runtime: ProxiedRuntime): Promise<RunningContainer[]> {
  const { containers } = await runtime.direct.call<{ containers: { id: string; state: string }[] }>('RuntimeService', 'ListContainers');
  const running = containers.filter((container) => container.state === 'CONTAINER_RUNNING');
  return Promise.all(
    running.map(async ({ id }) => {
      const info = await readContainerRuntimeInfo(runtime.direct, id);
      return {
        id,
        guaranteed: /\/kubepods\/pod[^/]+\/[^/]+$/u.test(info.cgroupPath),
        cpus: CpuSet.parse(readCgroupCpuset(info.cgroupPath).cpus),
      };
    }),
  );
}

/** Names every CPU two containers hold when one of them holds it exclusively. */
function findDoubleAllocations(containers: readonly RunningContainer[]): string[] {
  const problems: string[] = [];
  for (const owner of containers.filter((container) => container.guaranteed)) {
    for (const other of containers) {
      if (other.id !== owner.id && owner.cpus.intersects(other.cpus)) {
        problems.push(`${owner.id} (exclusive ${owner.cpus.format()}) shares CPUs with ${other.id} (${other.cpus.format()})`);
      }
    }
  }
  return problems;
}

t.setTimeout(300_000);
let runtime: ProxiedRuntime;
t.before(async () => {
  if (skip === null) runtime = await startProxiedRuntime({ repoRoot });
});
t.teardown(async () => {
  if (skip === null) await runtime.destroy();
});

t.test('a cpuset update lost in a crash is applied again at restart, before kubelet starts the container', { skip: skip ?? false }, async (t) => {
  t.setTimeout(120_000);
  const gold = await runPod(runtime.proxied, runtime.sandbox.newPod({ name: 'lost-update-gold', namespace: 'default', qos: 'Guaranteed' }));
  const goldId = await runContainer(runtime.proxied, gold, { name: 'app', cpuRequestMilli: 1000, cpuLimitMilli: 1000, memoryLimitBytes: 64 << 20 }, busyboxImage);
  const goldCpus = CpuSet.parse(readCgroupCpuset((await readContainerRuntimeInfo(runtime.direct, goldId)).cgroupPath).cpus);
  t.ok(goldCpus.size === 1 && !goldCpus.equals(onlineCpus), `the Guaranteed container has CPU ${goldCpus.format()} to itself`);
  const burst = await runPod(runtime.proxied, runtime.sandbox.newPod({ name: 'lost-update-burst', namespace: 'default', qos: 'Burstable' }));
  const burstId = await createContainer(runtime.proxied, burst, { name: 'app', cpuRequestMilli: 100 }, busyboxImage);
  // Another pod: its checkpoint also writes the create's bind (a pending one is adopted instead).
  const next = await runPod(runtime.proxied, runtime.sandbox.newPod({ name: 'lost-update-next', namespace: 'default', qos: 'BestEffort' }));
  // The state of a daemon SIGKILLed after checkpointing a pool shrink but before its
  // UpdateContainerResources reached containerd: the created container still has every CPU.
  await runtime.direct.call('RuntimeService', 'UpdateContainerResources', { container_id: burstId, linux: { cpuset_cpus: onlineCpus.format() } });
  const daemon = await runtime.restartDaemon();
  const repaired = await daemon.waitForLog((line) => /cpusets in the runtime differed/.test(line.msg ?? ''), 10_000);
  t.match(JSON.stringify(repaired['drifted']), burstId, 'the restart found the container behind its recorded cpuset');
  await startContainer(runtime.proxied, burstId);
  const burstCpus = CpuSet.parse(readCgroupCpuset((await readContainerRuntimeInfo(runtime.direct, burstId)).cgroupPath).cpus);
  t.same(burstCpus.format(), onlineCpus.difference(goldCpus).format(), 'started on the shared pool, off the exclusive CPU');
  for (const [pod, id] of [[burst, burstId], [gold, goldId]] as const) {
    await removeContainer(runtime.proxied, id);
    await removePod(runtime.proxied, pod.id);
  }
  await removePod(runtime.proxied, next.id);
});

t.test('SIGKILL in the middle of a create storm, then restart', { skip: skip ?? false }, async (t) => {
  t.setTimeout(180_000);
  const guaranteed: ContainerSpec = { name: 'app', cpuRequestMilli: 1000, cpuLimitMilli: 1000, memoryLimitBytes: 64 << 20 };
  const shared: ContainerSpec = { name: 'app', cpuRequestMilli: 200 };
  const storm = Array.from({ length: 8 }, (_, index): { pod: PodSpec; container: ContainerSpec } => {
    const qos: PodSpec['qos'] = index % 4 === 0 ? 'Guaranteed' : index % 2 === 0 ? 'BestEffort' : 'Burstable';
    return {
      pod: runtime.sandbox.newPod({ name: `storm-${index}`, namespace: 'default', qos }),
      container: qos === 'Guaranteed' ? guaranteed : qos === 'BestEffort' ? { name: 'app' } : shared,
    };
  });

  const created: string[] = [];
  let firstCreated: () => void = () => undefined;
  const someCreated = new Promise<void>((resolve) => {
    firstCreated = resolve;
  });
  const outcomes = storm.map(async ({ pod, container }) => {
    const running = await runPod(runtime.proxied, pod);
    const id = await runContainer(runtime.proxied, running, container, busyboxImage);
    created.push(id);
    firstCreated();
    return id;
  });
  await Promise.race([someCreated, Promise.allSettled(outcomes)]);
  const killedPid = runtime.daemon.pid;
  await runtime.daemon.kill();
  const settled = await Promise.allSettled(outcomes);
  const failures = settled.filter((outcome) => outcome.status === 'rejected').map((outcome) => outcome.reason as unknown);
  t.comment(`${created.length} containers created before and during the kill, ${failures.length} calls failed`);
  for (const failure of failures) {
    if (isCriError(failure)) t.comment(`  ${grpc.status[failure.code]}: ${failure.details}`);
  }

  const daemon = await runtime.restartDaemon();
  t.not(daemon.pid, killedPid, 'the daemon restarted');
  const running = await readRunningContainers(runtime);
  const runningIds = new Set(running.map((container) => container.id));
  t.same(created.filter((id) => !runningIds.has(id)), [], 'every container the client saw created still runs');
  t.same(findDoubleAllocations(running), [], 'no CPU is held by an exclusive owner and anyone else');

  const status = await runCli(['status', '--json', '--control-socket', daemon.controlSocket]);
  t.equal(status.code, 0, 'status answers after the restart');
  t.same(
    running.map((container) => container.id).filter((id) => !status.stdout.includes(id)),
    [],
    'the restarted daemon knows every running container (adopted or checkpointed)',
  );

  // kubelet retries what failed, in the pod containerd already has or in a new one. Starts in
  // flight at the kill leave containers that end up exited (sometimes with their task still
  // running): kubelet stops and removes those, and creates the container again.
  const retryOnce = async ({ pod, container }: (typeof storm)[number]): Promise<string> => {
    const { items } = await runtime.direct.call<{ items: { id: string; state: string }[] }>('RuntimeService', 'ListPodSandbox', {
      filter: { label_selector: { 'io.kubernetes.pod.uid': pod.uid } },
    });
    const ready = items.find((item) => item.state === 'SANDBOX_READY');
    const runningPod = ready === undefined ? await runPod(runtime.proxied, pod) : { id: ready.id, spec: pod, config: formatPodSandboxConfig(pod) };
    const { containers } = await runtime.direct.call<{ containers: { id: string; state: string }[] }>('RuntimeService', 'ListContainers', {
      filter: { pod_sandbox_id: runningPod.id },
    });
    const running = containers.find((item) => item.state === 'CONTAINER_RUNNING');
    if (running !== undefined) return running.id;
    // kubelet does not wait for a dead container's removal before it creates the next one (its
    // garbage collector removes dead containers later): a start cut off by the kill can leave
    // containerd refusing the removal for a while ("cannot delete running task").
    for (const exited of containers.filter((item) => item.state === 'CONTAINER_EXITED')) {
      const removed = await removeContainer(runtime.proxied, exited.id).then(
        () => 'removed',
        (error: unknown) => `left for garbage collection (${isCriError(error) ? error.details : String(error)})`,
      );
      t.comment(`retry ${pod.name}: exited ${exited.id.slice(0, 12)} ${removed}`);
    }
    const created = containers.find((item) => item.state === 'CONTAINER_CREATED');
    if (created !== undefined) {
      await startContainer(runtime.proxied, created.id);
      t.comment(`retry ${pod.name}: started ${created.id.slice(0, 12)}, created before the kill`);
      return created.id;
    }
    // A dead container left to garbage collection still holds its name: kubelet names the new
    // one with the next attempt.
    const id = await runContainer(runtime.proxied, runningPod, { ...container, attempt: containers.length }, busyboxImage);
    t.comment(`retry ${pod.name}: created and started ${id.slice(0, 12)}${ready === undefined ? ' in a new pod' : ''}`);
    return id;
  };
  const retry = async (entry: (typeof storm)[number]): Promise<string> => {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await retryOnce(entry);
      } catch (error) {
        const exhausted = isCriError(error) && error.code === grpc.status.RESOURCE_EXHAUSTED;
        if (attempt === 40 || exhausted) throw error;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  };
  const retried = await Promise.allSettled(storm.map(retry));
  storm.forEach(({ pod }, index) => {
    const outcome = retried[index];
    if (pod.qos === 'Guaranteed') return;
    const reason = outcome?.status === 'rejected' ? `: ${String(outcome.reason)}` : '';
    t.equal(outcome?.status, 'fulfilled', `${pod.name} (${pod.qos}) runs after kubelet's retry${reason}`);
  });
  const after = await readRunningContainers(runtime);
  t.same(findDoubleAllocations(after), [], 'still no CPU given twice after the retries');
  const exclusive = after
    .filter((container) => container.guaranteed)
    .reduce((union, container) => union.union(container.cpus), CpuSet.empty);
  t.ok(exclusive.size < onlineCpus.size, `the shared pool kept CPUs (exclusive: ${exclusive.format() || 'none'})`);
  const view = await runCli(['status', '--json', '--control-socket', daemon.controlSocket]);
  const known = (JSON.parse(view.stdout || '{}') as { containers?: { id: string; cpus: string; phase: string }[] }).containers ?? [];
  for (const container of after.filter((item) => !item.guaranteed)) {
    const daemonView = known.find((item) => item.id === container.id);
    const says = daemonView === undefined ? 'unknown to the daemon' : `the daemon says ${daemonView.cpus} (${daemonView.phase})`;
    t.same(container.cpus.format(), onlineCpus.difference(exclusive).format(), `shared container ${container.id.slice(0, 12)} runs on the whole shared pool (${says})`);
  }
});

t.test('a containerd restart is survived', { skip: skip ?? false }, async (t) => {
  t.setTimeout(60_000);
  const daemonPid = runtime.daemon.pid;
  await runtime.sandbox.stop();
  const down = await runtime.proxied.call('RuntimeService', 'Version', { version: 'v1' }).then(
    () => null,
    (error: unknown) => error,
  );
  t.ok(isCriError(down) && down.code === grpc.status.UNAVAILABLE, `calls fail with UNAVAILABLE meanwhile (${isCriError(down) ? down.details : String(down)})`);
  t.ok(isCriError(down) && down.details !== '', 'with a message');

  await runtime.sandbox.start();
  await waitUntil(
    () => runtime.proxied.call('RuntimeService', 'Version', { version: 'v1' }),
    (version) => version['runtime_name'] === 'containerd',
    10_000,
    100,
  );
  t.equal(runtime.daemon.pid, daemonPid, 'the same daemon serves again once containerd is back');
  const pod = await runPod(runtime.proxied, runtime.sandbox.newPod({ name: 'after-restart', namespace: 'default', qos: 'Burstable' }));
  const id = await runContainer(runtime.proxied, pod, { name: 'app', cpuRequestMilli: 100 }, busyboxImage);
  t.ok(id, 'pods and containers are created through it as before');
  t.same(findDoubleAllocations(await readRunningContainers(runtime)), [], 'and placement is still consistent');
});
