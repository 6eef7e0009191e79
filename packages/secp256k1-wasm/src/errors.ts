/** The one error of the secp256k1 backend packages (this one and @tessera/secp256k1-node). */
import { TesseraError } from '@tessera/core';

/** A backend, or worker threads for it, cannot be loaded or used (code `BACKEND_UNAVAILABLE`). */
export class BackendUnavailable extends TesseraError {
  override name = 'BackendUnavailable';
  constructor(message: string, cause?: unknown, hints: string[] = []) {
    super('BACKEND_UNAVAILABLE', message, { cause, hints });
  }
}
