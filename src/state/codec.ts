// The checkpoint's and the history's text forms, pure: snapshot ⇄ JSON. The checkpoint is
//   {"kind": "cri-rebalancer/state", "version": 1, "checksum": "sha256:<hex>", "payload": {...}}
// where the checksum covers the canonical (key-sorted) JSON of the payload, so a file edited or
// cut short is caught, and `kind` tells our file from anyone else's.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { memoized } from '../placement/memo.js';
import type { Allocation } from '../placement/types.js';
import { CpuSet } from '../topology/cpuset.js';
import { rebuildHint, type HistoryEntry, type SnapshotResult, type StateProblem, type StateSnapshot } from './types.js';

export const checkpointKind = 'cri-rebalancer/state';
export const checkpointVersion = 1;
export const historyKind = 'cri-rebalancer/history';
export const historyVersion = 1;

/**
 * JSON with object keys sorted at every level: the same data always gives the same text. Values
 * with a toJSON (CpuSet) are written as JSON.stringify would.
 */
export function canonicalJson(value: unknown): string {
  if (value !== null && typeof (value as { toJSON?: unknown }).toJSON === 'function') return canonicalJson((value as { toJSON(): unknown }).toJSON());
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, item]) => item !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
}

/**
 * Records (allocations, containers, pods) are immutable: each one's canonical JSON is made once,
 * so a checkpoint costs a join of the records rather than a walk of every field of every record
 * (measured for 110 containers: 2.2 ms a checkpoint before, on the path of every create).
 */
const recordJson = new WeakMap<object, string>();

function canonicalRecord(record: object): string {
  return memoized(recordJson, record, () => canonicalJson(record));
}

function checksumOfText(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

export function checksumOf(payload: unknown): string {
  return checksumOfText(canonicalJson(payload));
}

const cpulist = z.string().transform((text, context) => {
  try {
    return CpuSet.parse(text);
  } catch (error) {
    context.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});
const qos = z.enum(['Guaranteed', 'Burstable', 'BestEffort']);
const pool = z.enum(['reserved', 'exclusive', 'isolated', 'shared']);
const annotations = z.record(z.string(), z.string());

const requestSchema = z.object({
  pod: z.string(),
  namespace: z.string(),
  container: z.string(),
  qos,
  cpuRequestMilli: z.number().int().nonnegative(),
  cpuLimitMilli: z.number().int().nonnegative().nullable(),
  memoryLimitBytes: z.number().int().nonnegative().nullable(),
  annotations,
});

const allocationSchema = z.object({
  id: z.string().min(1),
  request: requestSchema,
  cpus: cpulist,
  mems: cpulist,
  pool,
  exclusive: z.boolean(),
  reasons: z.array(z.string()),
  /** A shared container pinned to one node's shared CPUs keeps that node across a restart. */
  pinnedNode: z.number().int().nonnegative().optional(),
});

const payloadSchema = z.object({
  allocations: z.array(allocationSchema),
  containers: z.array(
    z.object({ id: z.string().min(1), sandboxId: z.string().nullable(), name: z.string(), phase: z.enum(['pending', 'created']), since: z.string() }),
  ),
  pods: z.array(
    z.object({
      id: z.string().min(1),
      namespace: z.string(),
      name: z.string(),
      uid: z.string(),
      annotations,
      qos: qos.nullable(),
      cgroupParent: z.string(),
    }),
  ),
});

const historyEntrySchema = z.object({
  at: z.string(),
  container: z.string(),
  action: z.enum(['admit', 'adopt', 'bind', 'update', 'move', 'release']),
  cpus: cpulist,
  mems: cpulist,
  pool,
  reasons: z.array(z.string()),
});

const historySchema = z.object({ kind: z.literal(historyKind), version: z.literal(historyVersion), entries: z.array(historyEntrySchema) });

const envelopeSchema = z.object({ kind: z.string(), version: z.number(), checksum: z.string(), payload: z.unknown() });

function byId<T extends { id: string }>(a: T, b: T): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * The checkpoint text in one pass (it is written before every create is forwarded): the payload's
 * canonical JSON is both what the checksum covers and what the file holds, so parsing the file
 * and checking its checksum sees the very same text. One line; `jq .` shows it to a person.
 */
export function formatCheckpoint(snapshot: StateSnapshot): string {
  const list = (records: Iterable<{ readonly id: string }>): string => `[${[...records].sort(byId).map(canonicalRecord).join(',')}]`;
  // Exactly canonicalJson({allocations, containers, pods}): the keys in order, the records joined.
  const payload = `{"allocations":${list(snapshot.allocations.values())},"containers":${list(snapshot.containers.values())},"pods":${list(snapshot.pods.values())}}`;
  const checksum = checksumOfText(payload);
  return `{"kind":${JSON.stringify(checkpointKind)},"version":${checkpointVersion},"checksum":${JSON.stringify(checksum)},"payload":${payload}}\n`;
}

function problem(code: StateProblem['code'], message: string): SnapshotResult {
  return { ok: false, problem: { code, message } };
}

/** Parses a checkpoint; `source` (the file's path) goes into every message. */
export function parseCheckpoint(text: string, source: string): SnapshotResult {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return problem('corrupt', `state checkpoint ${source} is not valid JSON (${(error as Error).message}): it is corrupt; ${rebuildHint}`);
  }
  const envelope = envelopeSchema.safeParse(json);
  if (!envelope.success || envelope.data.kind !== checkpointKind) {
    return problem(
      'foreign',
      `${source} is not a cri-rebalancer state checkpoint (no "kind": "${checkpointKind}"): point --state-dir at the daemon's own directory, or move the file away and ${rebuildHint}`,
    );
  }
  if (envelope.data.version !== checkpointVersion) {
    return problem(
      'unsupported-version',
      `state checkpoint ${source} has version ${envelope.data.version}; this cri-rebalancer reads version ${checkpointVersion}: run the version that wrote it, or ${rebuildHint}`,
    );
  }
  if (checksumOf(envelope.data.payload) !== envelope.data.checksum) {
    return problem('checksum-mismatch', `state checkpoint ${source} fails its checksum: it was changed or damaged after it was written; ${rebuildHint}`);
  }
  const payload = payloadSchema.safeParse(envelope.data.payload);
  if (!payload.success) {
    const first = payload.error.issues[0];
    const where = first === undefined ? '' : ` at ${first.path.join('.')}: ${first.message}`;
    return problem('corrupt', `state checkpoint ${source} has a valid checksum but an invalid payload${where}; ${rebuildHint}`);
  }
  const data = payload.data;
  const allocations = new Map<string, Allocation>(data.allocations.map((allocation) => [allocation.id, allocation]));
  return {
    ok: true,
    snapshot: {
      allocations,
      containers: new Map(data.containers.map((record) => [record.id, record])),
      pods: new Map(data.pods.map((pod) => [pod.id, pod])),
      history: [],
    },
  };
}

/**
 * The history `explain` tells, in a file of its own: it is written after the fact (see
 * AllocationStore.saveHistory), so the checkpoint written before every create holds only what
 * placement needs and stays small.
 */
export function formatHistory(history: readonly HistoryEntry[]): string {
  return `${JSON.stringify({ kind: historyKind, version: historyVersion, entries: history })}\n`;
}

export type HistoryResult = { readonly ok: true; readonly history: readonly HistoryEntry[] } | { readonly ok: false; readonly message: string };

export function parseHistory(text: string, source: string): HistoryResult {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { ok: false, message: `history file ${source} is not valid JSON (${(error as Error).message})` };
  }
  const parsed = historySchema.safeParse(json);
  if (!parsed.success) return { ok: false, message: `${source} is not a cri-rebalancer history file of version ${historyVersion}` };
  return { ok: true, history: parsed.data.entries };
}
