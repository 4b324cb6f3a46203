// The plan command's pods file: a YAML list of pods with their containers' resources, in
// Kubernetes quantities. Parsed strictly (a misspelt key is an error), and every error names
// the line and column it points at, so a person can fix the file.
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { formatYamlError, nodeAtPath, positionAtOffset, positionOfNode } from '../config/yaml-position.js';
import type { ContainerRequest } from '../placement/types.js';
import { parseCpuMilli, parseMemoryBytes, type QuantityResult } from './quantity.js';
import { deriveQosClass, effectiveRequests, type ContainerResources } from './qos.js';

export interface PodSpec {
  readonly name: string;
  readonly namespace: string;
  readonly annotations: Readonly<Record<string, string>>;
  readonly containers: readonly { readonly name: string; readonly resources: ContainerResources }[];
}

export interface PodsFileError {
  readonly line: number;
  readonly column: number;
  /** Dotted path to the offending value ("2.containers.0.resources.limits.cpu"). */
  readonly path: string;
  readonly message: string;
}

export type PodsFileResult =
  | { readonly ok: true; readonly pods: readonly PodSpec[] }
  | { readonly ok: false; readonly errors: readonly PodsFileError[] };

function quantity(parse: (input: string | number) => QuantityResult) {
  return z.union([z.string(), z.number()], { error: 'must be a Kubernetes quantity such as "2", "500m" or "1Gi"' }).transform(
    (input, context) => {
      const result = parse(input);
      if (result.ok) return result.value;
      context.addIssue({ code: 'custom', message: result.message });
      return z.NEVER;
    },
  );
}

const amounts = z
  .strictObject({ cpu: quantity(parseCpuMilli).optional(), memory: quantity(parseMemoryBytes).optional() })
  .optional()
  .transform((value) => ({ cpuMilli: value?.cpu ?? null, memoryBytes: value?.memory ?? null }));

const name = z.string({ error: 'must be a name (a string)' }).min(1, 'must not be empty');

const podsSchema = z.array(
  z.strictObject({
    name,
    namespace: name.default('default'),
    annotations: z.record(z.string(), z.string({ error: 'annotation values are strings; quote them ("true")' })).default({}),
    containers: z
      .array(
        z.strictObject({
          name,
          resources: z
            .strictObject({ requests: amounts, limits: amounts })
            .optional()
            .transform((value) => value ?? { requests: amounts.parse(undefined), limits: amounts.parse(undefined) }),
        }),
      )
      .min(1, 'a pod has at least one container'),
  }),
  { error: 'the pods file is a YAML list of pods: - {name, namespace, containers: [...]}' },
);

export function parsePodsFile(text: string): PodsFileResult {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false });
  if (document.errors.length > 0) {
    return {
      ok: false,
      errors: document.errors.map((error) => ({ ...positionAtOffset(lineCounter, error.pos[0]), path: '', message: `invalid YAML: ${error.message.split('\n')[0]}` })),
    };
  }
  const result = podsSchema.safeParse(document.toJS() ?? []);
  if (result.success) return { ok: true, pods: result.data };
  return {
    ok: false,
    errors: result.error.issues.map((issue) => {
      const unknown = issue.code === 'unrecognized_keys' ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}: ` : '';
      return { ...positionOfNode(lineCounter, nodeAtPath(document, issue.path)), path: issue.path.map(String).join('.'), message: unknown + issue.message };
    }),
  };
}

/** One line per error: "FILE:3:7: 0.containers.0.resources.limits.cpu: ...". */
export function formatPodsFileErrors(source: string, errors: readonly PodsFileError[]): string {
  return errors.map((error) => formatYamlError(source, error, error.path, error.message)).join('\n');
}

/** The placement requests of a pod's containers, with the pod's QoS class. */
export function containerRequestsOf(pod: PodSpec): ContainerRequest[] {
  const qos = deriveQosClass(pod.containers.map((container) => container.resources));
  return pod.containers.map((container) => ({
    pod: pod.name,
    namespace: pod.namespace,
    container: container.name,
    qos,
    cpuRequestMilli: effectiveRequests(container.resources).cpuMilli ?? 0,
    cpuLimitMilli: container.resources.limits.cpuMilli,
    memoryLimitBytes: container.resources.limits.memoryBytes,
    annotations: pod.annotations,
  }));
}
