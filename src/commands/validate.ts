// `cri-rebalancer validate [--print] [--json] FILE`: checks a policy file without starting
// anything. Exit 0: valid; 1: invalid (every error as FILE:LINE:COL: message); 2: bad usage.
import { parseArgs } from 'node:util';
import type { Command } from '../cli.js';
import { formatPolicyDocument, formatPolicyYaml } from '../config/format.js';
import { formatPolicyErrors, loadPolicyFile } from '../config/load.js';

const usage = `usage: cri-rebalancer validate [--print] [--json] FILE

Checks a policy file: unknown keys, wrong types and values, conflicting keys. Exits 0 when the
file is valid, 1 with every error as FILE:LINE:COL: message. An empty file is the default policy.

options:
  --print  also print the effective policy, every default filled in, as YAML
  --json   print {"file", "valid", "errors": [{source, line, column, path, message}]} as JSON
           (with "policy" under --print)`;

export const command: Command = {
  usage,
  async run(args) {
    const fail = (problem: string): number => {
      process.stderr.write(`cri-rebalancer validate: ${problem}\n\n${usage}\n`);
      return 2;
    };
    let parsed: { values: { print: boolean; json: boolean }; positionals: string[] };
    try {
      parsed = parseArgs({
        args: [...args],
        options: { print: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } },
        strict: true,
        allowPositionals: true,
      });
    } catch (error) {
      return fail((error as Error).message);
    }
    const [file, ...extra] = parsed.positionals;
    if (file === undefined) return fail('no policy file given');
    if (extra.length > 0) return fail('give one policy file');
    const { print, json } = parsed.values;
    const result = await loadPolicyFile(file);
    if (json) {
      const report = {
        file,
        valid: result.ok,
        errors: result.ok ? [] : result.errors,
        ...(print ? { policy: result.ok ? formatPolicyDocument(result.policy) : null } : {}),
      };
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else if (!result.ok) {
      process.stderr.write(`${formatPolicyErrors(result.errors)}\n`);
    } else {
      process.stdout.write(print ? `# ${file}: valid; the effective policy, defaults filled in\n${formatPolicyYaml(result.policy)}` : `${file}: valid\n`);
    }
    return result.ok ? 0 : 1;
  },
};
