// A gRPC request at the HTTP/2 level, for bodies no gRPC library would send (a truncated frame,
// bytes that are not a message): the response's HTTP status and gRPC status, however it ends.
import { connect, constants } from 'node:http2';
import { connect as connectSocket } from 'node:net';

export interface RawGrpcOutcome {
  readonly httpStatus: number | undefined;
  /** grpc-status from the trailers (or a trailers-only response's headers). */
  readonly grpcStatus: number | undefined;
  readonly grpcMessage: string;
  readonly body: Buffer;
}

/** A length-prefixed gRPC frame; `declaredBytes` may lie about the payload's length. */
export function formatGrpcFrame(payload: Buffer, declaredBytes = payload.length): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(declaredBytes, 1);
  return Buffer.concat([prefix, payload]);
}

export function sendRawGrpc(socketPath: string, path: string, body: Buffer, timeoutMs = 10_000): Promise<RawGrpcOutcome> {
  return new Promise((resolve, reject) => {
    const session = connect('http://localhost', { createConnection: () => connectSocket(socketPath) });
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error(`no answer to ${path} in ${timeoutMs} ms`));
    }, timeoutMs);
    session.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    const stream = session.request({
      [constants.HTTP2_HEADER_METHOD]: 'POST',
      [constants.HTTP2_HEADER_PATH]: path,
      [constants.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
      te: 'trailers',
    });
    let httpStatus: number | undefined;
    let grpcStatus: number | undefined;
    let grpcMessage = '';
    const chunks: Buffer[] = [];
    const readStatus = (headers: Record<string, unknown>): void => {
      if (headers['grpc-status'] !== undefined) grpcStatus = Number(headers['grpc-status']);
      if (typeof headers['grpc-message'] === 'string') grpcMessage = decodeURIComponent(headers['grpc-message']);
    };
    stream.on('response', (headers) => {
      httpStatus = Number(headers[constants.HTTP2_HEADER_STATUS]);
      readStatus(headers);
    });
    stream.on('trailers', readStatus);
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', () => undefined);
    stream.on('close', () => {
      clearTimeout(timer);
      session.close();
      resolve({ httpStatus, grpcStatus, grpcMessage, body: Buffer.concat(chunks) });
    });
    stream.end(body);
  });
}
