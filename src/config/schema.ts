// The policy file's schema: every key, its type, its default (from defaults.ts, the one source
// of truth) and the checks that span keys. Objects are strict: a typo is an error, not a
// silently ignored key. Messages say what the value must be, so an operator can fix it.
import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { parseEndpoint } from '../cri/endpoint.js';
import { CpuSet, CpuSetParseError } from '../topology/cpuset.js';
import { defaultPolicy } from './defaults.js';

const logLevels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

/** A short rendering of a value for an error message. */
function show(value: unknown): string {
  if (value === null || value === undefined) return 'empty';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

/** An error customizer: "must be WHAT, not VALUE". */
function expected(what: string) {
  return { error: (issue: { input?: unknown }) => `must be ${what}, not ${show(issue.input)}` };
}

/** A section of the file: a strict mapping whose keys all have defaults; empty means defaults. */
function section<Shape extends z.ZodRawShape>(shape: Shape) {
  return z.preprocess((value) => value ?? {}, z.strictObject(shape, expected('a mapping of keys')));
}

const absolutePath = z
  .string(expected('an absolute path'))
  .refine((path) => isAbsolute(path), expected('an absolute path (starting with /)'));

/** kubelet writes runtime endpoints as unix:///path; accept that form and keep the path. */
const socketEndpoint = z.string(expected('a socket path or unix:///path')).transform((text, context) => {
  const endpoint = parseEndpoint(text);
  if (endpoint.ok) return endpoint.path;
  context.issues.push({ code: 'custom', input: text, message: endpoint.message });
  return z.NEVER;
});

const boolean = z.boolean(expected('true or false'));

const count = z
  .number(expected('a whole number, 0 or more'))
  .int(expected('a whole number, 0 or more'))
  .min(0, expected('a whole number, 0 or more'));

/** A Kubernetes namespace name (an RFC 1123 label). */
const namespacePattern = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/u;

const namespaceName = z
  .string(expected('a namespace name'))
  .regex(namespacePattern, expected('a namespace name (lowercase letters, digits, "-")'));

/** Namespace allowlists for annotations: names, or "*" for every namespace. */
const namespaceAllowlist = z.array(
  z
    .string(expected('a namespace name or "*"'))
    .refine((name) => name === '*' || namespacePattern.test(name), expected('a namespace name (lowercase letters, digits, "-") or "*"')),
  expected('a list of namespaces'),
);

/** Parses a mode written as octal text: "0660", "660", "0o660". */
export function parseSocketMode(text: string): number | null {
  const match = /^0?o?([0-7]{3})$/u.exec(text.trim());
  return match?.[1] === undefined ? null : Number.parseInt(match[1], 8);
}

/** A mode as operators write it: "0660". */
export function formatSocketMode(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}

const modeHint = 'a file mode such as "0660" (owner and group) or "0600" (owner only)';

/**
 * Socket file mode: octal text, or a number (YAML's 0o660; a plain 0660 reads as octal too, as in
 * Kubernetes manifests). The CRI socket is as powerful as root, so "other" users get nothing.
 */
const socketMode = z
  .union([z.number(), z.string()], expected(modeHint))
  .transform((value, context) => {
    const mode = typeof value === 'number' ? value : parseSocketMode(value);
    if (mode === null || !Number.isInteger(mode) || mode < 0 || mode > 0o777) {
      context.issues.push({ code: 'custom', input: value, message: `must be ${modeHint}, not ${show(value)}` });
      return z.NEVER;
    }
    if ((mode & 0o007) !== 0) {
      context.issues.push({
        code: 'custom',
        input: value,
        message: `must not give other users access (${formatSocketMode(mode)}): the sockets control containers as root; use "0660" or "0600"`,
      });
      return z.NEVER;
    }
    return mode;
  });

/** Reserved CPUs as a Linux cpulist, kept in canonical form ("0-1,4"); a lone CPU may be a number. */
const reservedCpus = z.preprocess(
  (value) => (typeof value === 'number' ? String(value) : value),
  z.string(expected('a cpulist such as "0-1"')).transform((text, context) => {
    try {
      const cpus = CpuSet.parse(text);
      if (!cpus.isEmpty()) return cpus.format();
      context.issues.push({ code: 'custom', input: text, message: 'must not be empty; remove the key (or set count) to reserve none' });
    } catch (error) {
      if (!(error instanceof CpuSetParseError)) throw error;
      context.issues.push({ code: 'custom', input: text, message: `must be a cpulist such as "0-1,8": ${error.message}` });
    }
    return z.NEVER;
  }),
);

const defaults = defaultPolicy;

export const policySchema = z
  .strictObject(
    {
      runtime: section({
        endpoint: socketEndpoint.nullable().default(defaults.runtime.endpoint),
      }),
      listen: section({
        socket: absolutePath.default(defaults.listen.socket),
        controlSocket: absolutePath.default(defaults.listen.controlSocket),
        socketMode: socketMode.default(defaults.listen.socketMode),
      }),
      stateDir: absolutePath.default(defaults.stateDir),
      reserved: section({
        cpus: reservedCpus.nullable().default(defaults.reserved.cpus),
        count: count.default(defaults.reserved.count),
        namespaces: z.array(namespaceName, expected('a list of namespaces')).default([...defaults.reserved.namespaces]),
      }),
      placement: section({
        exclusiveCpus: boolean.default(defaults.placement.exclusiveCpus),
        preferWholeCores: boolean.default(defaults.placement.preferWholeCores),
        minSharedCpusPerNode: count.default(defaults.placement.minSharedCpusPerNode),
        pinSharedToNode: boolean.default(defaults.placement.pinSharedToNode),
        memoryOnlyNodes: boolean.default(defaults.placement.memoryOnlyNodes),
        onInsufficient: z.enum(['reject', 'shared'], expected('"reject" or "shared"')).default(defaults.placement.onInsufficient),
      }),
      annotations: section({
        isolatedCpusNamespaces: namespaceAllowlist.default([...defaults.annotations.isolatedCpusNamespaces]),
        memoryOnlyNodesNamespaces: namespaceAllowlist.default([...defaults.annotations.memoryOnlyNodesNamespaces]),
      }),
      logLevel: z.enum(logLevels, expected(`one of ${logLevels.join(', ')}`)).default(defaults.logLevel),
    },
    expected('a mapping of keys'),
  )
  .superRefine((policy, context) => {
    if (policy.reserved.cpus !== null && policy.reserved.count > 0) {
      context.addIssue({
        code: 'custom',
        path: ['reserved', 'count'],
        message: 'cannot be set together with reserved.cpus; keep one of the two',
      });
    }
    if (policy.listen.controlSocket === policy.listen.socket) {
      context.addIssue({
        code: 'custom',
        path: ['listen', 'controlSocket'],
        message: 'must differ from listen.socket; give the control socket its own path',
      });
    }
    if (policy.runtime.endpoint === policy.listen.socket) {
      context.addIssue({
        code: 'custom',
        path: ['runtime', 'endpoint'],
        message: "is the proxy's own socket (listen.socket); point it at the runtime's socket",
      });
    }
  });

/** The mapping schema behind a section, a pipe or a default, or null for a scalar or list. */
function mappingOf(schema: z.ZodType): z.ZodObject | null {
  if (schema instanceof z.ZodObject) return schema;
  if (schema instanceof z.ZodPipe) return mappingOf(schema.out as z.ZodType);
  if (schema instanceof z.ZodDefault) return mappingOf(schema.unwrap() as z.ZodType);
  return null;
}

/** The keys allowed in the mapping at a path of the file ([] is the top level). */
export function policyKeysAt(path: readonly PropertyKey[]): readonly string[] {
  let mapping: z.ZodObject | null = policySchema;
  for (const key of path) {
    const field: z.ZodType | undefined = mapping?.shape[String(key)];
    mapping = field === undefined ? null : mappingOf(field);
  }
  return mapping === null ? [] : Object.keys(mapping.shape);
}

/** Every leaf key of the file as a dotted path ("listen.socketMode"), in schema order. */
export function policyKeyPaths(prefix: readonly string[] = []): string[] {
  return policyKeysAt(prefix).flatMap((key) => {
    const path = [...prefix, key];
    const nested = policyKeyPaths(path);
    return nested.length > 0 ? nested : [path.join('.')];
  });
}
