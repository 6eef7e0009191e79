/**
 * Typed data is bounded before it is hashed (docs/security.md A-71): real dApp requests hash as viem hashes
 * them, anything past a limit is refused in time linear in its size, and the domain's chain id is
 * read as viem hashes it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bytesToHex } from '@noble/hashes/utils.js';
import { hashTypedData, type TypedDataDefinition } from 'viem';
import { checkPayloadBounds, type SigningInput, signingInput } from '../src/payload.ts';
import { PayloadError, PayloadTooComplex } from '../src/payload-error.ts';
import {
  baseType,
  TYPED_DATA_LIMITS,
  type TypedDataInput,
  type TypedDataLimit,
} from '../src/typed-data.ts';
import {
  nestedChain,
  permit2Batch,
  seaportBulkOrder,
  seaportOrder,
  uniswapXOrder,
} from './fixtures/typed-data.ts';

const sign = (typedData: TypedDataInput): SigningInput =>
  signingInput('ecdsa', { kind: 'eip712', typedData });

const refusedFor = (limit: TypedDataLimit) => (e: unknown) =>
  e instanceof PayloadTooComplex && e.limit === limit;

const field = (name: string, type: string) => ({ name, type });

describe('typed data within the limits', () => {
  for (const [name, td] of [
    ['a Seaport listing', seaportOrder()],
    ['a Seaport bulk listing of 128 orders', seaportBulkOrder(7)],
    ['a Permit2 batch of 20 tokens', permit2Batch(20)],
    ['a UniswapX order', uniswapXOrder()],
  ] as const) {
    it(`${name} hashes as viem hashes it`, () => {
      const input = sign(td);
      const expected = hashTypedData(td as unknown as TypedDataDefinition);
      assert.equal(`0x${bytesToHex(input.bytes)}`, expected);
      assert.equal(input.chainId, 1);
      assert.equal(input.domainType, 'standard');
      assert.equal(input.blind, false);
    });
  }

  it("a bulk order of the contract's deepest tree (24 levels) is within the depth limit", () => {
    const td = seaportBulkOrder(1);
    td.types.BulkOrder = [field('tree', `OrderComponents${'[2]'.repeat(24)}`)];
    let tree: unknown = (td.message.tree as unknown[])[0];
    for (let i = 0; i < 24; i++) tree = [tree];
    td.message.tree = tree;
    assert.doesNotThrow(() => checkPayloadBounds({ kind: 'eip712', typedData: td }));
  });
});

describe('typed data past a limit is refused before hashing', () => {
  it('the oversized typed-data request (1,000 nested types, 30 values nested 1,000 deep) is refused at once', () => {
    // The walk stops at the type count, before any type string is built or hashed.
    assert.throws(() => sign(nestedChain(1000, 30)), refusedFor('types'));
  });

  it('array suffixes are stripped by a linear scan: `[]`×127 then a name (which a regular expression would backtrack on) is a struct name, not an array', () => {
    const hostile = `${'[]'.repeat(127)}x`;
    assert.equal(baseType(hostile), hostile);
    assert.equal(baseType('Order[2][]'), 'Order');
    assert.equal(baseType('uint8[10][3][]'), 'uint8');
    assert.equal(baseType('a]'), 'a]');
    assert.equal(baseType('[1]x[2]'), '[1]x');
    const td = base(
      Object.fromEntries([['M', Array.from({ length: 900 }, (_, i) => field(`f${i}`, hostile))]]),
      {}
    );
    assert.throws(() => sign(td as TypedDataInput), PayloadError);
  });

  const base = (types: Record<string, unknown>, message: Record<string, unknown>) => ({
    domain: { chainId: 1 },
    types,
    primaryType: 'M',
    message,
  });
  const long = 'x'.repeat(200);
  const cases: [TypedDataLimit, TypedDataInput][] = [
    ['nameLength', base({ M: [field('a'.repeat(257), 'uint8')] }, { ['a'.repeat(257)]: 1 })],
    ['typeDepth', nestedChain(20, 1)],
    ['typeDepth', base({ M: [field('next', 'M[]')] }, { next: [] })],
    ['typeDepth', base({ M: [field('a', 'A')], A: [field('m', 'M[2]')] }, { a: { m: [] } })],
    [
      'valueDepth',
      base(
        { M: [field('xs', `uint8${'[]'.repeat(60)}`)] },
        { xs: JSON.parse(`${'['.repeat(60)}${']'.repeat(60)}`) }
      ),
    ],
    ['arrayLength', base({ M: [field('xs', 'uint8[]')] }, { xs: Array(1025).fill(1) })],
    [
      'structValues',
      base(
        { M: [field('xs', 'E[]'), field('ys', 'E[]')], E: [] },
        {
          xs: Array.from({ length: 1024 }, () => ({})),
          ys: Array.from({ length: 1024 }, () => ({})),
        }
      ),
    ],
    [
      'values',
      base(
        Object.fromEntries([
          ['M', Array.from({ length: 17 }, (_, i) => field(`x${i}`, 'uint8[]'))],
        ]),
        Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`x${i}`, Array(1000).fill(1)]))
      ),
    ],
    [
      'encodedTypeLength',
      base(
        { M: Array.from({ length: 40 }, (_, i) => field(`${long}${i}`, 'uint8')) },
        Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`${long}${i}`, 1]))
      ),
    ],
    [
      // Cheap values of a type whose encodeType is long: each one hashes it again.
      'encodedTypeTotal',
      base(
        {
          M: [field('bs', 'B[]')],
          B: [field('cs', 'C[]')],
          C: Array.from({ length: 7 }, (_, i) => field(`${long}${i}`, 'uint8')),
        },
        { bs: Array.from({ length: 1000 }, () => ({ cs: [] })) }
      ),
    ],
  ];
  for (const [limit, td] of cases)
    it(`${limit} (${TYPED_DATA_LIMITS[limit]})`, () => {
      assert.throws(() => checkPayloadBounds({ kind: 'eip712', typedData: td }), refusedFor(limit));
      assert.throws(() => sign(td), refusedFor(limit), 'signingInput checks the same');
    });

  it('65 struct types', () => {
    const types = Object.fromEntries(
      Array.from({ length: 65 }, (_, i) => [`T${i}`, [field('a', 'uint8')]])
    );
    assert.throws(() => sign(base({ ...types, M: [] }, {})), refusedFor('types'));
  });

  it('a refusal for complexity is still a PayloadError (BAD_PAYLOAD to older callers)', () => {
    assert.throws(() => sign(nestedChain(1000, 1)), PayloadError);
  });

  it('fields read through the prototype chain are refused, not followed', () => {
    // viem would read message.constructor (Object) for a missing field named "constructor", and
    // its constructor, and so on: a walk the bounds would not have counted.
    const protoNames = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', '__proto__'];
    const types: Record<string, unknown> = {};
    for (let i = 0; i < 10; i++)
      types[`T${i}`] = protoNames.map((n) => field(n, i === 9 ? 'uint8' : `T${i + 1}`));
    const td = { domain: {}, types, primaryType: 'T0', message: {} };
    assert.throws(
      () => sign(td),
      (e) => e instanceof PayloadError && /no field constructor/.test(e.message)
    );
    assert.throws(
      () => sign({ ...td, message: 'not an object' as unknown as Record<string, unknown> }),
      (e) => e instanceof PayloadError && /not an object/.test(e.message)
    );
  });

  it('a primary type that is not a defined struct is a PayloadError', () => {
    assert.throws(
      () => sign({ domain: {}, types: {}, primaryType: 'constructor', message: {} }),
      (e) => e instanceof PayloadError && !(e instanceof PayloadTooComplex)
    );
  });
});

describe("the domain's chain id, as viem hashes it", () => {
  const withChain = (chainId: unknown): TypedDataInput => ({
    ...seaportOrder(),
    domain: { ...seaportOrder().domain, chainId },
  });
  const digestOf = (td: TypedDataInput) => bytesToHex(sign(td).bytes);

  it('1, "1", "0x1" and 1n are chain 1, and hash alike', () => {
    const one = digestOf(withChain(1));
    for (const c of ['1', '0x1', 1n]) {
      const input = sign(withChain(c));
      assert.equal(input.chainId, 1, String(c));
      assert.equal(bytesToHex(input.bytes), one, String(c));
    }
  });

  it('absent (or null, which viem leaves out of the domain type): no chain id', () => {
    for (const c of [undefined, null]) {
      const td = withChain(c);
      if (c === undefined) delete td.domain.chainId;
      const input = sign(td);
      assert.equal(input.chainId, undefined);
      assert.equal(
        `0x${bytesToHex(input.bytes)}`,
        hashTypedData(td as unknown as TypedDataDefinition)
      );
    }
  });

  it('what is not a chain id is refused', () => {
    for (const c of [0, -1, 1.5, '', '1.0', '1e0', 'abc', true, [1], {}, 2 ** 53, '9'.repeat(100)])
      assert.throws(() => sign(withChain(c)), PayloadError, JSON.stringify(String(c)));
  });

  it("a request's own EIP712Domain type is standard only when it is the one viem builds", () => {
    const td = seaportOrder();
    const standard = [
      field('name', 'string'),
      field('version', 'string'),
      field('chainId', 'uint256'),
      field('verifyingContract', 'address'),
    ];
    assert.equal(
      sign({ ...td, types: { ...td.types, EIP712Domain: standard } }).domainType,
      'standard'
    );
    for (const custom of [
      standard.filter((f) => f.name !== 'chainId'),
      [...standard].reverse(),
      standard.map((f) => (f.name === 'chainId' ? field('chainId', 'uint64') : f)),
    ])
      assert.equal(
        sign({ ...td, types: { ...td.types, EIP712Domain: custom } }).domainType,
        'custom',
        JSON.stringify(custom)
      );
    // A renamed field: chain 1 for the policy to read, chain 5 under a renamed field hashed.
    const renamed = sign({
      ...td,
      domain: { ...td.domain, chainID: 5 },
      types: {
        ...td.types,
        EIP712Domain: standard.map((f) => (f.name === 'chainId' ? field('chainID', 'uint256') : f)),
      },
    });
    assert.equal(renamed.domainType, 'custom');
  });
});
