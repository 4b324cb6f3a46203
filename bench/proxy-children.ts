// The proxy benchmarks' child processes (bench/proxy-child.ts): the no-op backend and the bare
// relay, each alone in its process so its CPU time can be read and it does not share an event
// loop with the callers.
import { execFile, fork, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Child {
  readonly process: ChildProcess;
  cpuMicros(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Compiles bench/proxy-child.ts and what it imports with tsc, as the daemon ships (dist/ is tsc
 * output). Run through tsx instead, every closure the relay makes per call would also pay for
 * esbuild's keepNames `__name` wrapper, a cost the real daemon does not have. The output goes
 * under out/ (ignored) so the compiled files still find node_modules.
 */
export async function compileChild(dir: string): Promise<string> {
  const root = process.cwd();
  const outDir = join(root, 'out', 'bench-proxy');
  const config = join(dir, 'tsconfig.bench.json');
  await writeFile(
    config,
    JSON.stringify({
      extends: join(root, 'tsconfig.json'),
      // typeRoots: found from the config's own directory otherwise, a temp one without node_modules.
      compilerOptions: { outDir, rootDir: root, noEmitOnError: true, typeRoots: [join(root, 'node_modules', '@types')] },
      include: [],
      files: [join(root, 'bench', 'proxy-child.ts')],
    }),
  );
  try {
    await run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', config]);
  } catch (error) {
    throw new Error(`tsc could not compile bench/proxy-child.ts; fix these errors first:\n${(error as { stdout?: string }).stdout ?? (error as Error).message}`);
  }
  return join(outDir, 'bench', 'proxy-child.js');
}

export async function startChild(script: string, args: string[]): Promise<Child> {
  const child = fork(script, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`benchmark child ${args[0]} exited with ${code}`)));
  });
  return {
    process: child,
    cpuMicros: () =>
      new Promise((resolve) => {
        child.once('message', (message) => {
          const { cpu } = message as { cpu: NodeJS.CpuUsage };
          resolve(cpu.user + cpu.system);
        });
        child.send('cpu');
      }),
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.send('stop');
      }),
  };
}
