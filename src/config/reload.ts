// Reloading the policy while the daemon runs: on SIGHUP or when the file changes. An invalid
// file keeps the policy in force; the caller logs the errors (they carry line numbers).
import { watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { asyncScheduler, debounceTime, filter, map, Observable, type SchedulerLike } from 'rxjs';
import { loadPolicyFile, type PolicyError, type PolicyResult } from './load.js';
import { applyPolicyOverrides, type PolicyOverrides } from './overrides.js';
import { policyKeyPaths } from './schema.js';
import type { Policy } from './types.js';

/** Keys read once at start-up (sockets bound, state opened): a change waits for a restart. */
export const restartOnlyKeys: readonly string[] = ['listen.socket', 'listen.controlSocket', 'listen.socketMode', 'stateDir'];

export type ReloadResult =
  | {
      readonly ok: true;
      readonly policy: Policy;
      /** Dotted keys whose effective value changed. */
      readonly changedKeys: readonly string[];
      /** The changed keys that take effect only after a restart. */
      readonly restartKeys: readonly string[];
    }
  | { readonly ok: false; readonly policy: Policy; readonly errors: readonly PolicyError[] };

function valueAt(policy: Policy, dottedKey: string): unknown {
  return dottedKey.split('.').reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], policy);
}

/** Dotted keys whose values differ between two policies. */
export function diffPolicies(before: Policy, after: Policy): string[] {
  return policyKeyPaths().filter((key) => !isDeepStrictEqual(valueAt(before, key), valueAt(after, key)));
}

/** The outcome of reading the file again: the new policy and what changed, or the errors and the policy kept. */
export function planReload(result: PolicyResult, current: Policy): ReloadResult {
  if (!result.ok) return { ok: false, policy: current, errors: result.errors };
  const changedKeys = diffPolicies(current, result.policy);
  return { ok: true, policy: result.policy, changedKeys, restartKeys: changedKeys.filter((key) => restartOnlyKeys.includes(key)) };
}

/** Reads the policy file again; `overrides` are the daemon's command-line flags, applied again. */
export async function reloadPolicy(path: string, current: Policy, overrides: PolicyOverrides = {}): Promise<ReloadResult> {
  const loaded = await loadPolicyFile(path);
  return planReload(loaded.ok ? applyPolicyOverrides(loaded.policy, overrides) : loaded, current);
}

/** Watches a directory; calls back with the name of each changed entry (null when unknown). */
export type WatchDirectory = (directory: string, onChange: (filename: string | null) => void, onError: (error: Error) => void) => { close(): void };

const watchDirectoryWithFs: WatchDirectory = (directory, onChange, onError) => {
  const watcher = watch(directory, { persistent: false }, (_event, filename) => onChange(filename === null ? null : String(filename)));
  watcher.on('error', onError);
  return watcher;
};

export interface WatchPolicyOptions {
  /** Quiet time after the last change before a reload is requested (editors write in bursts). */
  readonly debounceMs?: number;
  readonly scheduler?: SchedulerLike;
  readonly watchDirectory?: WatchDirectory;
}

/**
 * Emits once per burst of changes to the policy file. Watches the directory, not the file:
 * editors replace files by rename and Kubernetes ConfigMap volumes swap a `..data` symlink,
 * both of which a watch on the file itself would miss.
 */
export function watchPolicyFile(path: string, options: WatchPolicyOptions = {}): Observable<void> {
  const { debounceMs = 500, scheduler = asyncScheduler, watchDirectory = watchDirectoryWithFs } = options;
  const name = basename(path);
  const changes = new Observable<string | null>((subscriber) => {
    const watcher = watchDirectory(
      dirname(path),
      (filename) => subscriber.next(filename),
      (error) => subscriber.error(error),
    );
    return () => watcher.close();
  });
  return changes.pipe(
    filter((filename) => filename === null || filename === name || filename === '..data'),
    debounceTime(debounceMs, scheduler),
    map(() => undefined),
  );
}
