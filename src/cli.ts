// The command line: parses the command name and hands the rest to that command's module.
// Modules load on demand, so `topology` or `validate` never pay for the proxy or the addon.

export interface Command {
  readonly usage: string;
  /** Runs the command; resolves to the process exit code. */
  run(args: readonly string[]): Promise<number>;
}

const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  run: { summary: 'start the daemon (the CRI proxy)', load: async () => (await import('./commands/run.js')).command },
  status: { summary: 'show every CPU owner and container placement of the running daemon', load: async () => (await import('./commands/status.js')).command },
  explain: { summary: 'explain why the running daemon placed a container where it is', load: async () => (await import('./commands/explain.js')).command },
  plan: { summary: 'show the placement a list of pods would get, without a runtime', load: async () => (await import('./commands/plan.js')).command },
  topology: { summary: 'show the CPU and NUMA topology discovered from sysfs', load: async () => (await import('./commands/topology.js')).command },
  validate: { summary: 'check a policy file; --print shows the effective policy', load: async () => (await import('./commands/validate.js')).command },
  capabilities: { summary: 'show what this machine lets the daemon sense and do', load: async () => (await import('./commands/capabilities.js')).command },
};

function help(): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length));
  const lines = Object.entries(commands).map(([name, { summary }]) => `  ${name.padEnd(width)}  ${summary}`);
  return [
    'usage: cri-rebalancer <command> [options]',
    '',
    'Places Kubernetes containers on CPUs and NUMA nodes by topology, as a CRI proxy.',
    '',
    'commands:',
    ...lines,
    '',
    'Run `cri-rebalancer <command> --help` for the options of one command.',
  ].join('\n');
}

export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${help()}\n`);
    return name === undefined ? 2 : 0;
  }
  const entry = commands[name];
  if (entry === undefined) {
    process.stderr.write(`cri-rebalancer: unknown command "${name}"\n\n${help()}\n`);
    return 2;
  }
  const command = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${command.usage}\n`);
    return 0;
  }
  return command.run(rest);
}
