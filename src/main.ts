// The daemon: the one place where real implementations are wired together. Start order: policy,
// topology, the state directory's lock, checkpoint, runtime + reconcile, control socket, then
// the relay kubelet talks to (so no call is decided on before the state matches the runtime),
// and the lock is given up once stopped. Signals: SIGTERM/SIGINT stop
// (stop accepting, finish calls in flight, checkpoint, exit 0); SIGHUP or a changed policy file
// reloads (an invalid file keeps the policy in force and logs its errors with line numbers).
import { formatPolicyErrors, loadPolicyFile } from './config/load.js';
import { defaultPolicy } from './config/defaults.js';
import type { Policy } from './config/types.js';
import { applyPolicyOverrides, type PolicyOverrides } from './config/overrides.js';
import { reloadPolicy, restartOnlyKeys, watchPolicyFile } from './config/reload.js';
import { createControlHandler } from './control/handler.js';
import { startControlServer, type ControlServer } from './control/server.js';
import { discoverRuntimeEndpoint } from './cri/endpoint.js';
import { createLifecycle } from './cri/lifecycle.js';
import { startRelay, type Relay } from './cri/relay.js';
import { RuntimeClient } from './cri/runtime-client.js';
import { createRuntimePort, RuntimeCallError } from './cri/runtime-port.js';
import type { DestinationStream } from 'pino';
import { createLogger, type Logger } from './log.js';
import { CallTimeRecorder } from './metrics/call-times.js';
import { missingNodeFlags } from './node-flags.js';
import { CpusetApplier } from './state/apply-updates.js';
import { checkpointFileName, chooseFileReplacer, historyFileName, openCheckpointFile, removeStaleTempFiles } from './state/checkpoint-file.js';
import { bindPlacementEngine } from './state/engine.js';
import { reconcileWithRuntime, type ReconcileDeps, type ReconcileSummary } from './state/reconcile.js';
import { lockStateDir } from './state/state-lock.js';
import { openStore } from './state/store.js';
import { discoverTopology } from './topology/discover.js';
import type { Topology } from './topology/types.js';

export interface DaemonOptions {
  readonly policyFile: string | null;
  readonly overrides: PolicyOverrides;
  readonly sysfsRoot: string;
  readonly rebuildState: boolean;
  /** The light reconcile's period (releases exited containers, adopts strays). */
  readonly reconcileIntervalMs?: number;
  /** How often start-up retries a runtime that does not answer yet. */
  readonly runtimeRetryMs?: number;
  /** Aborted to stop the daemon (also while start-up waits for the runtime). */
  readonly signal?: AbortSignal;
  /** Where the JSON log lines go (default: stdout). */
  readonly logDestination?: DestinationStream;
}

export interface Daemon {
  /** Stops accepting calls, finishes those in flight, checkpoints; resolves to the exit code. */
  stop(reason: string): Promise<number>;
  /** Reads the policy file again (SIGHUP); an invalid file keeps the policy in force. */
  reload(why: string): Promise<void>;
}

const defaultReconcileIntervalMs = 30_000;
const defaultRuntimeRetryMs = 2_000;
const relayDrainMs = 10_000;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Start-up reconcile: waits for the runtime (kubelet cannot reach us meanwhile: our socket is not
 * up yet). Resolves to null when stopped while waiting; rejects on anything but the runtime
 * failing to answer (a checkpoint that cannot be written, say).
 */
async function reconcileAtStart(deps: ReconcileDeps, log: Logger, retryMs: number, signal: AbortSignal): Promise<ReconcileSummary | null> {
  for (let attempt = 1; !signal.aborted; attempt++) {
    try {
      return await reconcileWithRuntime(deps, { atStart: true, nowMs: Date.now() });
    } catch (error) {
      if (!(error instanceof RuntimeCallError)) throw error;
      if (attempt === 1 || attempt % 15 === 0) {
        log.warn({ attempt, err: (error as Error).message }, 'the runtime does not answer; waiting for it before serving kubelet');
      }
      await sleep(retryMs, signal);
    }
  }
  return null;
}

/** Containers the runtime ran on other CPUs than the state records (an update lost in a crash). */
function logDrift(log: Logger, summary: ReconcileSummary, why: string): void {
  if (summary.drifted.length === 0) return;
  log.warn({ why, drifted: summary.drifted }, 'cpusets in the runtime differed from the recorded ones; the recorded ones were applied again');
}

/** Fails start-up: one message on stderr (and in the log when there is one), exit code 1. */
function startFailure(message: string, log?: Logger): number {
  log?.fatal(message);
  process.stderr.write(`cri-rebalancer run: ${message}\n`);
  return 1;
}

/** Starts the daemon; resolves to a handle, or to an exit code when start-up fails. */
export async function startDaemon(options: DaemonOptions): Promise<Daemon | number> {
  let policy = defaultPolicy;
  if (options.policyFile !== null) {
    const loaded = await loadPolicyFile(options.policyFile);
    if (!loaded.ok) return startFailure(`invalid policy file:\n${formatPolicyErrors(loaded.errors)}`);
    policy = loaded.policy;
  }
  const overridden = applyPolicyOverrides(policy, options.overrides);
  if (!overridden.ok) return startFailure(`invalid command-line flags:\n${formatPolicyErrors(overridden.errors)}`);
  policy = overridden.policy;
  const log = createLogger(policy.logLevel, options.logDestination);
  let topology;
  try {
    topology = await discoverTopology(options.sysfsRoot);
  } catch (error) {
    return startFailure(`cannot read the CPU topology from ${options.sysfsRoot}: ${(error as Error).message}`, log);
  }
  const lock = await lockStateDir(policy.stateDir);
  if (!lock.ok) return startFailure(lock.message, log);
  if (lock.unlockedReason !== undefined) log.warn({ reason: lock.unlockedReason }, 'the native addon did not load: the state directory is not locked against a second daemon');
  const missingFlags = missingNodeFlags(process.execArgv);
  if (missingFlags.length > 0) log.info({ missing: missingFlags }, 'Node runs without the flags of the systemd unit (src/node-flags.ts): V8 may pause calls to shrink its heap');
  const daemon = await startOnLockedState(options, policy, log, topology);
  if (typeof daemon === 'number') {
    lock.release();
    return daemon;
  }
  return { ...daemon, stop: (reason) => daemon.stop(reason).finally(() => lock.release()) };
}

/** The rest of start-up, once the state directory is this daemon's alone. */
async function startOnLockedState(options: DaemonOptions, initialPolicy: Policy, log: Logger, topology: Topology): Promise<Daemon | number> {
  let policy = initialPolicy;
  const replacer = chooseFileReplacer();
  if (replacer.fallbackReason !== undefined) {
    log.warn({ reason: replacer.fallbackReason }, 'the native addon did not load: checkpoint writes go through node:fs step by step, which adds latency to every create');
  }
  const stale = await removeStaleTempFiles(policy.stateDir);
  if (stale.length > 0) log.info({ removed: stale }, 'removed temp files of checkpoint writes that a crash interrupted');
  const opened = await openStore(openCheckpointFile(policy.stateDir, checkpointFileName, replacer.replace), topology, {
    rebuild: options.rebuildState,
    historyFile: openCheckpointFile(policy.stateDir, historyFileName, replacer.replace),
  });
  if (!opened.ok) return startFailure(opened.problem.message, log);
  const { store } = opened;
  if (opened.rebuilt) log.warn({ state: store.path }, 'rebuilding the state from the runtime (--rebuild-state); the old checkpoint is replaced');
  if (opened.historyProblem !== undefined) log.warn({ problem: opened.historyProblem }, 'starting without the saved history (explain shows changes from now on)');
  const endpoint = await discoverRuntimeEndpoint(policy.runtime.endpoint, policy.listen.socket);
  if (!endpoint.ok) return startFailure(endpoint.message, log);

  const client = new RuntimeClient({ socketPath: endpoint.socket.path });
  const runtime = createRuntimePort(client);
  const engine = bindPlacementEngine(topology, () => policy);
  const applier = new CpusetApplier(runtime, log);
  const callTimes = new CallTimeRecorder();
  const reconcileDeps: ReconcileDeps = { store, engine, runtime, applier };
  const stopping = new AbortController();
  options.signal?.addEventListener('abort', () => stopping.abort(), { once: true });

  let control: ControlServer | null = null;
  let relay: Relay | null = null;
  const timers = new Set<NodeJS.Timeout>();
  let watcher: { unsubscribe(): void } | null = null;
  const saveHistory = (): Promise<void> =>
    store.saveHistory().catch((error: unknown) => log.warn({ err: (error as Error).message }, 'cannot save the history; retrying at the next interval'));
  const cleanUp = async (): Promise<void> => {
    for (const timer of timers) clearTimeout(timer);
    watcher?.unsubscribe();
    await relay?.close({ timeoutMs: relayDrainMs });
    // Wait for every decision in flight, then write the state one last time.
    await store.run(async () => {
      await store.commit({ ...store.snapshot });
    });
    await saveHistory();
    await control?.close();
    client.close();
  };

  let started: ReconcileSummary | null;
  try {
    started = await reconcileAtStart(reconcileDeps, log, options.runtimeRetryMs ?? defaultRuntimeRetryMs, stopping.signal);
  } catch (error) {
    client.close();
    return startFailure(`reconciling with the runtime failed: ${(error as Error).message}`, log);
  }
  if (started === null) {
    client.close();
    return 0;
  }
  log.info({ released: started.released, adopted: started.adopted, podsAdded: started.podsAdded, podsRemoved: started.podsRemoved, updates: started.updates }, 'reconciled with the runtime');
  logDrift(log, started, 'start-up');

  const reconcileLight = async (why: string): Promise<void> => {
    try {
      const summary = await reconcileWithRuntime(reconcileDeps, { atStart: false, nowMs: Date.now() });
      if (summary.released.length + summary.adopted.length + summary.updates > 0) {
        log.info({ why, released: summary.released, adopted: summary.adopted, updates: summary.updates }, 'reconciled with the runtime');
      }
      logDrift(log, summary, why);
    } catch (error) {
      log.warn({ why, err: (error as Error).message }, 'reconcile failed; retrying at the next interval');
    }
    await saveHistory();
  };
  const intervalMs = options.reconcileIntervalMs ?? defaultReconcileIntervalMs;
  const schedule = (delayMs: number, why: string): void => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      void reconcileLight(why).then(() => {
        if (why === 'periodic' && !stopping.signal.aborted) schedule(intervalMs, 'periodic');
      });
    }, delayMs);
    timers.add(timer);
  };

  try {
    control = await startControlServer(policy.listen.controlSocket, createControlHandler(store, engine, topology, callTimes));
    const interceptors = createLifecycle({ store, engine, applier, runtime, log, policy: () => policy, requestReconcile: () => schedule(1000, 'a create ended without a clear answer') });
    relay = await startRelay({ listenPath: policy.listen.socket, upstreamPath: endpoint.socket.path, socketMode: policy.listen.socketMode, interceptors, logger: log, observe: (call) => callTimes.record(call) });
  } catch (error) {
    await cleanUp();
    return startFailure((error as Error).message, log);
  }
  schedule(intervalMs, 'periodic');

  const reload = async (why: string): Promise<void> => {
    if (options.policyFile === null) {
      log.info({ why }, 'no policy file to reload (started without --policy)');
      return;
    }
    const result = await reloadPolicy(options.policyFile, policy, options.overrides);
    if (!result.ok) {
      log.error({ why, file: options.policyFile, errors: result.errors }, `policy reload failed; the policy in force is kept:\n${formatPolicyErrors(result.errors)}`);
      return;
    }
    const kept = result.restartKeys;
    policy = { ...result.policy, runtime: policy.runtime, listen: policy.listen, stateDir: policy.stateDir };
    log.level = policy.logLevel;
    log.info({ why, changed: result.changedKeys }, 'policy reloaded');
    if (kept.length > 0) log.warn({ keys: kept, restartOnlyKeys }, 'these keys take effect after a restart');
  };
  if (options.policyFile !== null) {
    watcher = watchPolicyFile(options.policyFile).subscribe({
      next: () => void reload('policy file changed'),
      error: (error: Error) => log.warn({ err: error.message }, 'cannot watch the policy file; SIGHUP still reloads it'),
    });
  }

  let stopped: Promise<number> | null = null;
  const stop = (reason: string): Promise<number> => {
    stopped ??= (async () => {
      log.info({ reason, inFlight: relay?.inFlight ?? 0 }, 'stopping: no new calls; finishing the calls in flight');
      stopping.abort();
      await cleanUp();
      log.info({ state: store.path }, 'stopped; state checkpointed');
      return 0;
    })();
    return stopped;
  };
  log.info({ listen: relay.listenPath, control: control.path, runtime: endpoint.socket.path, state: store.path, cpus: topology.online.format() }, 'ready');
  return { stop, reload };
}

/** Runs the daemon until SIGTERM or SIGINT; SIGHUP reloads the policy. Resolves to the exit code. */
export async function runDaemon(options: Omit<DaemonOptions, 'signal'>): Promise<number> {
  const abort = new AbortController();
  let finished: (code: number) => void = () => undefined;
  const exited = new Promise<number>((resolve) => {
    finished = resolve;
  });
  let daemon: Daemon | null = null;
  const onStop = (signal: NodeJS.Signals): void => {
    abort.abort();
    if (daemon !== null) void daemon.stop(signal).then(finished);
  };
  const onHangUp = (): void => void daemon?.reload('SIGHUP');
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', onHangUp);
  try {
    const started = await startDaemon({ ...options, signal: abort.signal });
    if (typeof started === 'number') return started;
    daemon = started;
    if (abort.signal.aborted) return await daemon.stop('signal during start-up');
    return await exited;
  } finally {
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
    process.off('SIGHUP', onHangUp);
  }
}
