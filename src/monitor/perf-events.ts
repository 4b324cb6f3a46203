// The perf events the daemon counts and their encodings on this CPU: generic software and
// hardware events everywhere, and the local/remote DRAM load events from a table per CPU vendor
// and model (raw encodings differ between vendors and, for Intel, between server generations).
import type { NativeEventSpec } from './addon.js';

export const softwareEventNames = ['task-clock', 'cpu-migrations', 'context-switches', 'page-faults'] as const;
export const hardwareEventNames = ['cycles', 'instructions', 'llc-misses', 'local-dram', 'remote-dram', 'remote-dram-offcore'] as const;
export type SoftwareEventName = (typeof softwareEventNames)[number];
export type HardwareEventName = (typeof hardwareEventNames)[number];
export type EventName = SoftwareEventName | HardwareEventName;

export interface CpuIdentity {
  readonly vendor: 'intel' | 'amd' | 'arm' | 'other';
  readonly family: number;
  readonly model: number;
  readonly modelName: string;
}

export interface EventEncoding extends NativeEventSpec {
  readonly name: EventName;
  /** Where the encoding comes from, e.g. "MEM_LOAD_L3_MISS_RETIRED.REMOTE_DRAM (0xD3/0x02)". */
  readonly source: string;
}

// perf_event_attr.type values (linux/perf_event.h).
const typeHardware = 0;
const typeSoftware = 1;
const typeRaw = 4;

const generic: Record<Exclude<EventName, DramEventName>, { type: number; config: number; source: string }> = {
  'task-clock': { type: typeSoftware, config: 1, source: 'PERF_COUNT_SW_TASK_CLOCK' },
  'page-faults': { type: typeSoftware, config: 2, source: 'PERF_COUNT_SW_PAGE_FAULTS' },
  'context-switches': { type: typeSoftware, config: 3, source: 'PERF_COUNT_SW_CONTEXT_SWITCHES' },
  'cpu-migrations': { type: typeSoftware, config: 4, source: 'PERF_COUNT_SW_CPU_MIGRATIONS' },
  cycles: { type: typeHardware, config: 0, source: 'PERF_COUNT_HW_CPU_CYCLES' },
  instructions: { type: typeHardware, config: 1, source: 'PERF_COUNT_HW_INSTRUCTIONS' },
  'llc-misses': { type: typeHardware, config: 3, source: 'PERF_COUNT_HW_CACHE_MISSES' },
};

type DramEventName = 'local-dram' | 'remote-dram' | 'remote-dram-offcore';

interface RawEvent {
  readonly event: number;
  readonly umask: number;
  /** The OFFCORE_RESPONSE request/response mask (perf_event_attr.config1). */
  readonly config1?: bigint;
  readonly name: string;
}

interface DramRow {
  readonly matches: (cpu: CpuIdentity) => boolean;
  readonly generation: string;
  readonly local?: RawEvent;
  readonly remote: RawEvent;
  /** Intel's OFFCORE_RESPONSE remote-DRAM encoding: all demand data reads, not only retired loads. */
  readonly offcoreRemote?: RawEvent;
}

const xeonScalableLocal: RawEvent = { event: 0xd3, umask: 0x01, name: 'MEM_LOAD_L3_MISS_RETIRED.LOCAL_DRAM' };
const xeonScalableRemote: RawEvent = { event: 0xd3, umask: 0x02, name: 'MEM_LOAD_L3_MISS_RETIRED.REMOTE_DRAM' };

const intelModels = (...models: number[]) => (cpu: CpuIdentity) => cpu.vendor === 'intel' && cpu.family === 6 && models.includes(cpu.model);

/**
 * Demand-load DRAM events by CPU. Rows are checked in order; the first match wins.
 * Intel: retired loads that missed L3 and were served by local/remote DRAM.
 * AMD Zen: demand data-cache fills from DRAM of this node ("near") or another ("far").
 * Arm PMUv3: REMOTE_ACCESS only (no local-DRAM event is architected).
 */
const dramTable: readonly DramRow[] = [
  {
    matches: intelModels(0x3f, 0x4f, 0x56),
    generation: 'Intel Haswell-EP/Broadwell-EP',
    local: { event: 0xd3, umask: 0x01, name: 'MEM_LOAD_UOPS_L3_MISS_RETIRED.LOCAL_DRAM' },
    remote: { event: 0xd3, umask: 0x04, name: 'MEM_LOAD_UOPS_L3_MISS_RETIRED.REMOTE_DRAM' },
  },
  {
    matches: intelModels(0x55),
    generation: 'Intel Skylake-SP/Cascade Lake',
    local: xeonScalableLocal,
    remote: xeonScalableRemote,
    offcoreRemote: { event: 0xb7, umask: 0x01, config1: 0x638000001n, name: 'OFFCORE_RESPONSE.DEMAND_DATA_RD.L3_MISS.REMOTE_DRAM' },
  },
  {
    matches: intelModels(0x6a, 0x6c),
    generation: 'Intel Ice Lake-SP',
    local: xeonScalableLocal,
    remote: xeonScalableRemote,
    offcoreRemote: { event: 0xb7, umask: 0x01, config1: 0x730000001n, name: 'OCR.DEMAND_DATA_RD.REMOTE_DRAM' },
  },
  {
    matches: intelModels(0x8f, 0xcf, 0xad, 0xae),
    generation: 'Intel Sapphire/Emerald/Granite Rapids',
    local: xeonScalableLocal,
    remote: xeonScalableRemote,
    offcoreRemote: { event: 0x2a, umask: 0x01, config1: 0x730000001n, name: 'OCR.DEMAND_DATA_RD.REMOTE_DRAM' },
  },
  {
    matches: (cpu) => cpu.vendor === 'amd' && cpu.family >= 0x17,
    generation: 'AMD Zen',
    local: { event: 0x43, umask: 0x08, name: 'ls_dmnd_fills_from_sys.dram_io_near' },
    remote: { event: 0x43, umask: 0x40, name: 'ls_dmnd_fills_from_sys.dram_io_far' },
  },
  {
    matches: (cpu) => cpu.vendor === 'arm',
    generation: 'Arm PMUv3',
    remote: { event: 0x31, umask: 0, name: 'REMOTE_ACCESS' },
  },
];

/** x86 raw encoding: event select bits 0-7, umask 8-15; AMD's extended event bits 32-35. */
function rawConfig(event: number, umask: number): bigint {
  return BigInt(event & 0xff) | (BigInt(umask) << 8n) | (BigInt(event >> 8) << 32n);
}

export function parseCpuInfo(text: string): CpuIdentity {
  const field = (name: string): string | undefined =>
    new RegExp(`^${name}\\s*:\\s*(.*)$`, 'mu').exec(text)?.[1]?.trim();
  const vendorId = field('vendor_id');
  const implementer = field('CPU implementer');
  const vendor = vendorId === 'GenuineIntel' ? 'intel' : vendorId === 'AuthenticAMD' ? 'amd' : implementer !== undefined ? 'arm' : 'other';
  return {
    vendor,
    family: Number(field('cpu family') ?? field('CPU architecture') ?? 0),
    model: Number(field('model') ?? field('CPU part') ?? 0),
    modelName: field('model name') ?? field('Hardware') ?? 'unknown',
  };
}

export type EncodingPlan = {
  readonly encodings: ReadonlyMap<EventName, EventEncoding>;
  /** Events with no encoding on this CPU, with why. */
  readonly missing: ReadonlyMap<EventName, string>;
  /** The DRAM table row used, when one matched. */
  readonly dramGeneration?: string;
};

export function planEventEncodings(cpu: CpuIdentity): EncodingPlan {
  const encodings = new Map<EventName, EventEncoding>();
  const missing = new Map<EventName, string>();
  for (const [name, { type, config, source }] of Object.entries(generic)) {
    encodings.set(name as EventName, { name: name as EventName, type, config: BigInt(config), source });
  }
  const row = dramTable.find((candidate) => candidate.matches(cpu));
  const cpuText = `${cpu.vendor} family ${cpu.family} model ${cpu.model} (${cpu.modelName})`;
  if (row === undefined) {
    const why = `no DRAM locality event is known for ${cpuText}`;
    for (const name of ['local-dram', 'remote-dram', 'remote-dram-offcore'] as const) missing.set(name, why);
    return { encodings, missing };
  }
  const add = (name: DramEventName, event: RawEvent | undefined) => {
    if (event === undefined) {
      missing.set(name, `${row.generation} has no ${name} event`);
      return;
    }
    const source = `${event.name} (event 0x${event.event.toString(16)}, umask 0x${event.umask.toString(16)}${event.config1 === undefined ? '' : `, config1 0x${event.config1.toString(16)}`})`;
    const config1 = event.config1 === undefined ? {} : { config1: event.config1 };
    encodings.set(name, { name, type: typeRaw, config: rawConfig(event.event, event.umask), ...config1, source });
  };
  add('local-dram', row.local);
  add('remote-dram', row.remote);
  add('remote-dram-offcore', row.offcoreRemote);
  return { encodings, missing, dramGeneration: row.generation };
}
