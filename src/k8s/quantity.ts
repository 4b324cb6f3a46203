// Kubernetes resource quantities ("2", "500m", "1.5", "1Gi", "128974848", "129e6", "123M"), read
// exactly as the API server does: decimal or binary suffixes, an optional exponent, rounded up
// to the unit asked for (milliCPU, bytes). Exact integer arithmetic: "0.1" is 100m, not 101m.

export type QuantityResult = { readonly ok: true; readonly value: number } | { readonly ok: false; readonly message: string };

const binarySuffixes: Record<string, bigint> = {
  Ki: 1n << 10n,
  Mi: 1n << 20n,
  Gi: 1n << 30n,
  Ti: 1n << 40n,
  Pi: 1n << 50n,
  Ei: 1n << 60n,
};

const decimalExponents: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

const pattern = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$/u;

/** A quantity scaled by 10^`scale` (3 for milliCPU, 0 for bytes), rounded up. */
export function parseQuantity(input: string | number, scale: number): QuantityResult {
  const text = String(input).trim();
  const match = pattern.exec(text);
  if (match === null) {
    return { ok: false, message: `"${text}" is not a Kubernetes quantity (e.g. "2", "500m", "1.5", "512Mi", "1Gi")` };
  }
  const [, sign, number, exponent, suffix = ''] = match;
  if (sign === '-') return { ok: false, message: `"${text}" is negative; resources are never negative` };
  const [whole = '', fraction = ''] = number!.split('.');
  let numerator = BigInt(`${whole}${fraction}` || '0');
  const power = scale - fraction.length + (exponent === undefined ? (decimalExponents[suffix] ?? 0) : Number(exponent.slice(1)));
  const binary = binarySuffixes[suffix];
  if (binary !== undefined) numerator *= binary;
  let denominator = 1n;
  if (power >= 0) numerator *= 10n ** BigInt(power);
  else denominator = 10n ** BigInt(-power);
  const value = (numerator + denominator - 1n) / denominator;
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, message: `"${text}" is too large` };
  return { ok: true, value: Number(value) };
}

/** CPU quantity → milliCPU ("500m" → 500, "2" → 2000, "0.1" → 100). */
export function parseCpuMilli(input: string | number): QuantityResult {
  return parseQuantity(input, 3);
}

/** Memory quantity → bytes ("1Gi" → 1073741824, "1G" → 1000000000). */
export function parseMemoryBytes(input: string | number): QuantityResult {
  return parseQuantity(input, 0);
}
