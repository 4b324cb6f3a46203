// `status` and `explain` as a person reads them, pure: the same reports `--json` prints.
import { recentCallsPerMethod, type CallTimes } from '../metrics/call-times.js';
import type { ContainerRow, ExplainReport, StatusReport } from './report.js';

const shortIdLength = 13;

function shortId(id: string): string {
  return id.length > shortIdLength ? id.slice(0, shortIdLength) : id;
}

function nameOf(row: ContainerRow): string {
  return `${row.namespace}/${row.pod}/${row.container}`;
}

function table(rows: readonly (readonly string[])[], indent = '  '): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => `${indent}${row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ')}`.trimEnd());
}

export function formatStatus(report: StatusReport): string {
  const names = new Map(report.containers.map((row) => [row.id, `${nameOf(row)} (${shortId(row.id)})`]));
  const lines = [
    `CPUs online: ${report.online || 'none'}; offline: ${report.offline || 'none'}; pods known: ${report.pods}; state: ${report.checkpoint}`,
    '',
    'CPU owners:',
    ...table((['reserved', 'isolated', 'exclusive', 'shared', 'free'] as const).map((kind) => [kind, report.pools[kind] || '-'])),
  ];
  for (const node of report.nodes) {
    const rows = report.cpus.filter((row) => row.node === node.id);
    if (rows.length === 0) continue;
    lines.push('', `node ${node.id} (CPUs ${node.cpus}):`);
    lines.push(
      ...table(
        rows.map((row) => [
          `cpu ${row.cpu}`,
          `core ${row.core}`,
          row.owner,
          row.container === undefined ? '' : (names.get(row.container) ?? row.container),
        ]),
      ),
    );
  }
  lines.push('', `containers (${report.containers.length}):`);
  if (report.containers.length > 0) {
    lines.push(
      ...table([
        ['NAME', 'ID', 'QOS', 'POOL', 'CPUS', 'MEMS'],
        ...report.containers.map((row) => [nameOf(row), row.phase === 'pending' ? 'creating' : shortId(row.id), row.qos, row.pool, row.cpus, row.mems]),
      ]),
    );
    for (const row of report.containers) {
      lines.push(`  ${nameOf(row)}:`, ...row.reasons.map((reason) => `    - ${reason}`));
    }
  }
  lines.push('', ...formatCallTimes(report.calls));
  return `${lines.join('\n')}\n`;
}

function milliseconds(value: number | null): string {
  return value === null ? '-' : `${value.toFixed(2)} ms`;
}

function formatCallTimes(calls: readonly CallTimes[]): string[] {
  if (calls.length === 0) return ['CRI calls: none since start'];
  return [
    `CRI calls since start (times: median and p99 of each method's last ${recentCallsPerMethod} calls):`,
    ...table([
      ['METHOD', 'CALLS', 'ERRORS', 'IN CRI-REBALANCER', 'P99', 'IN THE RUNTIME'],
      ...calls.map((row) => [row.method, String(row.calls), String(row.errors), milliseconds(row.daemonP50Ms), milliseconds(row.daemonP99Ms), milliseconds(row.runtimeP50Ms)]),
    ]),
  ];
}

export function formatExplain(report: ExplainReport): string {
  const current = report.current;
  const lines =
    current === null
      ? [`container ${report.id}: released (no longer holds CPUs)`]
      : [
          `container ${report.id}: ${nameOf(current)}`,
          `  now: ${current.pool} on CPUs ${current.cpus}, memory nodes ${current.mems} (${current.qos}${current.exclusive ? ', exclusive' : ''})`,
          '  why:',
          ...current.reasons.map((reason) => `    - ${reason}`),
        ];
  lines.push('  history:');
  if (report.history.length === 0) lines.push('    (none recorded)');
  for (const entry of report.history) {
    lines.push(`    ${entry.at}  ${entry.action.padEnd(7)}  ${entry.pool.padEnd(9)}  CPUs ${entry.cpus}  mems ${entry.mems}`);
    lines.push(...entry.reasons.map((reason) => `        - ${reason}`));
  }
  return `${lines.join('\n')}\n`;
}
