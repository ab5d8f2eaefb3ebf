/* sha256.h — SHA-256 (FIPS 180-4), for the input file's fingerprint in the edit history.
 *
 * Streaming: sha256_init, any number of sha256_update, sha256_final. sha256_file hashes a file
 * opened read-only, in 16 KiB reads, so a large input is never held twice in memory.
 */
#ifndef SHA256_H
#define SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_SIZE 32            /* digest bytes */
#define SHA256_HEX 65             /* hex digest + NUL */

typedef struct {
    uint32_t h[8];                /* chaining state */
    uint64_t len;                 /* message bytes so far */
    unsigned char buf[64];        /* the block being filled */
    size_t n;                     /* bytes in buf, 0..63 */
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
void sha256_final(sha256_ctx *c, unsigned char out[SHA256_SIZE]);

/* One call for a buffer. */
void sha256(const void *data, size_t n, unsigned char out[SHA256_SIZE]);
/* Lower-case hex of a digest. */
void sha256_hex(const unsigned char d[SHA256_SIZE], char hex[SHA256_HEX]);
/* The file at path; its size in *size (may be NULL). Returns 0, or -1 with a one-line reason
 * in err (err_size bytes). */
int sha256_file(const char *path, unsigned char out[SHA256_SIZE], long long *size, char *err, size_t err_size);

#endif
