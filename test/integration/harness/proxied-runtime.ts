// A real containerd sandbox with the daemon in front of it, as a node runs them: kubelet's client
// talks to the daemon's socket, the daemon to containerd's. Clients for both sides, so a test can
// compare the proxy with the runtime it fronts.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startContainerdSandbox, type ContainerdSandbox } from './containerd-sandbox.js';
import { CriTestClient } from '../../helpers/cri-test-client.js';
import { startDaemon, type DaemonProcess } from '../../helpers/daemon-process.js';

/**
 * The demo's policy, which the tests share: no reserved CPUs, so on a 2-CPU machine a Guaranteed
 * 1-CPU container can take one CPU exclusively while the shared pool keeps the other; shared
 * containers get the whole pool, so expected cpusets follow from the online CPUs alone.
 */
export const demoPolicyPath = 'examples/demo-policy.yaml';

export interface ProxiedRuntime {
  readonly sandbox: ContainerdSandbox;
  /** The running daemon (replaced by restartDaemon). */
  readonly daemon: DaemonProcess;
  /** A client of containerd itself. */
  readonly direct: CriTestClient;
  /** A client of the daemon's CRI socket, as kubelet would be (a new one after restartDaemon). */
  readonly proxied: CriTestClient;
  readonly policyFile: string;
  /** Starts the daemon again on the same sockets and state (after terminate or kill). */
  restartDaemon(): Promise<DaemonProcess>;
  destroy(): Promise<void>;
}

export interface ProxiedRuntimeOptions {
  readonly repoRoot: string;
  /** The policy file (default: the demo's, under repoRoot). */
  readonly policyFile?: string;
  readonly sysfs?: string;
}

export async function startProxiedRuntime(options: ProxiedRuntimeOptions): Promise<ProxiedRuntime> {
  const sandbox = await startContainerdSandbox({ repoRoot: options.repoRoot });
  const dir = join(sandbox.dir, 'daemon');
  const policyFile = options.policyFile ?? join(options.repoRoot, demoPolicyPath);
  const clients: CriTestClient[] = [];
  let daemon: DaemonProcess | null = null;
  let proxied: CriTestClient | null = null;
  const launch = (): Promise<DaemonProcess> =>
    startDaemon({
      runtimeEndpoint: sandbox.socket,
      dir,
      policyFile,
      ...(options.sysfs === undefined ? {} : { sysfs: options.sysfs }),
    });

  const destroy = async (): Promise<void> => {
    for (const client of clients) client.close();
    if (daemon !== null) {
      const code = await daemon.terminate();
      if (code === null) await daemon.kill();
    }
    await sandbox.destroy();
  };

  try {
    await mkdir(dir, { recursive: true });
    daemon = await launch();
    const direct = new CriTestClient(sandbox.socket, options.repoRoot);
    // A fresh connection per daemon: grpc-js backs off reconnecting to a socket that went away.
    const connect = (socket: string): CriTestClient => {
      proxied?.close();
      proxied = new CriTestClient(socket, options.repoRoot);
      clients.push(proxied);
      return proxied;
    };
    clients.push(direct);
    connect(daemon.socket);
    return {
      sandbox,
      get daemon() {
        if (daemon === null) throw new Error('the daemon is not running');
        return daemon;
      },
      direct,
      get proxied() {
        if (proxied === null) throw new Error('the daemon is not running');
        return proxied;
      },
      policyFile,
      async restartDaemon() {
        if (daemon !== null) await daemon.kill();
        daemon = null;
        daemon = await launch();
        connect(daemon.socket);
        return daemon;
      },
      destroy,
    };
  } catch (error) {
    await destroy();
    throw error;
  }
}
