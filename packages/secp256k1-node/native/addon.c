/*
 * The N-API addon of @tessera/secp256k1-node: three calls into the system's libsecp256k1
 * (0.2.0 or later), each on caller-owned buffers, returning whether the library accepted the
 * input. Only constant-time entry points see a secret scalar: secp256k1_ec_pubkey_create
 * (ecmult_gen) and secp256k1_ecdh (ecmult_const). secp256k1_ec_pubkey_tweak_mul (the
 * variable-time ecmult) is not used.
 *
 * One library context per JavaScript environment (main thread or worker), randomised with
 * 32 bytes the JavaScript side draws from the platform CSPRNG.
 */
#include <node_api.h>
#include <secp256k1.h>
#include <secp256k1_ecdh.h>
#include <string.h>

#define THROW_IF(cond, msg)                          \
  do {                                               \
    if (cond) {                                      \
      napi_throw_type_error(env, NULL, msg);         \
      return NULL;                                   \
    }                                                \
  } while (0)

/* A Uint8Array argument of exactly `len` bytes, or NULL after throwing. */
static unsigned char *bytes_arg(napi_env env, napi_value v, size_t len) {
  bool is;
  napi_typedarray_type type;
  size_t n;
  void *data;
  napi_value buf;
  size_t off;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return NULL;
  if (napi_get_typedarray_info(env, v, &type, &n, &data, &buf, &off) != napi_ok) return NULL;
  if (type != napi_uint8_array || n != len) return NULL;
  return (unsigned char *)data;
}

static napi_value boolean(napi_env env, int ok) {
  napi_value r;
  napi_get_boolean(env, ok != 0, &r);
  return r;
}

static secp256k1_context *context_of(napi_env env) {
  void *ctx = NULL;
  napi_get_instance_data(env, &ctx);
  return (secp256k1_context *)ctx;
}

/* Serialises a point as 65 uncompressed bytes. */
static void put_uncompressed(const secp256k1_context *ctx, unsigned char *out, const secp256k1_pubkey *p) {
  size_t len = 65;
  secp256k1_ec_pubkey_serialize(ctx, out, &len, p, SECP256K1_EC_UNCOMPRESSED);
}

/* randomize(seed32): blinding of the fixed-base multiplication (secp256k1_context_randomize). */
static napi_value randomize(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  unsigned char *seed = argc == 1 ? bytes_arg(env, argv[0], 32) : NULL;
  THROW_IF(seed == NULL, "randomize(seed): seed must be a 32-byte Uint8Array");
  return boolean(env, secp256k1_context_randomize(context_of(env), seed));
}

/* mulBase(scalar32, out65): s·G through secp256k1_ec_pubkey_create. */
static napi_value mul_base(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  unsigned char *s = argc == 2 ? bytes_arg(env, argv[0], 32) : NULL;
  unsigned char *out = argc == 2 ? bytes_arg(env, argv[1], 65) : NULL;
  THROW_IF(s == NULL || out == NULL, "mulBase(scalar, out): 32 and 65 bytes");
  secp256k1_context *ctx = context_of(env);
  secp256k1_pubkey p;
  int ok = secp256k1_ec_pubkey_create(ctx, &p, s);
  if (ok) put_uncompressed(ctx, out, &p);
  return boolean(env, ok);
}

/* The ECDH "hash": the shared point itself, x ‖ y, so that callers hash it as they choose. */
static int copy_point(unsigned char *out, const unsigned char *x, const unsigned char *y, void *data) {
  (void)data;
  out[0] = 0x04;
  memcpy(out + 1, x, 32);
  memcpy(out + 33, y, 32);
  return 1;
}

/* mulPoint(point65, scalar32, out65): s·P through secp256k1_ecdh. */
static napi_value mul_point(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  unsigned char *pt = argc == 3 ? bytes_arg(env, argv[0], 65) : NULL;
  unsigned char *s = argc == 3 ? bytes_arg(env, argv[1], 32) : NULL;
  unsigned char *out = argc == 3 ? bytes_arg(env, argv[2], 65) : NULL;
  THROW_IF(pt == NULL || s == NULL || out == NULL, "mulPoint(point, scalar, out): 65, 32 and 65 bytes");
  secp256k1_context *ctx = context_of(env);
  secp256k1_pubkey p;
  if (!secp256k1_ec_pubkey_parse(ctx, &p, pt, 65)) return boolean(env, 0);
  return boolean(env, secp256k1_ecdh(ctx, out, &p, s, copy_point, NULL));
}

/* decode(compressed33, out65): parse and re-serialise a public point. */
static napi_value decode(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  unsigned char *in = argc == 2 ? bytes_arg(env, argv[0], 33) : NULL;
  unsigned char *out = argc == 2 ? bytes_arg(env, argv[1], 65) : NULL;
  THROW_IF(in == NULL || out == NULL, "decode(compressed, out): 33 and 65 bytes");
  secp256k1_context *ctx = context_of(env);
  secp256k1_pubkey p;
  int ok = secp256k1_ec_pubkey_parse(ctx, &p, in, 33);
  if (ok) put_uncompressed(ctx, out, &p);
  return boolean(env, ok);
}

static void destroy_context(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  secp256k1_context_destroy((secp256k1_context *)data);
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
  if (ctx == NULL) {
    napi_throw_error(env, NULL, "secp256k1_context_create failed");
    return NULL;
  }
  napi_set_instance_data(env, ctx, destroy_context, NULL);
  napi_property_descriptor fns[] = {
      {"randomize", NULL, randomize, NULL, NULL, NULL, napi_default, NULL},
      {"mulBase", NULL, mul_base, NULL, NULL, NULL, napi_default, NULL},
      {"mulPoint", NULL, mul_point, NULL, NULL, NULL, napi_default, NULL},
      {"decode", NULL, decode, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns);
  return exports;
}
