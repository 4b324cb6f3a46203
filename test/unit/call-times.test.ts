import t from 'tap';
import { GrpcStatus } from '../../src/cri/grpc-status.js';
import type { RelayedCall } from '../../src/cri/relay.js';
import { CallTimeRecorder, recentCallsPerMethod } from '../../src/metrics/call-times.js';

const create = '/runtime.v1.RuntimeService/CreateContainer';

function call(method: string, durationMs: number, runtimeMs: number | null, code: number = GrpcStatus.OK): RelayedCall {
  return { method, intercepted: true, code: code as RelayedCall['code'], durationMs, runtimeMs };
}

t.test('time in the daemon is what the runtime did not take; rejected calls spent it all in the daemon', async (t) => {
  const times = new CallTimeRecorder();
  times.record(call(create, 12, 10));
  times.record(call(create, 13, 10));
  times.record(call(create, 5, null, GrpcStatus.RESOURCE_EXHAUSTED));
  times.record(call('/runtime.v1.ImageService/ListImages', 1, 0.5));
  t.same(times.summary(), [
    { method: 'ImageService/ListImages', calls: 1, errors: 0, daemonP50Ms: 0.5, daemonP99Ms: 0.5, runtimeP50Ms: 0.5 },
    { method: 'RuntimeService/CreateContainer', calls: 3, errors: 1, daemonP50Ms: 3, daemonP99Ms: 5, runtimeP50Ms: 10 },
  ]);
  const rejectedOnly = new CallTimeRecorder();
  rejectedOnly.record(call(create, 2, null, GrpcStatus.INVALID_ARGUMENT));
  t.equal(rejectedOnly.summary()[0]!.runtimeP50Ms, null, 'no runtime time when no call reached it');
});

t.test('times cover the recent calls; counts cover every call', async (t) => {
  const times = new CallTimeRecorder();
  for (let index = 0; index < recentCallsPerMethod; index++) times.record(call(create, 101, 1));
  for (let index = 0; index < recentCallsPerMethod; index++) times.record(call(create, 3, 1));
  t.match(times.summary(), [{ calls: 2 * recentCallsPerMethod, daemonP50Ms: 2, daemonP99Ms: 2 }], 'the slow early calls have rolled out');
});

t.test('paths not shaped like a gRPC method are counted together, never shown', async (t) => {
  const times = new CallTimeRecorder();
  for (const path of ['/runtime.v1.RuntimeService/Version', '/a/b/c', '/x.Svc/\u001b[31mred', 'nope', '/runtime.v1.RuntimeService/']) times.record(call(path, 1, 1));
  t.same(
    times.summary().map((row) => [row.method, row.calls]),
    [
      ['other methods', 4],
      ['RuntimeService/Version', 1],
    ],
  );
});

t.test('paths beyond the tracked number are counted together, so a client cannot grow the table', async (t) => {
  const times = new CallTimeRecorder();
  for (let index = 0; index < 1000; index++) times.record(call(`/x.Service/Method${index}`, 1, 1));
  const summary = times.summary();
  t.equal(summary.length, 64);
  t.match(summary.find((row) => row.method === 'other methods'), { calls: 1000 - 63 });
});
