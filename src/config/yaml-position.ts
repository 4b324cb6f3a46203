// Where in a YAML text a validation error points: the node a schema path names (or the deepest
// one on the way there) and its 1-based line and column, so every file error can say "FILE:L:C".
import { isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';

export interface YamlPosition {
  readonly line: number;
  readonly column: number;
}

/** The map pair whose key is `key`, if the node is a mapping that has it. */
function pairOf(node: unknown, key: PropertyKey) {
  if (!isMap(node)) return undefined;
  return node.items.find((pair) => isScalar(pair.key) && String(pair.key.value) === String(key));
}

/**
 * The deepest node along `path` (a zod issue path): the value, or the key where the value is
 * empty, or with `wantKey` the last segment's key itself (an unknown key points at its name).
 */
export function nodeAtPath(document: Document, path: readonly PropertyKey[], wantKey = false): Node | null {
  let node = document.contents as Node | null;
  for (const [index, segment] of path.entries()) {
    const last = index === path.length - 1;
    if (isSeq(node)) {
      const item = node.items[Number(segment)] as Node | undefined;
      if (item === undefined) return node;
      node = item;
      continue;
    }
    const pair = pairOf(node, segment);
    if (pair === undefined) return node;
    const value = pair.value as Node | null;
    node = (last && wantKey) || value?.range === undefined ? (pair.key as Node) : value;
  }
  return node;
}

/** The line and column of a text offset. */
export function positionAtOffset(lineCounter: LineCounter, offset: number): YamlPosition {
  const { line, col } = lineCounter.linePos(offset);
  return { line, column: col };
}

/** Where a node starts; the top of the file when there is none (an empty document). */
export function positionOfNode(lineCounter: LineCounter, node: Node | null): YamlPosition {
  const offset = node?.range?.[0];
  return offset === undefined ? { line: 1, column: 1 } : positionAtOffset(lineCounter, offset);
}

/** "FILE:LINE:COL: key.path: message": the position only where known, the path where there is one. */
export function formatYamlError(source: string, position: YamlPosition | null, path: string, message: string): string {
  const at = position === null ? '' : `:${position.line}:${position.column}`;
  return `${source}${at}: ${path === '' ? '' : `${path}: `}${message}`;
}
