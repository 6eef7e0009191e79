/**
 * The certificate chain of a Nitro document: `cabundle` (root first) followed by the leaf, checked
 * against the pinned AWS root. Parsing uses `@peculiar/asn1-x509`; a certificate is accepted only
 * if re-encoding it gives back its exact bytes, so the signed `tbsCertificate` is unambiguous (DER,
 * not some BER variant the signature check and the field reads could disagree on).
 *
 * Signatures are checked with WebCrypto (ECDSA P-384, SHA-384), in the browser as in Node. The
 * chain's signatures depend only on its bytes, so a verified chain is cached by their hash; the
 * validity dates are checked against `now` on every call, cached or not.
 * @module
 */

import { equalBytes } from '@noble/curves/utils.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes } from '@noble/hashes/utils.js';
import { ECDSASigValue, ECParameters } from '@peculiar/asn1-ecc';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  BasicConstraints,
  Certificate,
  id_ce_basicConstraints,
  id_ce_keyUsage,
  KeyUsage,
  KeyUsageFlags,
} from '@peculiar/asn1-x509';
import { AWS_NITRO_ROOT_BASE64, AWS_NITRO_ROOT_SHA256 } from './aws-root.ts';
import { AttestationError } from './errors.ts';

const ECDSA_WITH_SHA384 = '1.2.840.10045.4.3.3';
const EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const SECP384R1 = '1.3.132.0.34';
const P384 = { name: 'ECDSA', namedCurve: 'P-384' } as const;
const ES384_VERIFY = { name: 'ECDSA', hash: 'SHA-384' } as const;
const CACHE_SIZE = 32;
/** WebCrypto's key type, named without the DOM library (Node and browsers have the same). */
type CryptoKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;

const chainError = (message: string, cause?: unknown): AttestationError =>
  new AttestationError('ATTESTATION_CHAIN', message, cause === undefined ? {} : { cause });

/** A trusted root: its DER. The default is AWS's, checked against its pinned fingerprint. */
export interface TrustAnchor {
  der: Uint8Array;
}

/** A root given as base64 DER, refused unless its SHA-256 is `fingerprint` (hex). */
export function checkedRoot(base64: string, fingerprint: string): TrustAnchor {
  const der = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  if (bytesToHex(sha256(der)) !== fingerprint)
    throw new AttestationError(
      'ATTESTATION_ROOT',
      'the AWS Nitro root certificate this build carries does not match its pinned SHA-256 fingerprint'
    );
  return { der };
}

let awsRoot: TrustAnchor | null = null;

/** The AWS Nitro root, checked against `AWS_NITRO_ROOT_SHA256` on first use. */
export function awsNitroRoot(): TrustAnchor {
  awsRoot ??= checkedRoot(AWS_NITRO_ROOT_BASE64, AWS_NITRO_ROOT_SHA256);
  return awsRoot;
}

interface ParsedCert {
  der: Uint8Array;
  cert: Certificate;
  tbs: Uint8Array;
  notBefore: number;
  notAfter: number;
  subject: Uint8Array;
  issuer: Uint8Array;
  ca: boolean;
  pathLen: number | undefined;
  keyUsage: number | undefined;
}

function parseCert(der: Uint8Array, what: string): ParsedCert {
  let cert: Certificate;
  try {
    cert = AsnConvert.parse(der, Certificate);
  } catch (e) {
    throw chainError(`${what} is not an X.509 certificate`, e);
  }
  if (!equalBytes(new Uint8Array(AsnConvert.serialize(cert)), der))
    throw chainError(`${what} is not in canonical DER`);
  const tbs = cert.tbsCertificate;
  if (tbs.version !== 2) throw chainError(`${what} is not an X.509 v3 certificate`);
  if (
    cert.signatureAlgorithm.algorithm !== ECDSA_WITH_SHA384 ||
    tbs.signature.algorithm !== ECDSA_WITH_SHA384
  )
    throw chainError(`${what} is not signed with ecdsa-with-SHA384`);
  let ca = false;
  let pathLen: number | undefined;
  let keyUsage: number | undefined;
  for (const ext of tbs.extensions ?? []) {
    try {
      if (ext.extnID === id_ce_basicConstraints) {
        const bc = AsnConvert.parse(ext.extnValue, BasicConstraints);
        ca = bc.cA;
        pathLen = bc.pathLenConstraint;
      } else if (ext.extnID === id_ce_keyUsage) {
        keyUsage = AsnConvert.parse(ext.extnValue, KeyUsage).toNumber();
      } else if (ext.critical) {
        throw chainError(`${what} has a critical extension ${ext.extnID} this verifier ignores`);
      }
    } catch (e) {
      if (e instanceof AttestationError) throw e;
      throw chainError(`${what} has a malformed extension ${ext.extnID}`, e);
    }
  }
  return {
    der,
    cert,
    tbs: new Uint8Array(AsnConvert.serialize(tbs)),
    notBefore: tbs.validity.notBefore.getTime().getTime(),
    notAfter: tbs.validity.notAfter.getTime().getTime(),
    subject: new Uint8Array(AsnConvert.serialize(tbs.subject)),
    issuer: new Uint8Array(AsnConvert.serialize(tbs.issuer)),
    ca,
    pathLen,
    keyUsage,
  };
}

/** The P-384 public key of a certificate, imported for WebCrypto. */
async function p384Key(c: ParsedCert, what: string): Promise<CryptoKey> {
  const spki = c.cert.tbsCertificate.subjectPublicKeyInfo;
  const params = spki.algorithm.parameters;
  const curve = params ? AsnConvert.parse(params, ECParameters).namedCurve : undefined;
  if (spki.algorithm.algorithm !== EC_PUBLIC_KEY || curve !== SECP384R1)
    throw chainError(`${what} does not hold a P-384 key`);
  try {
    return await crypto.subtle.importKey('spki', AsnConvert.serialize(spki), P384, false, [
      'verify',
    ]);
  } catch (e) {
    throw chainError(`${what} holds a malformed P-384 key`, e);
  }
}

/** An X.509 ECDSA signature (DER `SEQUENCE { r, s }`) as WebCrypto's fixed-width `r ‖ s`. */
function rawSignature(der: ArrayBuffer, size: number): Uint8Array {
  const sig = AsnConvert.parse(der, ECDSASigValue);
  const fixed = (v: ArrayBuffer): Uint8Array => {
    let b = new Uint8Array(v);
    while (b.length > size && b[0] === 0) b = b.subarray(1);
    if (b.length > size) throw new Error('an ECDSA signature component is too long');
    const out = new Uint8Array(size);
    out.set(b, size - b.length);
    return out;
  };
  return concatBytes(fixed(sig.r), fixed(sig.s));
}

async function signedBy(child: ParsedCert, issuerKey: CryptoKey, what: string): Promise<void> {
  let ok = false;
  try {
    ok = await crypto.subtle.verify(
      ES384_VERIFY,
      issuerKey,
      new Uint8Array(rawSignature(child.cert.signatureValue, 48)),
      new Uint8Array(child.tbs)
    );
  } catch (e) {
    throw chainError(`${what}'s signature is malformed`, e);
  }
  if (!ok) throw chainError(`${what} is not signed by its issuer`);
}

/** A chain whose signatures and CA rules were checked: what a cached entry holds. */
interface VerifiedChain {
  certs: ParsedCert[];
  leafKey: CryptoKey;
}

const cache = new Map<string, VerifiedChain>();

/**
 * Checks `cabundle ‖ leaf` against `root`: the first bundle entry is the root itself, each
 * certificate is issued (names match) and signed by the one before it, CAs carry cA and
 * keyCertSign and respect their path length, the leaf is not a CA and may sign. Returns the
 * leaf's key. Validity dates are checked separately by `assertValidAt`, so a cached chain is still
 * refused once a certificate has expired.
 */
export async function verifyChain(
  cabundle: readonly Uint8Array[],
  leaf: Uint8Array,
  root: TrustAnchor,
  useCache = true
): Promise<{ leafKey: CryptoKey; validity: Array<[number, number]> }> {
  // Each certificate hashed on its own: the same bytes cut differently are another chain.
  const id = bytesToHex(
    sha256(concatBytes(...[root.der, ...cabundle, leaf].map((c) => sha256(c))))
  );
  let chain = useCache ? cache.get(id) : undefined;
  if (!chain) {
    chain = await buildChain(cabundle, leaf, root);
    if (useCache) {
      if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value as string);
      cache.set(id, chain);
    }
  }
  return { leafKey: chain.leafKey, validity: chain.certs.map((c) => [c.notBefore, c.notAfter]) };
}

async function buildChain(
  cabundle: readonly Uint8Array[],
  leafDer: Uint8Array,
  root: TrustAnchor
): Promise<VerifiedChain> {
  if (!equalBytes(cabundle[0] ?? new Uint8Array(0), root.der))
    throw chainError('the CA bundle does not start with the pinned AWS Nitro root');
  const certs = cabundle.map((c, i) => parseCert(c, i === 0 ? 'the root' : `cabundle[${i}]`));
  const leaf = parseCert(leafDer, 'the leaf certificate');
  const all = [...certs, leaf];
  const [first] = certs as [ParsedCert];
  if (!equalBytes(first.subject, first.issuer)) throw chainError('the root is not self-issued');
  let issuerKey = await p384Key(first, 'the root');
  await signedBy(first, issuerKey, 'the root');
  for (let i = 0; i < all.length; i++) {
    const c = all[i] as ParsedCert;
    const what = i === 0 ? 'the root' : i === all.length - 1 ? 'the leaf' : `cabundle[${i}]`;
    const isLeaf = i === all.length - 1;
    if (isLeaf) {
      if (c.ca) throw chainError('the leaf certificate is a CA');
      if (c.keyUsage !== undefined && !(c.keyUsage & KeyUsageFlags.digitalSignature))
        throw chainError('the leaf certificate may not sign (keyUsage)');
    } else {
      if (!c.ca) throw chainError(`${what} is not a CA (basicConstraints)`);
      if (c.keyUsage === undefined || !(c.keyUsage & KeyUsageFlags.keyCertSign))
        throw chainError(`${what} may not sign certificates (keyUsage)`);
      // Intermediate CAs below this one, not counting the leaf (RFC 5280 §4.2.1.9).
      const below = all.length - 2 - i;
      if (c.pathLen !== undefined && below > c.pathLen)
        throw chainError(
          `${what} allows ${c.pathLen} intermediates below it, the chain has ${below}`
        );
    }
    if (i > 0) {
      const parent = all[i - 1] as ParsedCert;
      if (!equalBytes(c.issuer, parent.subject))
        throw chainError(`${what} is not issued by the certificate before it`);
      await signedBy(c, issuerKey, what);
      issuerKey = await p384Key(c, what);
    }
  }
  return { certs: all, leafKey: issuerKey };
}

/** Refuses the chain unless every certificate is valid at `now` (ms). */
export function assertValidAt(validity: Array<[number, number]>, now: number): void {
  validity.forEach(([from, to], i) => {
    if (now < from || now > to) {
      const which =
        i === 0 ? 'the root' : i === validity.length - 1 ? 'the leaf' : `cabundle[${i}]`;
      throw new AttestationError(
        'ATTESTATION_EXPIRED',
        `${which} certificate is valid ${new Date(from).toISOString()} to ${new Date(to).toISOString()}, not at ${new Date(now).toISOString()}`
      );
    }
  });
}

/** Forgets every cached chain (benchmarks measure the cold path with it). */
export function clearChainCache(): void {
  cache.clear();
}
