// The request a runtime reads from an interceptor's decision: the body the relay builds from it
// (`forward`, then `overrides`, which protobuf's decoder merges in), decoded.
import type { DescMessage, MessageShape } from '@bufbuild/protobuf';
import { decodeUnaryBody, encodeForwardBody, encodeUnaryBody } from '../../src/cri/codec.js';

export function sentRequest<Desc extends DescMessage>(
  schema: Desc,
  decision: { readonly forward: MessageShape<Desc>; readonly overrides?: MessageShape<Desc> },
): MessageShape<Desc> {
  const received = { message: decision.forward, body: encodeUnaryBody(schema, decision.forward) };
  const decoded = decodeUnaryBody(schema, encodeForwardBody(schema, received, decision.forward, decision.overrides));
  if (!decoded.ok) throw new Error(decoded.message);
  return decoded.message;
}
