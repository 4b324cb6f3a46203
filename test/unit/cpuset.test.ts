import fc from 'fast-check';
import t from 'tap';
import { CpuSet, CpuSetParseError } from '../../src/topology/cpuset.js';

const list = CpuSet.parse;

t.test('parse and format round trip', async (t) => {
  t.equal(list('0-3,8,10-11\n').format(), '0-3,8,10-11');
  t.equal(list('7,1,3-5,4').format(), '1,3-5,7', 'any order, overlaps');
  t.equal(list(' 0 , 2-3 ').format(), '0,2-3', 'blanks around elements');
  t.equal(list('5-5').format(), '5');
  t.equal(CpuSet.of([3, 1, 2, 2]).format(), '1-3');
  t.equal(String(list('0-1,4')), '0-1,4');
  t.equal(JSON.stringify({ cpus: list('0-1,4') }), '{"cpus":"0-1,4"}');
});

t.test('what kernels really write', async (t) => {
  t.equal(list('0-31\n\0').format(), '0-31', 'newline then NUL (5.15-rc Arm)');
  t.equal(list('0-3\0\0').format(), '0-3');
  t.ok(list('').isEmpty(), 'empty file');
  t.ok(list('\n').isEmpty(), 'just a newline (empty isolated, memory-only node cpulist)');
  t.ok(list('\0\n').isEmpty(), 'NUL then newline (RHEL 7 nohz_full)');
  t.equal(CpuSet.empty.format(), '');
});

t.test('strides and the kernel group syntax', async (t) => {
  t.equal(list('0-15:2/4').format(), '0-1,4-5,8-9,12-13', 'first 2 of every 4');
  t.equal(list('100-2550:128/256').toArray().slice(0, 3).join(','), '100,101,102');
  t.equal(list('100-2550:128/256').size, 1280, 'the kernel documentation example');
  t.equal(list('0-9:4/8').format(), '0-3,8-9', 'last group cut at the range end');
  t.equal(list('0-9:2').format(), '0,2,4,6,8', 'plain stride');
  t.equal(list('0-7:1/1').format(), '0-7');
  t.equal(list('0-7:3/3').format(), '0-7');
});

t.test('bad lists throw CpuSetParseError naming the element', async (t) => {
  for (const [text, pattern] of [
    ['3-1', /bad range "3-1"/u],
    ['0-7:0', /bad range/u],
    ['0-7:3/2', /bad range/u],
    ['0-7:0/4', /bad range/u],
    ['a', /bad element "a"/u],
    ['1,,2', /bad element ""/u],
    ['-1', /bad element/u],
    ['1-', /bad element/u],
    ['0x3', /bad element/u],
    ['0-99999999', /id 99999999 is above 65535/u],
  ] as const) {
    t.throws(() => list(text), { name: 'CpuSetParseError', code: 'ERR_CPULIST', message: pattern }, text);
  }
  t.throws(() => CpuSet.of([-1]), CpuSetParseError);
  t.throws(() => CpuSet.of([1.5]), /invalid id 1.5/u);
  t.throws(() => CpuSet.of([Number.NaN]), CpuSetParseError);
});

t.test('hex masks (old kernels)', async (t) => {
  t.equal(CpuSet.parseMask('0000ff0f').format(), '0-3,8-15');
  t.equal(CpuSet.parseMask('00000001,00000000\n').format(), '32', 'most significant word first');
  t.equal(CpuSet.parseMask('0000,00000000,00000000,00000000,00000000,000000ff').format(), '0-7', 'short first word (POWER9)');
  t.equal(CpuSet.parseMask('80000000').format(), '31', 'the top bit');
  t.equal(CpuSet.parseMask('ffffffff,ffffffff').format(), '0-63');
  t.ok(CpuSet.parseMask('00000000\0').isEmpty());
  t.ok(CpuSet.parseMask('').isEmpty());
  t.throws(() => CpuSet.parseMask('00ff,zz'), { code: 'ERR_CPULIST', message: /bad word "zz"/u });
  t.throws(() => CpuSet.parseMask('123456789'), /bad word/u, 'more than 32 bits in a word');
});

t.test('range, queries and iteration', async (t) => {
  t.equal(CpuSet.range(2, 5).format(), '2-5');
  t.ok(CpuSet.range(5, 2).isEmpty());
  const set = list('1-3,8');
  t.equal(set.size, 4);
  t.notOk(set.isEmpty());
  t.ok(set.has(1) && set.has(3) && set.has(8));
  t.notOk(set.has(0) || set.has(4) || set.has(9));
  t.equal(set.first(), 1);
  t.equal(CpuSet.empty.first(), undefined);
  t.same([...set], [1, 2, 3, 8]);
  const copy = set.toArray();
  copy.push(99);
  t.notOk(set.has(99), 'toArray returns a copy');
  t.equal(set.filter((id) => id % 2 === 0).format(), '2,8');
  t.equal(set.take(2).format(), '1-2');
  t.equal(set.take(0).format(), '');
  t.equal(set.take(-1).format(), '');
  t.equal(set.take(10).format(), '1-3,8');
});

t.test('set algebra', async (t) => {
  const a = list('0-5,10');
  const b = list('4-8,10-11');
  t.equal(a.union(b).format(), '0-8,10-11');
  t.equal(a.intersect(b).format(), '4-5,10');
  t.equal(a.difference(b).format(), '0-3');
  t.equal(b.difference(a).format(), '6-8,11');
  t.equal(a.union(CpuSet.empty), a, 'union with empty is the same set');
  t.equal(CpuSet.empty.union(a), a);
  t.equal(a.difference(CpuSet.empty), a);
  t.ok(a.intersect(CpuSet.empty).isEmpty());
  t.ok(list('4-5').isSubsetOf(a));
  t.notOk(list('4-6').isSubsetOf(a));
  t.ok(CpuSet.empty.isSubsetOf(a));
  t.ok(a.intersects(b));
  t.notOk(a.intersects(list('6-9')));
  t.ok(a.equals(list('10,0-5')));
  t.notOk(a.equals(list('0-5')));
  t.notOk(a.equals(list('0-4,10-11')));
});

t.test('algebra agrees with plain sets on random input', async (t) => {
  const ids = fc.uniqueArray(fc.integer({ min: 0, max: 200 }), { maxLength: 60 });
  fc.assert(
    fc.property(ids, ids, (x, y) => {
      const a = CpuSet.of(x);
      const b = CpuSet.of(y);
      const sorted = (values: Iterable<number>) => [...values].sort((m, n) => m - n);
      const inY = new Set(y);
      const same = (set: CpuSet, expected: number[]) => JSON.stringify(set.toArray()) === JSON.stringify(sorted(expected));
      return (
        same(a.union(b), [...new Set([...x, ...y])]) &&
        same(a.intersect(b), x.filter((id) => inY.has(id))) &&
        same(a.difference(b), x.filter((id) => !inY.has(id))) &&
        a.intersects(b) === x.some((id) => inY.has(id)) &&
        a.isSubsetOf(b) === x.every((id) => inY.has(id)) &&
        list(a.format()).equals(a)
      );
    }),
  );
  t.pass('union, intersect, difference, intersects, isSubsetOf and format round trips agree');
});
