// The harness itself, straight against a real containerd + runc (no daemon): it starts fast, the
// images it builds run, a cpuset sent over CRI lands in the real cgroup and the process's
// affinity, and destroying the sandbox leaves nothing behind, even when its test was killed.
import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import { cpusetCgroupDir, readCgroupCpuset, readProcessAffinity } from './harness/cgroups.js';
import { startContainerdSandbox } from './harness/containerd-sandbox.js';
import { findContainerdPrerequisites } from './harness/prerequisites.js';
import { listProcesses } from './harness/processes.js';
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

t.test('a sandbox whose test process was killed is removed by the next one', { skip: skip ?? false }, async (t) => {
  // A test process that starts a sandbox with a running pod, prints its directory, and is killed.
  const modules = {
    sandbox: new URL('./harness/containerd-sandbox.js', import.meta.url).href,
    client: new URL('../helpers/cri-test-client.js', import.meta.url).href,
  };
  const script = `
    const { startContainerdSandbox } = await import(${JSON.stringify(modules.sandbox)});
    const { CriTestClient, runContainer, runPod } = await import(${JSON.stringify(modules.client)});
    const sandbox = await startContainerdSandbox({ repoRoot: process.cwd() });
    const client = new CriTestClient(sandbox.socket, process.cwd());
    const pod = await runPod(client, sandbox.newPod({ name: 'orphan', namespace: 'default', qos: 'Burstable' }));
    await runContainer(client, pod, { name: 'app' }, ${JSON.stringify(busyboxImage)});
    console.log(sandbox.dir);
    setInterval(() => undefined, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout.setEncoding('utf8'), 'data')) as [string];
  const abandonedDir = line.trim();
  child.kill('SIGKILL');
  await once(child, 'exit');
  t.ok(existsSync(abandonedDir), `the killed process left its sandbox behind (${abandonedDir})`);

  const sandbox = await startContainerdSandbox({ repoRoot });
  t.teardown(() => sandbox.destroy());
  t.notOk(existsSync(abandonedDir), 'the next sandbox removed its directory');
  t.same(
    listProcesses().filter((info) => info.args.some((arg) => arg.startsWith(`${abandonedDir}/`))),
    [],
    'and its containerd, shims and containers',
  );
  t.notOk(existsSync(cpusetCgroupDir(`/${basename(abandonedDir)}`)), 'and its cgroups');
});
