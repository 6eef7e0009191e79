/** The package's one error. */
import { TesseraError } from '@tessera/core';

/** A backend or its worker threads cannot be loaded or used (code `BACKEND_UNAVAILABLE`). */
export class BackendUnavailable extends TesseraError {
  override name = 'BackendUnavailable';
  constructor(message: string, cause?: unknown) {
    super('BACKEND_UNAVAILABLE', message, {
      cause,
      hints: [
        'reinstall with build tools present (python3, make, a C++ compiler) so npm can compile the secp256k1 addon',
        'or choose the pure-JS backend explicitly: TESSERA_SECP256K1=noble',
      ],
    });
  }
}
