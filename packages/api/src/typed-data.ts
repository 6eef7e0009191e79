/**
 * EIP-712 typed data before it is hashed: how much hashing it may cost, and what its domain
 * binds. viem's `hashTypedData` rebuilds a struct type's `encodeType` string (the type and every
 * type it depends on) for each struct value it encodes, so nested types and values multiply:
 * a 211 KiB request once cost 40 s of CPU. `checkTypedData` walks the typed data as the hashing
 * would, in time linear in its size and without building any type string, and refuses it past
 * `TYPED_DATA_LIMITS` before any hashing starts.
 * @module
 */
import { PayloadError, PayloadTooComplex } from './payload-error.ts';

/**
 * Bounds on typed data. Real signing requests are far inside them: a Seaport listing has 4 struct
 * types, 6 struct values (the domain counts) and an `encodeType` of 450 characters; the largest
 * Seaport bulk listing that fits a 256 KiB start request (128 orders, a tree of 7 levels) has 642
 * struct values, 5,125 values, 122,440 characters of types to hash and values 12 deep, and takes
 * about 50 ms to hash; a bulk order of the contract's deepest tree (24 levels) nests 29 deep;
 * Permit2 batches and UniswapX orders are smaller. Each limit reached alone costs viem about
 * 100 ms of hashing (a struct value about 40 µs, a thousand characters of `encodeType` about
 * 250 µs), so the server's time budget, not these limits, is what bounds them all at once.
 */
export const TYPED_DATA_LIMITS = {
  /** Struct types defined, `EIP712Domain` included. */
  types: 64,
  /** Characters of a struct type's name, a field's name or a field's type. */
  nameLength: 256,
  /** Longest chain of struct types referring to struct types (recursive types are refused). */
  typeDepth: 16,
  /** Nesting of struct values and array levels (a Seaport bulk order of the deepest tree: 29). */
  valueDepth: 48,
  /** Elements of one array. */
  arrayLength: 1024,
  /** Struct values encoded: the domain, the message and every struct nested in them. */
  structValues: 2048,
  /** Values encoded in all: fields and array elements, of any type. */
  values: 16_384,
  /** Characters of one struct type's `encodeType` (its own signature and its dependencies'). */
  encodedTypeLength: 8192,
  /** Characters of `encodeType` hashed in all (viem builds and hashes it for each struct value). */
  encodedTypeTotal: 256 * 1024,
} as const;

export type TypedDataLimit = keyof typeof TYPED_DATA_LIMITS;

export interface TypedDataInput {
  domain: Record<string, unknown>;
  types: Record<string, unknown>;
  primaryType: string;
  message: Record<string, unknown>;
}

interface Field {
  name: string;
  type: string;
}

/** The domain fields viem types when the request does not define `EIP712Domain`, in its order. */
const DOMAIN_FIELDS: readonly Field[] = [
  { name: 'name', type: 'string' },
  { name: 'version', type: 'string' },
  { name: 'chainId', type: 'uint256' },
  { name: 'verifyingContract', type: 'address' },
  { name: 'salt', type: 'bytes32' },
];

/** The `EIP712Domain` type viem builds from the fields present (neither undefined nor null). */
export function standardDomainType(domain: Record<string, unknown>): Field[] {
  return DOMAIN_FIELDS.filter((f) => domain[f.name] != null);
}

/** True when the request's own `EIP712Domain` (if any) is the standard one for its domain. */
export function hasStandardDomainType(td: TypedDataInput): boolean {
  if (!Object.hasOwn(td.types, 'EIP712Domain')) return true;
  const given = td.types.EIP712Domain;
  const standard = standardDomainType(td.domain);
  return (
    Array.isArray(given) &&
    given.length === standard.length &&
    given.every((f: unknown, i) => {
      const s = standard[i] as Field;
      const g = f as Partial<Field> | null;
      return (
        typeof g === 'object' &&
        g !== null &&
        Object.keys(g).length === 2 &&
        g.name === s.name &&
        g.type === s.type
      );
    })
  );
}

/** `what` names no type or field: the message is audited, and the payload never is. */
function tooComplex(limit: TypedDataLimit, what: string): never {
  throw new PayloadTooComplex(
    limit,
    `typed data: ${what} (limit ${TYPED_DATA_LIMITS[limit]}); it is not hashed`
  );
}

function bad(why: string): never {
  throw new PayloadError(`typed data: ${why}`);
}

/**
 * A field type without its array suffixes (`Order[2][]` → `Order`), by one scan from the right:
 * the regular expression `(\[[0-9]*\])+$` backtracks quadratically on `[][]…[]x`.
 */
export function baseType(type: string): string {
  let end = type.length;
  while (end > 0 && type.charCodeAt(end - 1) === 93 /* ] */) {
    let k = end - 2;
    while (k >= 0 && type.charCodeAt(k) >= 48 && type.charCodeAt(k) <= 57) k--;
    if (k < 0 || type.charCodeAt(k) !== 91 /* [ */) break;
    end = k;
  }
  return type.slice(0, end);
}

/**
 * Refuses typed data whose hashing would exceed `TYPED_DATA_LIMITS` (`PayloadTooComplex`), or
 * that viem would refuse anyway in a way the walk must not follow (`PayloadError`: a struct value
 * that is not an object or lacks a field, where viem would read inherited properties). Runs in
 * time linear in the size of the typed data; hashes nothing.
 */
export function checkTypedData(td: TypedDataInput): void {
  const L = TYPED_DATA_LIMITS;
  const names = Object.keys(td.types);
  const domainGiven = Object.hasOwn(td.types, 'EIP712Domain');
  if (names.length + (domainGiven ? 0 : 1) > L.types)
    tooComplex('types', `${names.length} struct types`);
  const structs = new Map<string, Field[]>();
  for (const name of names) {
    if (name.length > L.nameLength) tooComplex('nameLength', 'a struct type name is too long');
    const def = td.types[name];
    if (!Array.isArray(def)) bad(`types.${name} is not a list of fields`);
    const fields: Field[] = [];
    for (const f of def as unknown[]) {
      const { name: n, type: t } = (f ?? {}) as Partial<Field>;
      if (typeof n !== 'string' || typeof t !== 'string')
        bad(`types.${name} has a field without a string name and type`);
      if (n.length > L.nameLength || t.length > L.nameLength)
        tooComplex('nameLength', 'a field name or type is too long');
      fields.push({ name: n, type: t });
    }
    structs.set(name, fields);
  }
  if (!domainGiven) structs.set('EIP712Domain', standardDomainType(td.domain));
  if (td.primaryType !== 'EIP712Domain' && !structs.has(td.primaryType))
    bad(`primaryType ${td.primaryType} is not a struct type of types`);

  // Type dependency depth, refusing cycles: a memoised depth-first walk over at most L.types types.
  const depth = new Map<string, number>();
  const typeDepth = (name: string, onPath: Set<string>): number => {
    const known = depth.get(name);
    if (known !== undefined) return known;
    if (onPath.has(name)) return tooComplex('typeDepth', 'a struct type is recursive');
    onPath.add(name);
    let d = 1;
    for (const f of structs.get(name) as Field[]) {
      const base = baseType(f.type);
      if (structs.has(base)) d = Math.max(d, 1 + typeDepth(base, onPath));
    }
    onPath.delete(name);
    if (d > L.typeDepth) tooComplex('typeDepth', `struct types nest ${d} deep`);
    depth.set(name, d);
    return d;
  };
  typeDepth('EIP712Domain', new Set());
  if (td.primaryType !== 'EIP712Domain') typeDepth(td.primaryType, new Set());

  // encodeType(T) is T's own signature followed by those of every type T depends on: its length
  // is a sum over the dependency closure, computed once per type.
  const signatureLength = (name: string) =>
    (structs.get(name) as Field[]).reduce(
      (n, f, i) => n + f.type.length + 1 + f.name.length + (i > 0 ? 1 : 0),
      name.length + 2
    );
  const encodedLength = new Map<string, number>();
  const encodedTypeLength = (name: string): number => {
    const known = encodedLength.get(name);
    if (known !== undefined) return known;
    const closure = new Set([name]);
    const stack = [name];
    let total = 0;
    for (let t = stack.pop(); t !== undefined; t = stack.pop()) {
      total += signatureLength(t);
      for (const f of structs.get(t) as Field[]) {
        const base = baseType(f.type);
        if (structs.has(base) && !closure.has(base)) {
          closure.add(base);
          stack.push(base);
        }
      }
    }
    if (total > L.encodedTypeLength)
      tooComplex('encodedTypeLength', `a struct type's encodeType has ${total} characters`);
    encodedLength.set(name, total);
    return total;
  };

  // The values, visited as viem encodes them.
  let structValues = 0;
  let values = 0;
  let hashedTypes = 0;
  const visit = (type: string, value: unknown, level: number): void => {
    if (++values > L.values) tooComplex('values', 'too many values');
    if (level > L.valueDepth) tooComplex('valueDepth', 'values nest too deep');
    if (type.endsWith(']')) {
      // Not an array: viem refuses it without recursing.
      if (!Array.isArray(value)) return;
      if (value.length > L.arrayLength)
        tooComplex('arrayLength', `an array of ${value.length} elements`);
      const inner = type.slice(0, type.lastIndexOf('['));
      for (const v of value) visit(inner, v, level + 1);
      return;
    }
    const fields = structs.get(type);
    if (!fields) return;
    if (++structValues > L.structValues) tooComplex('structValues', 'too many struct values');
    hashedTypes += encodedTypeLength(type);
    if (hashedTypes > L.encodedTypeTotal)
      tooComplex('encodedTypeTotal', 'too many characters of struct types to hash');
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      bad(`a value of type ${type} is not an object`);
    for (const f of fields) {
      // viem reads a missing field through the prototype chain (`constructor`, `toString`…),
      // which the walk would not follow: missing fields are refused here, as viem refuses them.
      if (!Object.hasOwn(value, f.name)) bad(`a value of type ${type} has no field ${f.name}`);
      visit(f.type, (value as Record<string, unknown>)[f.name], level + 1);
    }
  };
  visit('EIP712Domain', td.domain, 1);
  if (td.primaryType !== 'EIP712Domain') visit(td.primaryType, td.message, 1);
}
