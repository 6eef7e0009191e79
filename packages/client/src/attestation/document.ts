/**
 * Decoding a Nitro attestation document: a COSE_Sign1 structure (RFC 9052) whose payload is a CBOR
 * map of AWS-defined fields. Decoding is strict on purpose: an attacker who controls the bytes
 * should find exactly one reading of them. `cborg` refuses duplicate map keys, integers and lengths
 * not in their shortest form, indefinite lengths, `undefined` and every tag, and a token filter
 * here refuses floats; the COSE tag 18 is allowed only as the outermost item, and is stripped here
 * before decoding.
 *
 * Every AWS content rule is checked here, before any signature: field types, `digest` = SHA384,
 * PCR indexes and lengths, certificate and field lengths. Unknown payload fields are refused: a
 * field we do not understand is not a field we can vouch for.
 * @module
 */
import { bytesToHex } from '@noble/hashes/utils.js';
import { decode, encode, Tokenizer, Type } from 'cborg';
import { AttestationError } from './errors.ts';

/** The largest document accepted (the payload alone is at most 16 KiB by the AWS rules). */
export const MAX_DOCUMENT_BYTES = 20 * 1024;
const COSE_SIGN1_TAG = 0xd2; // CBOR major type 6 (tag), value 18, in one byte
const ES384 = -35;
const P384_SIGNATURE_BYTES = 96;
const MAX_PAYLOAD_BYTES = 16384;
const MAX_CERT_BYTES = 1024;
const MAX_CABUNDLE = 16;
/** AWS's CDDL bound for `public_key`, `user_data` and `nonce` (real documents reach it). */
const MAX_FIELD_BYTES = 1024;
const MAX_MODULE_ID = 256;
/** A SHA-384 PCR; the document's `digest` is always SHA384. */
const PCR_BYTES = 48;
const MAX_PCRS = 32;

const STRICT = {
  strict: true,
  rejectDuplicateMapKeys: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowInfinity: false,
  allowNaN: false,
  allowBigInt: false,
  useMaps: true,
} as const;

/** The fields of a Nitro attestation document, decoded and checked against the AWS rules. */
export interface NitroDocument {
  moduleId: string;
  /** Milliseconds since the Unix epoch, as the Nitro hypervisor's clock read it. */
  timestamp: number;
  /** PCR index → 48-byte value. */
  pcrs: Map<number, Uint8Array>;
  /** The leaf certificate (DER), whose key signed the document. */
  certificate: Uint8Array;
  /** The CA bundle, root first. */
  cabundle: Uint8Array[];
  publicKey: Uint8Array | null;
  userData: Uint8Array | null;
  nonce: Uint8Array | null;
}

/** A decoded COSE_Sign1 with the bytes its signature covers. */
export interface CoseSign1 {
  protectedHeader: Uint8Array;
  payload: Uint8Array;
  signature: Uint8Array;
  document: NitroDocument;
}

const format = (message: string, cause?: unknown): AttestationError =>
  new AttestationError('ATTESTATION_FORMAT', message, cause === undefined ? {} : { cause });

/**
 * Decodes with `STRICT`, refusing floating-point numbers too: a Nitro document has none, and an
 * integer written as a float (`1.0` for `1`) would be a second reading of the same value.
 */
function strictDecode(bytes: Uint8Array, what: string): unknown {
  const inner = new Tokenizer(bytes, STRICT);
  const tokenizer = {
    done: () => inner.done(),
    pos: () => inner.pos(),
    next: () => {
      const token = inner.next();
      if (token.type === Type.float) throw new Error('a floating-point number');
      return token;
    },
  };
  try {
    return decode(bytes, { ...STRICT, tokenizer });
  } catch (e) {
    throw format(`${what} is not strict CBOR: ${(e as Error).message}`, e);
  }
}

function bytesField(v: unknown, name: string, min: number, max: number): Uint8Array {
  if (!(v instanceof Uint8Array)) throw format(`${name} must be a byte string`);
  if (v.length < min || v.length > max)
    throw format(`${name} has ${v.length} bytes, allowed ${min}..${max}`);
  return v;
}

function optionalBytes(v: unknown, name: string, max: number): Uint8Array | null {
  return v === undefined || v === null ? null : bytesField(v, name, 0, max);
}

/** Decodes COSE_Sign1 (tagged or untagged) and its Nitro payload; checks every AWS field rule. */
export function decodeCoseSign1(bytes: Uint8Array): CoseSign1 {
  if (bytes.length === 0 || bytes.length > MAX_DOCUMENT_BYTES)
    throw format(`the document has ${bytes.length} bytes, allowed 1..${MAX_DOCUMENT_BYTES}`);
  const body = bytes[0] === COSE_SIGN1_TAG ? bytes.subarray(1) : bytes;
  const outer = strictDecode(body, 'the document');
  if (!Array.isArray(outer) || outer.length !== 4)
    throw format('the document is not a COSE_Sign1 array of four items');
  const [protectedHeader, unprotected, payload, signature] = outer as unknown[];
  bytesField(protectedHeader, 'the protected header', 1, 64);
  const header = strictDecode(protectedHeader as Uint8Array, 'the protected header');
  if (!(header instanceof Map) || header.size !== 1 || header.get(1) !== ES384)
    throw format('the protected header must be exactly {1: -35} (ES384)');
  if (!(unprotected instanceof Map) || unprotected.size !== 0)
    throw format('the unprotected header must be an empty map');
  bytesField(payload, 'the payload', 1, MAX_PAYLOAD_BYTES);
  bytesField(signature, 'the signature', P384_SIGNATURE_BYTES, P384_SIGNATURE_BYTES);
  return {
    protectedHeader: protectedHeader as Uint8Array,
    payload: payload as Uint8Array,
    signature: signature as Uint8Array,
    document: decodePayload(payload as Uint8Array),
  };
}

const FIELDS = new Set([
  'module_id',
  'digest',
  'timestamp',
  'pcrs',
  'certificate',
  'cabundle',
  'public_key',
  'user_data',
  'nonce',
]);

function decodePayload(payload: Uint8Array): NitroDocument {
  const m = strictDecode(payload, 'the payload');
  if (!(m instanceof Map)) throw format('the payload is not a map');
  for (const k of m.keys()) {
    if (typeof k !== 'string' || !FIELDS.has(k))
      throw format(`the payload has an unknown field ${JSON.stringify(String(k)).slice(0, 40)}`);
  }
  const moduleId = m.get('module_id');
  if (typeof moduleId !== 'string' || moduleId.length === 0 || moduleId.length > MAX_MODULE_ID)
    throw format('module_id must be a non-empty text string');
  if (m.get('digest') !== 'SHA384') throw format('digest must be "SHA384"');
  const timestamp = m.get('timestamp');
  if (typeof timestamp !== 'number' || !Number.isSafeInteger(timestamp) || timestamp <= 0)
    throw format('timestamp must be a positive integer (ms)');
  const pcrs = m.get('pcrs');
  if (!(pcrs instanceof Map) || pcrs.size < 1 || pcrs.size > MAX_PCRS)
    throw format(`pcrs must be a map of 1..${MAX_PCRS} entries`);
  const pcrMap = new Map<number, Uint8Array>();
  for (const [index, value] of pcrs) {
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= MAX_PCRS)
      throw format('a PCR index must be an integer in 0..31');
    pcrMap.set(index, bytesField(value, `PCR${index}`, PCR_BYTES, PCR_BYTES));
  }
  const certificate = bytesField(m.get('certificate'), 'certificate', 1, MAX_CERT_BYTES);
  const cabundle = m.get('cabundle');
  if (!Array.isArray(cabundle) || cabundle.length < 1 || cabundle.length > MAX_CABUNDLE)
    throw format(`cabundle must be an array of 1..${MAX_CABUNDLE} certificates`);
  return {
    moduleId,
    timestamp,
    pcrs: pcrMap,
    certificate,
    cabundle: cabundle.map((c, i) => bytesField(c, `cabundle[${i}]`, 1, MAX_CERT_BYTES)),
    publicKey: (() => {
      const k = optionalBytes(m.get('public_key'), 'public_key', MAX_FIELD_BYTES);
      if (k && k.length === 0) throw format('public_key must not be empty');
      return k;
    })(),
    userData: optionalBytes(m.get('user_data'), 'user_data', MAX_FIELD_BYTES),
    nonce: optionalBytes(m.get('nonce'), 'nonce', MAX_FIELD_BYTES),
  };
}

/** The COSE Sig_structure for Signature1 with no external data: the bytes ES384 signs. */
export function sigStructure(c: CoseSign1): Uint8Array {
  return encode(['Signature1', c.protectedHeader, new Uint8Array(0), c.payload]);
}

/** The PCRs as the JSON answer shows them: index → hex. */
export function pcrsToHex(pcrs: Map<number, Uint8Array>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [i, v] of [...pcrs].sort((a, b) => a[0] - b[0])) out[String(i)] = bytesToHex(v);
  return out;
}
