// The control socket's protocol: one JSON request line in, one JSON response line out, then the
// server closes the connection. Small enough to drive with `socat` when debugging.
export type ControlRequest = { readonly command: 'status' } | { readonly command: 'explain'; readonly container: string };

export type ControlResponse = { readonly ok: true; readonly result: unknown } | { readonly ok: false; readonly error: string };

/** The longest request line the server reads. */
export const maxRequestBytes = 64 * 1024;

export function parseControlRequest(line: string): { readonly ok: true; readonly request: ControlRequest } | { readonly ok: false; readonly error: string } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, error: 'the request is not JSON; send one line like {"command":"status"}' };
  }
  const object = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  if (object.command === 'status') return { ok: true, request: { command: 'status' } };
  if (object.command === 'explain') {
    if (typeof object.container === 'string' && object.container !== '') {
      return { ok: true, request: { command: 'explain', container: object.container } };
    }
    return { ok: false, error: 'explain needs "container": a container id, id prefix or name' };
  }
  return { ok: false, error: `unknown command ${JSON.stringify(object.command)}; commands: status, explain` };
}
