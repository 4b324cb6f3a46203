// YAML policy text → validated Policy, or every error found, each pointing at the line and
// column of the offending key or value so an operator can go straight to it.
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument, type Document, type ScalarTag, type YAMLError } from 'yaml';
import type { z } from 'zod';
import { policyKeysAt, policySchema } from './schema.js';
import { suggestKey } from './suggest.js';
import type { Policy } from './types.js';
import { formatYamlError, nodeAtPath, positionAtOffset, positionOfNode } from './yaml-position.js';

export interface PolicyError {
  /** The file (or other source) the text came from. */
  readonly source: string;
  /** 1-based position of the offending key or value; null when the file itself is the problem. */
  readonly line: number | null;
  readonly column: number | null;
  /** Dotted key path ("listen.socketMode", "reserved.namespaces.1"); "" for the whole file. */
  readonly path: string;
  /** What is wrong and what to do about it. */
  readonly message: string;
}

export type PolicyResult = { readonly ok: true; readonly policy: Policy } | { readonly ok: false; readonly errors: readonly PolicyError[] };

/**
 * YAML 1.2 reads a plain 0660 as decimal 660; Kubernetes manifests (YAML 1.1) read it as octal,
 * and file modes are written that way. Read leading-zero integers as octal, as operators expect.
 */
const leadingZeroOctal: ScalarTag = {
  tag: 'tag:yaml.org,2002:int',
  format: 'OCT',
  test: /^0[0-7]+$/u,
  resolve: (text) => Number.parseInt(text, 8),
  default: true,
};

function errorsOfIssue(issue: z.core.$ZodIssue, source: string, document: Document, lineCounter: LineCounter): PolicyError[] {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const allowed = policyKeysAt(issue.path);
    return issue.keys.map((key) => {
      const suggestion = suggestKey(key, allowed);
      const help = suggestion === null ? `allowed keys: ${allowed.join(', ')}` : `did you mean "${suggestion}"?`;
      return {
        source,
        ...positionOfNode(lineCounter, nodeAtPath(document, [...issue.path, key], true)),
        path: [...path, key].join('.'),
        message: `unknown key; ${help}`,
      };
    });
  }
  const message = path.length === 0 ? `the policy ${issue.message}` : issue.message;
  return [{ source, ...positionOfNode(lineCounter, nodeAtPath(document, issue.path)), path: path.join('.'), message }];
}

/** A YAML syntax error in words that say what to do. */
function describeYamlError(error: YAMLError): string {
  if (error.code === 'DUPLICATE_KEY') return 'duplicate key: each key may appear once; remove or merge the repeats';
  if (error.code === 'MULTIPLE_DOCS') return 'a second YAML document: the policy is one document; remove this "---" and what follows';
  return `invalid YAML: ${error.message}; fix the syntax here`;
}

function byPosition(a: PolicyError, b: PolicyError): number {
  return (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0);
}

/** Parses and validates policy text; an empty text is the default policy. */
export function parsePolicy(text: string, source: string): PolicyResult {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    customTags: (tags) => [leadingZeroOctal, ...tags],
  });
  const yamlErrors = [...document.errors, ...document.warnings];
  if (yamlErrors.length > 0) {
    return {
      ok: false,
      errors: yamlErrors.map((error) => ({ source, ...positionAtOffset(lineCounter, error.pos[0]), path: '', message: describeYamlError(error) })),
    };
  }
  let value: unknown;
  try {
    value = document.toJS();
  } catch (error) {
    // yaml refuses alias bombs (an alias expanded thousands of times) here.
    return { ok: false, errors: [{ source, line: 1, column: 1, path: '', message: `${(error as Error).message}; write the values out instead of aliases` }] };
  }
  const result = policySchema.safeParse(value ?? {});
  if (result.success) {
    const policy: Policy = result.data;
    return { ok: true, policy };
  }
  const errors = result.error.issues.flatMap((issue) => errorsOfIssue(issue, source, document, lineCounter));
  return { ok: false, errors: errors.sort(byPosition) };
}

/** Reads and validates a policy file; a file that cannot be read is one error naming why. */
export async function loadPolicyFile(path: string): Promise<PolicyResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? 'no such file; check the path'
        : code === 'EISDIR'
          ? 'is a directory; give the path of the policy file'
          : `cannot be read (${(error as Error).message}); check the path and its permissions`;
    return { ok: false, errors: [{ source: path, line: null, column: null, path: '', message: reason }] };
  }
  return parsePolicy(text, path);
}

/** One line per error: "FILE:LINE:COL: key.path: message" (the position only where known). */
export function formatPolicyErrors(errors: readonly PolicyError[]): string {
  return errors
    .map((error) => formatYamlError(error.source, error.line === null ? null : { line: error.line, column: error.column ?? 1 }, error.path, error.message))
    .join('\n');
}
