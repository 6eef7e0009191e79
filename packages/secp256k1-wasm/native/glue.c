/*
 * The WebAssembly module of @tessera/secp256k1-wasm: libsecp256k1 v0.2.0 (Debian's source
 * package, built by native/build.sh) with four exported calls on one shared I/O area, each
 * returning whether the library accepted its input. No imports: the module reaches nothing
 * outside its own memory.
 *
 * Only constant-time entry points see a secret scalar (file:line in libsecp256k1 v0.2.0):
 * - mul_base  -> secp256k1_ec_pubkey_create (src/secp256k1.c:571), which calls
 *   secp256k1_ecmult_gen (src/secp256k1.c:566), blinded by the context randomised at load;
 * - mul_point -> secp256k1_ecdh (src/modules/ecdh/main_impl.h:29), which calls
 *   secp256k1_ecmult_const (main_impl.h:53); the "hash" below copies the shared point out.
 * decode parses public bytes (secp256k1_ec_pubkey_parse, src/secp256k1.c:248). The variable-time
 * secp256k1_ec_pubkey_tweak_mul (src/secp256k1.c:703) is not called, so the linker drops it.
 *
 * The secret scalar is wiped from the I/O area after each call; the caller copies a
 * Diffie-Hellman result out and wipes it too.
 */
#include <secp256k1.h>
#include <secp256k1_ecdh.h>
#include <string.h>

/* The I/O area: a 32-byte scalar (or seed), a 65-byte input point, a 65-byte output point. */
#define IO_SCALAR 0
#define IO_POINT_IN 32
#define IO_POINT_OUT 97
static unsigned char io[32 + 65 + 65];

static secp256k1_context *ctx;

/* The library's callbacks fire only on API misuse or an internal fault: stop the module. */
void secp256k1_default_illegal_callback_fn(const char *str, void *data) {
  (void)str;
  (void)data;
  __builtin_trap();
}
void secp256k1_default_error_callback_fn(const char *str, void *data) {
  (void)str;
  (void)data;
  __builtin_trap();
}

__attribute__((export_name("io"))) unsigned char *io_area(void) { return io; }

/* init(): creates the context; then randomize() with a seed at IO_SCALAR. */
__attribute__((export_name("init"))) int init(void) {
  if (ctx == NULL) ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
  return ctx != NULL;
}

__attribute__((export_name("randomize"))) int randomize(void) {
  int ok = secp256k1_context_randomize(ctx, io + IO_SCALAR);
  memset(io + IO_SCALAR, 0, 32);
  return ok;
}

static void put_uncompressed(const secp256k1_pubkey *p) {
  size_t len = 65;
  secp256k1_ec_pubkey_serialize(ctx, io + IO_POINT_OUT, &len, p, SECP256K1_EC_UNCOMPRESSED);
}

/* s·G through secp256k1_ec_pubkey_create. */
__attribute__((export_name("mul_base"))) int mul_base(void) {
  secp256k1_pubkey p;
  int ok = secp256k1_ec_pubkey_create(ctx, &p, io + IO_SCALAR);
  memset(io + IO_SCALAR, 0, 32);
  if (ok) put_uncompressed(&p);
  return ok;
}

/* The ECDH "hash": the shared point itself, so that callers hash it as they choose. */
static int copy_point(unsigned char *out, const unsigned char *x, const unsigned char *y, void *data) {
  (void)data;
  out[0] = 0x04;
  memcpy(out + 1, x, 32);
  memcpy(out + 33, y, 32);
  return 1;
}

/* s·P through secp256k1_ecdh; P is 65 uncompressed bytes at IO_POINT_IN. */
__attribute__((export_name("mul_point"))) int mul_point(void) {
  secp256k1_pubkey p;
  int ok = secp256k1_ec_pubkey_parse(ctx, &p, io + IO_POINT_IN, 65) &&
           secp256k1_ecdh(ctx, io + IO_POINT_OUT, &p, io + IO_SCALAR, copy_point, NULL);
  memset(io + IO_SCALAR, 0, 32);
  return ok;
}

/* Parses 33 compressed bytes at IO_POINT_IN and writes the point uncompressed. */
__attribute__((export_name("decode"))) int decode(void) {
  secp256k1_pubkey p;
  int ok = secp256k1_ec_pubkey_parse(ctx, &p, io + IO_POINT_IN, 33);
  if (ok) put_uncompressed(&p);
  return ok;
}
