// The harness itself, straight against a real containerd + runc (no daemon): it starts fast, the
// images it builds run, a cpuset sent over CRI lands in the real cgroup and the process's
// affinity, and destroying the sandbox leaves nothing behind.
import t from 'tap';
import { availableParallelism } from 'node:os';
import { readCgroupCpuset, readProcessAffinity } from './harness/cgroups.js';
import { startContainerdSandbox } from './harness/containerd-sandbox.js';
import { findContainerdPrerequisites } from './harness/prerequisites.js';
import { busyboxImage, pauseImage } from './images/test-images.js';
import {
  CriTestClient,
  readContainerRuntimeInfo,
  removeContainer,
  removePod,
  runContainer,
  runPod,
} from '../helpers/cri-test-client.js';
import { repoRoot } from '../helpers/paths.js';

t.setTimeout(300_000);
const skip = await findContainerdPrerequisites(repoRoot);

t.test('a containerd sandbox runs kubelet-style pods over CRI and leaves nothing behind', { skip: skip ?? false }, async (t) => {
  const began = performance.now();
  const sandbox = await startContainerdSandbox({ repoRoot });
  t.teardown(() => sandbox.destroy());
  t.comment(`sandbox ready in ${Math.round(performance.now() - began)} ms (containerd ${Math.round(sandbox.startMs)} ms)`);
  t.ok(sandbox.startMs < 1000, `containerd starts in under 1 s (${Math.round(sandbox.startMs)} ms)`);

  const client = new CriTestClient(sandbox.socket, repoRoot);
  t.teardown(() => client.close());

  const version = await client.call('RuntimeService', 'Version', { version: 'v1' });
  t.match(version, { runtime_name: 'containerd', runtime_api_version: 'v1' });

  const images = await client.call<{ images: { repo_tags: string[] }[] }>('ImageService', 'ListImages');
  const tags = images.images.flatMap((image) => image.repo_tags);
  t.ok(tags.includes(busyboxImage) && tags.includes(pauseImage), `imported images are visible to CRI: ${tags.join(', ')}`);

  const timed = async <T>(label: string, action: () => Promise<T>): Promise<T> => {
    const start = performance.now();
    const result = await action();
    t.comment(`${label}: ${Math.round(performance.now() - start)} ms`);
    return result;
  };

  const pod = await timed('RunPodSandbox', () =>
    runPod(client, sandbox.newPod({ name: 'smoke', namespace: 'default', qos: 'Burstable' })),
  );
  const containerId = await timed('CreateContainer+StartContainer', () =>
    runContainer(client, pod, { name: 'work', cpuRequestMilli: 100, cpusetCpus: '0' }, busyboxImage),
  );
  const info = await readContainerRuntimeInfo(client, containerId);
  t.equal(info.cgroupPath, `${sandbox.cgroupRoot}/kubepods/burstable/pod${pod.spec.uid}/${containerId}`, 'kubelet-style cgroup path');
  t.equal(readCgroupCpuset(info.cgroupPath).cpus, '0', 'cpuset_cpus lands in the cgroup cpuset.cpus');
  t.equal(readProcessAffinity(info.pid).cpus, '0', 'and in /proc/PID/status Cpus_allowed_list');
  t.equal(info.resources['cpu_shares'], 102, 'cpu_shares as kubelet encodes 100m');

  if (availableParallelism() >= 2) {
    await timed('UpdateContainerResources', () =>
      client.call('RuntimeService', 'UpdateContainerResources', {
        container_id: containerId,
        linux: { cpuset_cpus: '1' },
      }),
    );
    t.equal(readCgroupCpuset(info.cgroupPath).cpus, '1', 'a live cpuset update changes the cgroup');
    t.equal(readProcessAffinity(info.pid).cpus, '1', 'and the running process');
  }

  const exec = await client.call<{ stdout: Buffer; exit_code: number }>('RuntimeService', 'ExecSync', {
    container_id: containerId,
    cmd: ['cat', '/proc/self/status'],
    timeout: 10,
  });
  t.equal(exec.exit_code, 0, 'ExecSync runs in the busybox image');
  t.match(exec.stdout.toString(), /Cpus_allowed_list:\s+1?/u);

  await timed('StopContainer+RemoveContainer', () => removeContainer(client, containerId));
  await timed('StopPodSandbox+RemovePodSandbox', () => removePod(client, pod.id));
  const containers = await client.call<{ containers: unknown[] }>('RuntimeService', 'ListContainers');
  t.same(containers.containers, [], 'no containers left in the runtime');

  client.close();
  await sandbox.destroy();
  t.same(await sandbox.findLeftovers(), [], 'no process, mount, pod cgroup or directory is left');
});

t.test('a sandbox is removed even while its pods run, and survives a restart of containerd', { skip: skip ?? false }, async (t) => {
  const sandbox = await startContainerdSandbox({ repoRoot });
  t.teardown(() => sandbox.destroy());
  const client = new CriTestClient(sandbox.socket, repoRoot);
  t.teardown(() => client.close());

  const pod = await runPod(client, sandbox.newPod({ name: 'left-running', namespace: 'default', qos: 'BestEffort' }));
  const containerId = await runContainer(client, pod, { name: 'work' }, busyboxImage);
  const { pid } = await readContainerRuntimeInfo(client, containerId);

  const oldPid = sandbox.pid;
  await sandbox.stop();
  await sandbox.start();
  t.not(sandbox.pid, oldPid, 'containerd was restarted');
  const status = await client.call<{ status: { state: string } }>('RuntimeService', 'ContainerStatus', { container_id: containerId });
  t.equal(status.status.state, 'CONTAINER_RUNNING', 'the container kept running across the restart');

  client.close();
  await sandbox.destroy();
  t.same(await sandbox.findLeftovers(), [], 'nothing is left though the pod was never removed');
  t.throws(() => readProcessAffinity(pid), 'the container process is gone');
});
