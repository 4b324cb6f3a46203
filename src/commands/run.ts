// `cri-rebalancer run`: the daemon. Flags override the policy's sockets and directories, so tests
// and operators can start it anywhere without writing a policy file.
import { parseArgs } from 'node:util';
import type { Command } from '../cli.js';
import type { DaemonOptions } from '../main.js';

const usage = `usage: cri-rebalancer run [--policy FILE] [options]

Starts the daemon: a CRI proxy between kubelet and the container runtime that places every
container on CPUs and memory nodes by the machine's topology. Logs are JSON lines on stdout; a
line with "msg":"ready" says it serves kubelet. SIGTERM or SIGINT stop it (calls in flight finish,
the state is checkpointed); SIGHUP reloads the policy file (so does changing it).

options:
  --policy FILE            the policy file (default: the built-in defaults)
  --runtime-endpoint PATH  the runtime's CRI socket (unix:///path or /path); overrides runtime.endpoint
  --listen PATH            the socket kubelet connects to; overrides listen.socket
  --control-socket PATH    the socket status and explain use; overrides listen.controlSocket
  --state-dir DIR          where allocations are checkpointed; overrides stateDir
  --sysfs ROOT             read the topology below ROOT instead of /sys
  --rebuild-state          ignore the checkpoint and rebuild the state from the runtime
                           (after the daemon refused a corrupt or foreign checkpoint)`;

/** The daemon's options from the command line, or why they are wrong. */
export function parseRunArgs(args: readonly string[]): { ok: true; options: DaemonOptions } | { ok: false; error: string } {
  try {
    const { values } = parseArgs({
      args: [...args],
      options: {
        policy: { type: 'string' },
        'runtime-endpoint': { type: 'string' },
        listen: { type: 'string' },
        'control-socket': { type: 'string' },
        'state-dir': { type: 'string' },
        sysfs: { type: 'string' },
        'rebuild-state': { type: 'boolean' },
      },
      strict: true,
    });
    return {
      ok: true,
      options: {
        policyFile: values.policy ?? null,
        overrides: {
          ...(values['runtime-endpoint'] === undefined ? {} : { runtimeEndpoint: values['runtime-endpoint'] }),
          ...(values.listen === undefined ? {} : { listen: values.listen }),
          ...(values['control-socket'] === undefined ? {} : { controlSocket: values['control-socket'] }),
          ...(values['state-dir'] === undefined ? {} : { stateDir: values['state-dir'] }),
        },
        sysfsRoot: values.sysfs ?? '/sys',
        rebuildState: values['rebuild-state'] === true,
      },
    };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}

export const command: Command = {
  usage,
  async run(args) {
    const parsed = parseRunArgs(args);
    if (!parsed.ok) {
      process.stderr.write(`cri-rebalancer run: ${parsed.error}\n\n${usage}\n`);
      return 2;
    }
    // Sockets exist for a moment before they are chmod-ed to their modes: nothing the daemon
    // creates starts out open to other users (the group keeps what listen.socketMode gives it).
    process.umask(0o027);
    const { runDaemon } = await import('../main.js');
    return runDaemon(parsed.options);
  },
};
