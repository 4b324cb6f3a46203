// `npm run demo`: cri-rebalancer in front of a real containerd, on this machine, in a minute.
// Installs what it needs (Debian packages as root, npm packages), starts a throwaway containerd
// sandbox and the daemon in front of it (the integration tests' harness, run from source through
// tsx), creates one pod of each QoS class through the proxy as kubelet would, prints
// `cri-rebalancer status` and the real cgroup cpuset of every container, then removes everything.
import { readFileSync } from 'node:fs';
import { installDebianPackages, installNpmPackages } from './setup.mjs';

const gib = 1024 ** 3;

function fail(message) {
  console.error(`demo: ${message}`);
  process.exit(1);
}

if (process.getuid?.() !== 0) fail('it runs containerd and writes cgroups: run it as root (sudo npm run demo)');
installDebianPackages(['runtime', 'native']);
installNpmPackages();

// Only now are the npm packages there: load tsx, then the harness from its TypeScript source.
const { register } = await import('tsx/esm/api');
register();
const repoRoot = process.cwd();
const { findContainerdPrerequisites } = await import('../test/integration/harness/prerequisites.ts');
const { startProxiedRuntime, demoPolicyPath } = await import('../test/integration/harness/proxied-runtime.ts');
const { readCgroupCpuset, readProcessAffinity } = await import('../test/integration/harness/cgroups.ts');
const { busyboxImage } = await import('../test/integration/images/test-images.ts');
const { readContainerRuntimeInfo, removePod, runContainer, runPod } = await import('../test/helpers/cri-test-client.ts');
const { findDaemonPrerequisites, runCli } = await import('../test/helpers/daemon-process.ts');

const missing = (await findContainerdPrerequisites(repoRoot)) ?? (await findDaemonPrerequisites());
if (missing !== null) fail(missing);

const online = readFileSync('/sys/devices/system/cpu/online', 'utf8').trim();
console.log(`Starting a throwaway containerd and cri-rebalancer in front of it (policy ${demoPolicyPath}, CPUs ${online}).`);
const runtime = await startProxiedRuntime({ repoRoot });
let cleaning = false;
const cleanUp = async () => {
  if (cleaning) return;
  cleaning = true;
  await runtime.destroy();
};
process.once('SIGINT', () => void cleanUp().then(() => process.exit(130)));

try {
  console.log(`containerd ${runtime.sandbox.socket} (ready in ${Math.round(runtime.sandbox.startMs)} ms)`);
  console.log(`cri-rebalancer ${runtime.daemon.socket} (pid ${runtime.daemon.pid}): kubelet's --container-runtime-endpoint\n`);

  const pods = [
    { name: 'database', namespace: 'default', qos: 'Guaranteed', container: { name: 'postgres', cpuRequestMilli: 1000, cpuLimitMilli: 1000, memoryLimitBytes: gib / 4 } },
    { name: 'web', namespace: 'default', qos: 'Burstable', container: { name: 'nginx', cpuRequestMilli: 250, cpuLimitMilli: 1000 } },
    { name: 'batch', namespace: 'default', qos: 'BestEffort', container: { name: 'worker' } },
    { name: 'dns', namespace: 'kube-system', qos: 'Burstable', container: { name: 'coredns', cpuRequestMilli: 100 } },
  ];
  // Every container runs the busybox image the harness builds here (named like real workloads).
  const started = [];
  for (const { container, ...pod } of pods) {
    const began = performance.now();
    const running = await runPod(runtime.proxied, runtime.sandbox.newPod(pod));
    const id = await runContainer(runtime.proxied, running, container, busyboxImage);
    const limit = container.cpuLimitMilli === undefined ? 'no limit' : `limit ${container.cpuLimitMilli}m`;
    const cpu = container.cpuRequestMilli === undefined ? 'no CPU request or limit' : `CPU request ${container.cpuRequestMilli}m, ${limit}`;
    console.log(`created ${pod.namespace}/${pod.name}/${container.name} (${pod.qos}, ${cpu}) through the proxy in ${Math.round(performance.now() - began)} ms`);
    started.push({ pod: running, container, id });
  }

  console.log(`\n$ cri-rebalancer status --control-socket ${runtime.daemon.controlSocket}`);
  const status = await runCli(['status', '--control-socket', runtime.daemon.controlSocket]);
  console.log(status.code === 0 ? status.stdout : `status failed (${status.code}): ${status.stderr}`);

  console.log('What the kernel enforces (cgroup cpuset.cpus, and Cpus_allowed_list of the container process):');
  for (const { pod, container, id } of started) {
    const info = await readContainerRuntimeInfo(runtime.proxied, id);
    const cgroup = readCgroupCpuset(info.cgroupPath);
    const affinity = readProcessAffinity(info.pid);
    const name = `${pod.spec.namespace}/${pod.spec.name}/${container.name}`.padEnd(28);
    console.log(`  ${name} ${pod.spec.qos.padEnd(10)}  cpuset.cpus ${cgroup.cpus.padEnd(6)} mems ${cgroup.mems.padEnd(4)} pid ${String(info.pid).padEnd(8)} Cpus_allowed_list ${affinity.cpus}`);
  }

  console.log('\nRemoving the pods through the proxy (their CPUs go back to the pool).');
  for (const { pod } of started) await removePod(runtime.proxied, pod.id);
} finally {
  await cleanUp();
}
const leftovers = await runtime.sandbox.findLeftovers();
console.log(leftovers.length === 0 ? 'Cleaned up: no process, mount, cgroup or file of the demo is left.' : `Left behind:\n  ${leftovers.join('\n  ')}`);
console.log('\nNext: README.md explains a real deployment (kubelet flags, the systemd unit, state and logs).');
