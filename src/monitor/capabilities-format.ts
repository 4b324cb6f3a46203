// The readable table of `cri-rebalancer capabilities`: one line per capability, yes/no, and why.
import type { Capabilities, Capability } from './capabilities.js';

/** The readable table `cri-rebalancer capabilities` prints. */
export function formatCapabilities(capabilities: Capabilities): string {
  const rows: [string, Capability, string?][] = [
    ['native addon', capabilities.addon],
    ['hardware events', capabilities.hardwareEvents, capabilities.hardwareEvents.dramGeneration],
    ...Object.entries(capabilities.hardwareEvents.events).map(([name, event]): [string, Capability, string?] => [`  ${name}`, event, event.source]),
    ['software events', capabilities.softwareEvents],
    ...Object.entries(capabilities.softwareEvents.events).map(([name, event]): [string, Capability, string?] => [`  ${name}`, event, event.source]),
    ['per-cgroup counting', capabilities.perCgroupCounting, capabilities.perCgroupCounting.cgroup2Root],
    ['eBPF NUMA events', capabilities.ebpf, capabilities.ebpf.available ? `keyed by ${capabilities.ebpf.keying} cgroup; ${capabilities.ebpf.attached.join(', ')}` : undefined],
    ...capabilities.ebpf.skipped.map((skip): [string, Capability] => ['  skipped', { available: false, reason: skip }]),
    ['resctrl bandwidth', capabilities.resctrl],
    ['page migration', capabilities.pageMigration, `${capabilities.pageMigration.nodes} NUMA node(s)`],
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  const { cpu } = capabilities;
  const lines = [`CPU: ${cpu.modelName} (${cpu.vendor}, family ${cpu.family}, model ${cpu.model})`];
  for (const [name, capability, detail] of rows) {
    const mark = capability.available ? 'yes' : 'no ';
    const text = [detail, capability.reason].filter((part) => part !== undefined && part !== '').join(' — ');
    lines.push(`${name.padEnd(width)}  ${mark}  ${text}`.trimEnd());
  }
  return `${lines.join('\n')}\n`;
}
