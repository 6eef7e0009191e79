/**
 * `tessera status`: the server's public status. A plain GET (no token, no store) so it works as
 * a reachability check before anything is configured.
 * @module
 */

import type { ErrorBody } from '@tessera/api';
import { ClientError, ServerError } from '@tessera/client';
import type { Command } from 'commander';
import { type ClientFlags, outputOptions, serverOption, serverUrl } from '../connect.ts';
import { type CliIo, Output, table } from '../output.ts';

interface Status {
  version: string;
  uptimeSeconds: number;
  build: { store: string };
  activeSessions: number;
}

export function register(program: Command, io: CliIo): void {
  outputOptions(
    serverOption(program.command('status').description("show the server's status"))
  ).action(async (f: ClientFlags) => {
    const server = serverUrl(f, io.env).replace(/\/+$/, '');
    let res: Response;
    try {
      res = await fetch(`${server}/v1/status`);
    } catch (e) {
      throw new ClientError('TRANSPORT', `cannot reach ${server}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    const body: unknown = await res.json().catch(() => null);
    if (!res.ok) throw new ServerError(res.status, isErrorBody(body) ? body : null);
    if (!isStatus(body)) throw new Error(`${server}/v1/status: not a Tessera status answer`);
    new Output(io, f).result(
      body,
      table([
        ['server', server],
        ['version', body.version],
        ['uptime', `${body.uptimeSeconds} s`],
        ['store', body.build.store],
        ['active sessions', body.activeSessions],
      ])
    );
  });
}

const isErrorBody = (x: unknown): x is ErrorBody =>
  typeof (x as ErrorBody | null)?.error?.code === 'string';
const isStatus = (x: unknown): x is Status =>
  typeof (x as Status | null)?.build?.store === 'string';
