// `npm run bench:checkpoint`: what the checkpoint written before every create costs as a node
// fills up (1, 30 and 110 containers with their pods), each half against its baseline in the same
// run, interleaved, with a pause between calls so the code runs as it does between two creates:
// - formatting: the checkpoint of a snapshot with one new container (the state at a create) from
//   the records' cached JSON, against walking every record (canonicalJson of the whole payload);
// - writing, on a disk directory: the addon's one-call replace through its spare (what the
//   daemon does), against a new temp file renamed over the old checkpoint, both in one addon
//   call (a new spare name each time, and the old checkpoint it is left holding unlinked at once,
//   as the rename over it would) and through node:fs step by step.
// The last line of output is one JSON object.
import { unlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { withAdmission, withPod } from '../src/state/changes.js';
import { loadAddon, type NativeAddon } from '../src/monitor/addon.js';
import { replaceFileStepwise, replaceThroughSpare } from '../src/state/checkpoint-file.js';
import { canonicalJson, checkpointKind, checkpointVersion, checksumOf, formatCheckpoint } from '../src/state/codec.js';
import { emptySnapshot, type StateSnapshot } from '../src/state/types.js';
import { daemonParts } from '../test/helpers/daemon-fakes.js';
import { median } from '../src/metrics/percentile.js';

const containerCounts = [1, 30, 110];
const samples = 40;
const pauseMs = 10;
const at = '2026-11-28T10:00:00.000Z';
const engine = daemonParts().engine;

/** A node's state with `count` Burstable containers, each in a pod of its own, as kubelet creates them. */
function admit(snapshot: StateSnapshot, index: number): StateSnapshot {
  const sandboxId = `5${index.toString(16).padStart(63, '0')}`;
  const withItsPod = withPod(snapshot, {
    id: sandboxId,
    namespace: 'default',
    name: `pod-${index}`,
    uid: `9f3c1a2e-${index}-4b7d-8e21-6f0a5c3d2b1e`,
    annotations: { 'kubernetes.io/config.seen': at, 'kubernetes.io/config.source': 'api' },
    qos: 'Burstable',
    cgroupParent: `/kubepods/burstable/pod9f3c1a2e-${index}`,
  });
  const request = { pod: `pod-${index}`, namespace: 'default', container: 'app', qos: 'Burstable' as const, cpuRequestMilli: 250, cpuLimitMilli: 1000, memoryLimitBytes: 256 << 20, annotations: {} };
  const id = `c${index.toString(16).padStart(63, '0')}`;
  const placed = engine.place(withItsPod.allocations, id, request);
  if (!placed.ok) throw new Error(`cannot place container ${index}: ${placed.rejection.message}`);
  return withAdmission(withItsPod, { ...placed.decision, container: { id, sandboxId, name: 'app', phase: 'created', since: at }, action: 'admit', at });
}

/** The checkpoint as it was written before records' JSON was kept: every field of every record, every time. */
function formatWalkingEveryRecord(snapshot: StateSnapshot): string {
  const byId = <T extends { id: string }>(records: Iterable<T>): T[] => [...records].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const payload = { allocations: byId(snapshot.allocations.values()), containers: byId(snapshot.containers.values()), pods: byId(snapshot.pods.values()) };
  return `{"kind":${JSON.stringify(checkpointKind)},"version":${checkpointVersion},"checksum":${JSON.stringify(checksumOf(payload))},"payload":${canonicalJson(payload)}}\n`;
}

const pause = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, pauseMs));

function timeMs(work: () => unknown): number {
  const began = performance.now();
  work();
  return performance.now() - began;
}

async function timeAsyncMs(work: () => Promise<unknown>): Promise<number> {
  const began = performance.now();
  await work();
  return performance.now() - began;
}

const round = (value: number): number => Number(value.toFixed(3));

async function measure(count: number, dir: string, addon: NativeAddon) {
  const replace = replaceThroughSpare(addon);
  let node = emptySnapshot;
  for (let index = 0; index < count - 1; index++) node = admit(node, index);
  formatCheckpoint(node); // what the creates before this one left cached
  const format = { cached: [] as number[], walking: [] as number[] };
  const write = { throughSpare: [] as number[], newTempFile: [] as number[], stepwise: [] as number[] };
  let bytes = 0;
  for (let sample = 0; sample < samples; sample++) {
    const atCreate = admit(node, count - 1 + sample);
    let text = '';
    await pause();
    format.cached.push(timeMs(() => (text = formatCheckpoint(atCreate))));
    await pause();
    format.walking.push(timeMs(() => formatWalkingEveryRecord(atCreate)));
    bytes = text.length;
    const body = Buffer.from(text);
    const path = join(dir, 'state.json');
    await pause();
    write.throughSpare.push(await timeAsyncMs(() => replace(path, body, 0o600)));
    await pause();
    const newTemp = join(dir, `.new${sample}.tmp`);
    write.newTempFile.push(
      await timeAsyncMs(async () => {
        await addon.replaceFileDurably(path, newTemp, body, 0o600);
        unlinkSync(newTemp);
      }),
    );
    await pause();
    write.stepwise.push(await timeAsyncMs(() => replaceFileStepwise(path, body, 0o600)));
  }
  return {
    containers: count,
    checkpointBytes: bytes,
    formatMs: { cachedRecords: round(median(format.cached)), walkingEveryRecord: round(median(format.walking)) },
    writeMs: { addonThroughSpare: round(median(write.throughSpare)), addonNewTempFile: round(median(write.newTempFile)), nodeFsStepwise: round(median(write.stepwise)) },
  };
}

function addonOrReason(): NativeAddon | string {
  try {
    return loadAddon();
  } catch (error) {
    return (error as Error).message;
  }
}

const addon = addonOrReason();
if (typeof addon === 'string') {
  console.log(JSON.stringify({ benchmark: 'checkpoint', skipped: addon }));
} else {
  // A disk directory: /tmp may be a tmpfs, where a flush costs nothing.
  const dir = await mkdtemp(join('/var/tmp', 'cri-rebalancer-bench-checkpoint-'));
  try {
    const results = [];
    for (const count of containerCounts) {
      const result = await measure(count, dir, addon);
      const { addonThroughSpare, addonNewTempFile, nodeFsStepwise } = result.writeMs;
      console.log(
        `${count} containers (${result.checkpointBytes} bytes): format ${result.formatMs.cachedRecords} ms (every record walked: ${result.formatMs.walkingEveryRecord} ms); ` +
          `write ${addonThroughSpare} ms (new temp file: ${addonNewTempFile} ms; node:fs step by step: ${nodeFsStepwise} ms)`,
      );
      results.push(result);
    }
    console.log(JSON.stringify({ benchmark: 'checkpoint', samples, pauseMs, medians: results }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
