/**
 * `tessera attest verify`: checks an AWS Nitro Enclave attestation document offline, as the client
 * SDK does before it trusts a server (docs/attestation.md). Prints the document's contents with
 * `"valid": true`, or the refusal's code and exit code 1. Useful to audit a document a server
 * handed out, or to read the PCRs of a freshly built enclave image.
 * @module
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { PINNABLE_PCRS, verifyAttestation } from '@tessera/client';
import { TesseraError } from '@tessera/core';
import { type Command, InvalidArgumentError } from 'commander';
import { outputOptions } from '../connect.ts';
import { type CliIo, Output, type OutputFlags, table } from '../output.ts';
import { hexArg } from './parse.ts';

/** A document is at most 20 KiB; its base64 a third more, plus line breaks. */
const MAX_FILE_BYTES = 64 * 1024;

interface VerifyFlags extends OutputFlags {
  doc: string;
  at?: number;
  nonce?: string;
  userData?: string;
  maxAge?: number;
  [pcr: `pcr${number}`]: string | undefined;
}

/**
 * `--at`: unix seconds (a fraction allowed) or an ISO 8601 time with its zone (`Z` or an offset:
 * a time without one would be read in the local zone); the answer is in ms.
 */
export function timeArg(value: string): number {
  if (/^\d{1,12}(\.\d{1,3})?$/.test(value)) return Math.round(Number(value) * 1000);
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(value)) {
    const t = Date.parse(value);
    if (Number.isFinite(t)) return t;
  }
  throw new InvalidArgumentError(
    'expected unix seconds or an ISO time with its zone (2024-09-07T14:37:39Z)'
  );
}

function secondsArg(value: string): number {
  if (!/^\d{1,9}$/.test(value)) throw new InvalidArgumentError('expected whole seconds');
  return Number(value) * 1000;
}

/** The file's bytes: the raw document, or its base64 (a raw document never starts with text). */
export function readDocument(path: string): Uint8Array {
  let bytes: Buffer;
  try {
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size > MAX_FILE_BYTES)
        throw new TesseraError('BAD_DOCUMENT', `${path} has ${size} bytes, more than a document`);
      bytes = Buffer.alloc(size);
      readSync(fd, bytes, 0, size, 0);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    if (e instanceof TesseraError) throw e;
    throw new TesseraError('BAD_DOCUMENT', `cannot read ${path}: ${(e as Error).message}`);
  }
  const text = bytes.toString('latin1').trim();
  if (/^[A-Za-z0-9+/=\s_-]+$/.test(text)) {
    const compact = text.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(compact))
      throw new TesseraError('BAD_DOCUMENT', `${path} is neither a document nor its base64`);
    return new Uint8Array(Buffer.from(compact, /[-_]/.test(compact) ? 'base64url' : 'base64'));
  }
  return new Uint8Array(bytes);
}

export function register(program: Command, io: CliIo): void {
  const attest = program
    .command('attest')
    .description('AWS Nitro Enclave attestation documents (docs/attestation.md)');

  const verify = attest
    .command('verify')
    .description('verify a Nitro attestation document: AWS chain, signature, pinned PCRs, nonce')
    .requiredOption('--doc <file>', 'the document: its raw bytes or their base64')
    .option('--at <time>', 'verify at this time: unix seconds or ISO 8601 (default now)', timeArg)
    .option('--nonce <hex>', 'the nonce the document must carry', hexArg())
    .option('--user-data <hex>', 'the user_data the document must carry', hexArg())
    .option('--max-age <seconds>', 'refuse a document older than this at --at', secondsArg);
  for (const i of PINNABLE_PCRS)
    verify.option(`--pcr${i} <hex>`, `the expected PCR${i} (48 bytes)`, hexArg(48));

  outputOptions(verify).action(async (f: VerifyFlags) => {
    const pcrs: Record<number, string> = {};
    for (const i of PINNABLE_PCRS) {
      const v = f[`pcr${i}`];
      if (v !== undefined) pcrs[i] = v;
    }
    const result = await verifyAttestation(readDocument(f.doc), {
      now: f.at ?? Date.now(),
      pcrs,
      ...(f.nonce === undefined ? {} : { nonce: f.nonce }),
      ...(f.userData === undefined ? {} : { userData: f.userData }),
      ...(f.maxAge === undefined ? {} : { maxAgeMs: f.maxAge }),
    });
    const short = (h: string | null) =>
      h === null ? '-' : h.length > 64 ? `${h.slice(0, 64)}…` : h;
    new Output(io, f).result(
      result,
      table([
        ['valid', 'yes'],
        ['module', result.moduleId],
        ['timestamp', `${new Date(result.timestamp).toISOString()} (${result.timestamp})`],
        ...Object.entries(result.pcrs).map(([i, v]): [string, string] => [`pcr${i}`, v]),
        ['user data', short(result.userData)],
        ['nonce', short(result.nonce)],
        ['public key', short(result.publicKey)],
      ])
    );
  });
}
