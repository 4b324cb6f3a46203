// Reads the guest suite's TAP (node:test's reporter): the top-level results, each with its
// directive and the YAML diagnostics that follow it, so the host can mirror them as its own.

export interface GuestResult {
  readonly name: string;
  readonly outcome: 'pass' | 'fail' | 'skip';
  readonly reason: string;
  readonly diagnostics: string;
}

const resultLine = /^(not ok|ok) \d+ - (.*?)(?: # (SKIP|TODO)\b ?(.*))?$/u;

export function parseGuestTap(text: string): GuestResult[] {
  const results: GuestResult[] = [];
  const lines = text.split(/\r?\n/u);
  lines.forEach((line, index) => {
    const match = resultLine.exec(line);
    if (!match) return;
    const [, status, name = '', directive, reason = ''] = match;
    // A result's YAML block follows it directly; indented lines elsewhere are the next test's subtests.
    const yaml: string[] = [];
    if (lines[index + 1] === '  ---') {
      for (let next = index + 1; next < lines.length; next += 1) {
        yaml.push(lines[next] ?? '');
        if (lines[next] === '  ...') break;
      }
    }
    const outcome = directive !== undefined ? 'skip' : status === 'ok' ? 'pass' : 'fail';
    results.push({ name: name.replaceAll('\\#', '#'), outcome, reason, diagnostics: yaml.join('\n') });
  });
  return results;
}
