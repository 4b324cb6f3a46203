// One shared HTTP/2 connection to the runtime's socket, opened on first use and opened again on
// the next call after it closes or fails (the runtime restarted), so the relay outlives the runtime.
import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from 'node:http2';
import { connect as connectSocket } from 'node:net';

/** Window sizes above HTTP/2's 64 KiB default, so streamed responses are not throttled per hop. */
export const http2Settings = { initialWindowSize: 4 * 1024 * 1024 } as const;

export class UpstreamConnection {
  private session: ClientHttp2Session | null = null;
  /** Why the last session failed, for the UNAVAILABLE message of the calls it took down. */
  private readonly failures = new WeakMap<ClientHttp2Session, Error>();

  constructor(readonly path: string) {}

  /** Starts a call on the shared session (opening one when there is none). */
  request(headers: OutgoingHttpHeaders): { stream: ClientHttp2Stream; session: ClientHttp2Session } {
    const current = this.session;
    const session = current !== null && !current.closed && !current.destroyed ? current : this.open();
    return { stream: session.request(headers, { endStream: false }), session };
  }

  /** The message for a call that failed because the runtime connection did; null when it did not. */
  describeFailure(session: ClientHttp2Session): string | null {
    const failure = this.failures.get(session);
    if (failure !== undefined) return `runtime at ${this.path} is not reachable: ${failure.message}`;
    if (session.destroyed || session.closed) return `runtime at ${this.path} is not reachable: it closed the connection`;
    return null;
  }

  close(): Promise<void> {
    const session = this.session;
    this.session = null;
    if (session === null || session.destroyed) return Promise.resolve();
    return new Promise((resolve) => session.close(resolve));
  }

  private open(): ClientHttp2Session {
    const session = connect('http://localhost', {
      createConnection: () => connectSocket(this.path),
      settings: http2Settings,
    });
    const forget = (): void => {
      if (this.session === session) this.session = null;
    };
    session.on('error', (error: Error) => {
      this.failures.set(session, error);
      forget();
    });
    session.on('goaway', forget);
    session.on('close', forget);
    session.on('connect', () => session.setLocalWindowSize(http2Settings.initialWindowSize * 4));
    // An idle connection must not keep the daemon's event loop alive on its own.
    session.unref();
    this.session = session;
    return session;
  }
}

export const cancelCode = constants.NGHTTP2_CANCEL;
