// The benchmark's real-runtime half: CreateContainer+StartContainer through the proxy vs directly
// against a real containerd, interleaved, medians over N rounds each. Target (issue 3): at most
// 2% added time.
//   npm run bench:proxy-containerd   starts a throwaway containerd sandbox (the integration
//                                    harness) and the daemon in front of it; JSON on the last line
//   benchContainerd(context)         the same measurement over any two sockets whose containerd
//                                    has the harness's images (bench/proxy.ts --containerd)
import { randomBytes, randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { removeCgroupTree } from '../test/integration/harness/cgroups.js';
import { findContainerdPrerequisites } from '../test/integration/harness/prerequisites.js';
import { startProxiedRuntime } from '../test/integration/harness/proxied-runtime.js';
import { busyboxImage } from '../test/integration/images/test-images.js';
import { CriTestClient, removeContainer, removePod, runContainer, runPod, type RunningPod } from '../test/helpers/cri-test-client.js';
import { findDaemonPrerequisites } from '../test/helpers/daemon-process.js';
import { percentile } from './stats.js';

export interface ContainerdBenchContext {
  /** containerd's CRI socket. */
  readonly directSocket: string;
  /** The proxy's socket, forwarding to `directSocket`. */
  readonly proxiedSocket: string;
  /** Measured rounds per side (after `warmupRounds`). */
  readonly rounds?: number;
  readonly warmupRounds?: number;
}

export interface ContainerdBenchResult {
  readonly rounds: number;
  readonly directCreateStartP50Ms: number;
  readonly proxiedCreateStartP50Ms: number;
  /**
   * The median of the per-round differences (proxied - direct, measured back to back) over the
   * direct p50, in percent: pairing cancels most of a shared machine's drift.
   */
  readonly addedPercent: number;
  readonly addedP50Ms: number;
  readonly directCreateStartP90Ms: number;
  readonly proxiedCreateStartP90Ms: number;
  readonly targetAddedPercent: number;
  readonly meetsTarget: boolean;
}

const targetAddedPercent = 2;

function round(value: number, digits: number): number {
  return Number(value.toFixed(digits));
}

export async function benchContainerd(context: ContainerdBenchContext): Promise<ContainerdBenchResult> {
  const rounds = context.rounds ?? 20;
  const warmupRounds = context.warmupRounds ?? 2;
  const repoRoot = process.cwd();
  // The benchmark's pods under a cgroup root of their own (kubelet's --cgroup-root), removed after.
  const cgroupRoot = `/cri-rebalancer-bench-${randomBytes(4).toString('hex')}`;
  const sides = {
    direct: { client: new CriTestClient(context.directSocket, repoRoot), times: [] as number[], pod: null as RunningPod | null },
    proxied: { client: new CriTestClient(context.proxiedSocket, repoRoot), times: [] as number[], pod: null as RunningPod | null },
  };
  try {
    for (const [name, side] of Object.entries(sides)) {
      side.pod = await runPod(side.client, { name: `bench-${name}`, namespace: 'default', uid: randomUUID(), qos: 'Burstable', cgroupRoot });
    }
    for (let index = 0; index < warmupRounds + rounds; index += 1) {
      // Alternate which side goes first, so drift on a shared machine falls on both alike.
      const order = index % 2 === 0 ? [sides.direct, sides.proxied] : [sides.proxied, sides.direct];
      for (const side of order) {
        const pod = side.pod;
        if (pod === null) throw new Error('the benchmark pod did not start');
        const began = performance.now();
        const id = await runContainer(side.client, pod, { name: `bench-${index}`, cpuRequestMilli: 100 }, busyboxImage);
        const elapsedMs = performance.now() - began;
        if (index >= warmupRounds) side.times.push(elapsedMs);
        await removeContainer(side.client, id);
      }
    }
  } finally {
    for (const side of Object.values(sides)) {
      if (side.pod !== null) await removePod(side.client, side.pod.id).catch(() => undefined);
      side.client.close();
    }
    await removeCgroupTree(cgroupRoot);
  }
  const direct = percentile(sides.direct.times, 0.5);
  const proxied = percentile(sides.proxied.times, 0.5);
  const addedMs = percentile(
    sides.proxied.times.map((time, index) => time - (sides.direct.times[index] ?? Number.NaN)),
    0.5,
  );
  const addedPercent = round((addedMs / direct) * 100, 2);
  return {
    rounds,
    addedP50Ms: round(addedMs, 2),
    directCreateStartP50Ms: round(direct, 2),
    proxiedCreateStartP50Ms: round(proxied, 2),
    addedPercent,
    directCreateStartP90Ms: round(percentile(sides.direct.times, 0.9), 2),
    proxiedCreateStartP90Ms: round(percentile(sides.proxied.times, 0.9), 2),
    targetAddedPercent,
    meetsTarget: addedPercent <= targetAddedPercent,
  };
}

async function main(): Promise<void> {
  const repoRoot = process.cwd();
  const skipped = (await findContainerdPrerequisites(repoRoot)) ?? (await findDaemonPrerequisites());
  if (skipped !== null) {
    console.log(JSON.stringify({ benchmark: 'proxy-containerd', skipped }));
    return;
  }
  const roundsArg = process.argv.indexOf('--rounds');
  const rounds = roundsArg >= 0 ? Number(process.argv[roundsArg + 1]) : 20;
  const runtime = await startProxiedRuntime({ repoRoot });
  try {
    const result = await benchContainerd({ directSocket: runtime.sandbox.socket, proxiedSocket: runtime.daemon.socket, rounds });
    console.log(
      `create+start of a Burstable container, ${result.rounds} rounds each: direct p50 ${result.directCreateStartP50Ms} ms, ` +
        `through the daemon p50 ${result.proxiedCreateStartP50Ms} ms; added ${result.addedP50Ms} ms = ${result.addedPercent}% (target <= ${targetAddedPercent}%)`,
    );
    console.log(
      JSON.stringify({
        benchmark: 'proxy-containerd',
        runtime: 'containerd + runc (throwaway sandbox), host-network Burstable pod, busybox container',
        proxy: 'cri-rebalancer run (placement, checkpoint, relay) in a child process',
        ...result,
      }),
    );
  } finally {
    await runtime.destroy();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
