# syntax=docker/dockerfile:1
#
# The co-signing server for an AWS Nitro Enclave (docs/enclave.md): the server image plus socat,
# AWS's kmstool_enclave_cli, an NSM helper and the start-up script. nitro-cli turns the image into
# an enclave image file (EIF) whose PCR0 the KMS key policy and the clients pin.
#
# NOT BUILT OR RUN HERE: Docker cannot run on the machine this file was written on, CI builds no
# images and runs no enclave. deploy/run-enclave.sh builds it on the parent host:
#
#   docker build -f deploy/Dockerfile --target server -t tessera-server:local .
#   docker build -f deploy/enclave.Dockerfile --build-arg KMS_KEY_ARN=arn:aws:kms:REGION:ACCOUNT:key/ID \
#     -t tessera-enclave:local .
#
# Inputs that are not in this repository, to be placed in deploy/enclave/ before the build (the
# build fails without them):
#   jwks.json                    your token issuer's public keys (server.yaml, auth.jwksFile)
#   bin/kmstool_enclave_cli      AWS's KMS client for enclaves, and the library it loads, both
#   bin/libnsm.so                from bin/kmstool-enclave-cli/build.sh in aws/aws-nitro-enclaves-sdk-c
#   bin/tessera-nsm-attest       the NSM helper: `--nonce HEX --user-data HEX` → the attestation
#                                document in base64 on stdout. Not shipped: a few lines of C over
#                                libnsm.so (nsm_lib_init, nsm_get_attestation_doc) or of Rust over
#                                aws-nitro-enclaves-nsm-api. Node cannot ioctl /dev/nsm itself.
#
# PCR0 covers every byte of the image: these inputs, the base image, the Debian packages. Rebuilding
# later gives another PCR0 unless all of them are pinned; record the PCRs of the EIF you ship.

ARG SERVER_IMAGE=tessera-server:local
FROM ${SERVER_IMAGE}

USER root
# socat: the vsock bridges. iproute2: the enclave boots with its loopback down. ca-certificates:
# kmstool verifies KMS's TLS certificate itself (the parent's vsock-proxy only relays bytes).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      socat iproute2 ca-certificates \
 && rm -rf /var/lib/apt/lists/*

COPY deploy/enclave/bin/kmstool_enclave_cli deploy/enclave/bin/tessera-nsm-attest /usr/local/bin/
COPY deploy/enclave/bin/libnsm.so /usr/local/lib/
RUN chmod 0755 /usr/local/bin/kmstool_enclave_cli /usr/local/bin/tessera-nsm-attest && ldconfig

COPY deploy/enclave/server.yaml deploy/enclave/jwks.json /etc/tessera/
# The only KMS key whose ciphertext the enclave will decrypt for its key-encryption key. Baked in
# (so measured): a parent that could choose the key could hand over a KEK it knows.
ARG KMS_KEY_ARN
RUN case "${KMS_KEY_ARN:-}" in \
      arn:aws*:kms:*:*:key/*) printf '%s\n' "$KMS_KEY_ARN" > /etc/tessera/kms-key-arn ;; \
      *) echo "build with --build-arg KMS_KEY_ARN=arn:aws:kms:REGION:ACCOUNT:key/ID" >&2; exit 1 ;; \
    esac \
 && chmod 0644 /etc/tessera/*

COPY --chmod=0755 deploy/enclave-entrypoint.sh /usr/local/bin/enclave-entrypoint.sh

# The entrypoint starts as root (to bring the loopback up and open /dev/nsm to the server) and
# runs socat and the server as `node`. No HEALTHCHECK: nothing inside an enclave reads one; the
# parent's proxy probes /v1/health through the bridge.
HEALTHCHECK NONE
ENTRYPOINT []
CMD ["/usr/local/bin/enclave-entrypoint.sh"]
